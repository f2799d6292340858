"""The folder lock's contracts (issue 27), in-process on real files: where it is made and with
which mode, what it holds (this process's pid, nothing for --shared), the refusals word for
word, a planted link never followed, release idempotent."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.watch.lock import FolderLock

HINT = " (several daemons on one folder: --shared, for all)"


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Modes as the lock asks for them (this process only; put back after the test)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def refusal(lock: FolderLock) -> str:
    with pytest.raises(UsageError) as raised:
        lock.acquire()
    return str(raised.value)


def test_the_lock_is_made_at_its_path_with_mode_0644_holding_our_pid(
    tmp_path: Path, no_umask: None
) -> None:
    lock = FolderLock(tmp_path / "lock", tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
        assert (tmp_path / "lock").stat().st_mode & 0o777 == 0o644
    finally:
        lock.release()


def test_the_lock_replaces_a_longer_pid_left_by_a_dead_daemon(tmp_path: Path) -> None:
    (tmp_path / "lock").write_text("123456789012\n")
    lock = FolderLock(tmp_path / "lock", tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / "lock").read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_the_lock_is_made_in_the_opened_state_folder_even_if_its_name_now_leads_elsewhere(
    tmp_path: Path, no_umask: None
) -> None:
    state, elsewhere = tmp_path / "in" / ".lltd", tmp_path / "elsewhere"
    state.mkdir(parents=True)
    elsewhere.mkdir()
    fd = os.open(state, os.O_RDONLY | os.O_DIRECTORY)
    try:
        state.rename(tmp_path / "in" / "moved")  # a writer of IN swaps a link in for .lltd
        state.symlink_to(elsewhere)
        lock = FolderLock(state / "lock", tmp_path / "in", dir_fd=fd)
        lock.acquire()
        assert sorted(os.listdir(elsewhere)) == []
        made = tmp_path / "in" / "moved" / "lock"
        assert made.read_text() == f"{os.getpid()}\n"
        assert made.stat().st_mode & 0o777 == 0o644
        second = FolderLock(state / "lock", tmp_path / "in", dir_fd=fd)
        assert refusal(second) == (
            f"another lltd watch is already running on {tmp_path / 'in'} (pid {os.getpid()}); "
            f"it holds {state / 'lock'}{HINT}"
        )
        lock.release()
        assert made.read_bytes() == b""
    finally:
        os.close(fd)


def test_the_lock_descriptor_is_not_inherited_by_workers(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "lock", tmp_path)
    lock.acquire()
    try:
        # The only descriptor open on the lock file is ours: find it and read its flags.
        fds = [
            int(fd)
            for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}") == os.path.realpath(tmp_path / "lock")
        ]
        assert len(fds) == 1
        assert fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    finally:
        lock.release()


def test_a_link_planted_as_the_lock_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (tmp_path / "lock").symlink_to(target)
    lock = FolderLock(tmp_path / "lock", tmp_path)
    assert refusal(lock) == (
        f"cannot create the lock {tmp_path / 'lock'}: Too many levels of symbolic links"
    )
    assert target.read_text() == "keep me\n"


def test_an_exclusive_holder_is_named_with_its_pid_and_the_shared_hint(tmp_path: Path) -> None:
    first = FolderLock(tmp_path / "lock", tmp_path)
    first.acquire()
    try:
        assert refusal(FolderLock(tmp_path / "lock", tmp_path)) == (
            f"another lltd watch is already running on {tmp_path} (pid {os.getpid()}); "
            f"it holds {tmp_path / 'lock'}{HINT}"
        )
        assert refusal(FolderLock(tmp_path / "lock", tmp_path, shared=True)) == (
            f"another lltd watch is already running without --shared on {tmp_path} "
            f"(pid {os.getpid()}); it holds {tmp_path / 'lock'}"
        )
    finally:
        first.release()


def test_shared_holders_lock_together_write_no_pid_and_exclude_a_daemon_without_shared(
    tmp_path: Path,
) -> None:
    one = FolderLock(tmp_path / "lock", tmp_path, shared=True)
    two = FolderLock(tmp_path / "lock", tmp_path, shared=True)
    one.acquire()
    two.acquire()
    try:
        assert (tmp_path / "lock").read_bytes() == b""
        # No pid to name: the message says who holds the lock without one.
        assert refusal(FolderLock(tmp_path / "lock", tmp_path)) == (
            f"another lltd watch is already running on {tmp_path}; "
            f"it holds {tmp_path / 'lock'}{HINT}"
        )
    finally:
        one.release()
        two.release()
    alone = FolderLock(tmp_path / "lock", tmp_path)
    alone.acquire()  # both shared holders gone: the lock is free
    alone.release()


def test_a_shared_holder_clears_the_pid_of_a_dead_daemon_so_no_refusal_names_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "lock").write_text("4242\n")  # an exclusive daemon killed by SIGKILL
    shared = FolderLock(tmp_path / "lock", tmp_path, shared=True)
    shared.acquire()
    try:
        assert (tmp_path / "lock").read_bytes() == b""
        assert refusal(FolderLock(tmp_path / "lock", tmp_path)) == (
            f"another lltd watch is already running on {tmp_path}; "
            f"it holds {tmp_path / 'lock'}{HINT}"
        )
    finally:
        shared.release()


def test_release_empties_the_lock_and_is_harmless_twice_or_before_acquire(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path / "lock", tmp_path)
    lock.release()  # never acquired: nothing to do
    lock.acquire()
    lock.release()
    assert (tmp_path / "lock").read_bytes() == b""  # no stale pid for the next reader
    lock.release()
    again = FolderLock(tmp_path / "lock", tmp_path)
    again.acquire()
    again.release()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"\xff\xfe\n", ""),  # not UTF-8: no pid, and no error about it
        (b"pid 12\n", ""),
        (b"1" * 40 + b"\n", " (pid " + "1" * 32 + ")"),  # only the first 32 bytes are read
    ],
)
def test_a_holder_is_named_only_by_a_pid_of_digits(
    tmp_path: Path, content: bytes, named: str
) -> None:
    first = FolderLock(tmp_path / "lock", tmp_path)
    first.acquire()
    try:
        (tmp_path / "lock").write_bytes(content)  # flock is advisory: the bytes can change
        assert refusal(FolderLock(tmp_path / "lock", tmp_path)) == (
            f"another lltd watch is already running on {tmp_path}{named}; "
            f"it holds {tmp_path / 'lock'}{HINT}"
        )
    finally:
        first.release()
