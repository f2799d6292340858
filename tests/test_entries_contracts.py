"""lltd.fs.entries' contracts, in-process on real folders: the modes things are created with,
what each step answers, and that no step acts through a link it meets in the name it is given
(not even one put there between two of its system calls: an audit hook swaps the name at the
moment of the call)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lltd.fs import entries
from lltd.fs.identity import Version

#: Called with (event, args) for each audit event while a test sets it (see ``_on_event``).
_HOOK: list[Callable[[str, tuple], None]] = []


def _audit(event: str, args: tuple) -> None:
    if _HOOK:
        _HOOK[0](event, args)


sys.addaudithook(_audit)  # hooks cannot be removed: this one does nothing unless a test sets it


@pytest.fixture
def on_event() -> Iterator[Callable[[Callable[[str, tuple], None]], None]]:
    def install(hook: Callable[[str, tuple], None]) -> None:
        _HOOK.append(hook)

    yield install
    _HOOK.clear()


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[int]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def _mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o7777


def test_open_file_creates_with_os_opens_default_mode_0o777_less_the_umask(
    tmp_path: Path, folder: int, umask_022: None
) -> None:
    os.close(entries.open_file("new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, dir_fd=folder))
    os.close(entries.open_file("given", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=folder))
    assert (_mode(tmp_path / "new"), _mode(tmp_path / "given")) == (0o755, 0o600)


def test_make_dir_answers_true_when_it_made_the_folder_and_false_when_a_name_was_there(
    tmp_path: Path, folder: int, umask_022: None
) -> None:
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert entries.make_dir(folder, "state", 0o750) is True
    assert _mode(tmp_path / "state") == 0o750
    assert [entries.make_dir(folder, name, 0o700) for name in ("state", "file", "link")] == [
        False,
        False,
        False,
    ]
    assert not (tmp_path / "nowhere").exists()  # the dangling link was not made a folder


def test_touch_creates_a_missing_file_empty_with_mode_0o644_less_the_umask(
    tmp_path: Path, folder: int, umask_022: None
) -> None:
    entries.touch(folder, "alive")
    entries.touch(folder, "private", 0o600)
    assert (tmp_path / "alive").read_bytes() == b""
    assert (_mode(tmp_path / "alive"), _mode(tmp_path / "private")) == (0o644, 0o600)


def test_touch_sets_both_times_of_an_existing_file_to_now_and_keeps_its_bytes(
    tmp_path: Path, folder: int
) -> None:
    alive = tmp_path / "alive"
    alive.write_bytes(b"kept")
    os.utime(alive, ns=(1_000_000_000, 2_000_000_000))
    entries.touch(folder, "alive")
    st = os.stat(alive)
    assert st.st_atime_ns == st.st_mtime_ns  # one "now" for both, not the planted times
    assert st.st_mtime_ns not in (1_000_000_000, 2_000_000_000)
    assert alive.read_bytes() == b"kept"


def test_touch_never_opens_through_a_link_at_the_name(tmp_path: Path, folder: int) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"target")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / "alive").symlink_to(target)
    with pytest.raises(OSError) as caught:
        entries.touch(folder, "alive")
    assert caught.value.errno == errno.ELOOP
    assert os.stat(target).st_mtime_ns == 1_000_000_000
    assert (tmp_path / "alive").is_symlink()


def test_touch_never_sets_times_through_a_link_put_at_the_name_after_it_opened(
    tmp_path: Path, folder: int, on_event: Callable[[Callable[[str, tuple], None]], None]
) -> None:
    """The name becomes a link between touch's open and its utime: the link's own times change,
    never the times of the file it points at."""
    target = tmp_path / "target"
    target.write_bytes(b"target")
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    swapped: list[str] = []

    def swap(event: str, args: tuple) -> None:
        if event == "os.utime" and args[0] == "alive" and not swapped:
            swapped.append("alive")
            os.unlink(tmp_path / "alive")
            os.symlink(target, tmp_path / "alive")

    on_event(swap)
    entries.touch(folder, "alive")
    assert swapped == ["alive"]
    assert os.stat(target).st_mtime_ns == 1_000_000_000
    assert (tmp_path / "alive").is_symlink()


def test_move_keeps_the_name_by_default_and_renames_when_given_one(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "done").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"a")
    (tmp_path / "in" / "b.png").write_bytes(b"b")
    src = os.open(tmp_path / "in", os.O_RDONLY | os.O_DIRECTORY)
    dst = os.open(tmp_path / "done", os.O_RDONLY | os.O_DIRECTORY)
    try:
        entries.move(src, "a.png", dst)
        entries.move(src, "b.png", dst, "b.1.png")
    finally:
        os.close(src)
        os.close(dst)
    assert os.listdir(tmp_path / "in") == []
    assert sorted(os.listdir(tmp_path / "done")) == ["a.png", "b.1.png"]
    assert (tmp_path / "done" / "b.1.png").read_bytes() == b"b"


def test_move_verified_puts_back_a_link_to_the_expected_file_swapped_in_for_it(
    tmp_path: Path,
) -> None:
    """A link that points at the very file decided on is still not that file: "changed", and the
    link goes back to its name; nothing arrives in the destination."""
    (tmp_path / "in").mkdir()
    (tmp_path / "done").mkdir()
    upload = tmp_path / "upload.png"
    upload.write_bytes(b"upload")
    expected = Version.of(os.lstat(upload))
    (tmp_path / "in" / "a.png").symlink_to(upload)
    src = os.open(tmp_path / "in", os.O_RDONLY | os.O_DIRECTORY)
    dst = os.open(tmp_path / "done", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert entries.move_verified(src, "a.png", dst, "a.png", expected) == "changed"
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / "in" / "a.png").is_symlink()
    assert os.listdir(tmp_path / "done") == []


def test_link_new_gives_the_node_itself_a_second_name_never_what_a_link_points_at(
    tmp_path: Path, folder: int
) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"target")
    (tmp_path / "temp").symlink_to(target)
    assert entries.link_new(folder, "temp", "name") is True
    assert (tmp_path / "name").is_symlink()
    assert os.lstat(tmp_path / "name").st_ino == os.lstat(tmp_path / "temp").st_ino
    assert os.stat(target).st_nlink == 1


def test_remove_empty_dirs_removes_nested_empty_folders_deepest_first_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "k" / "empty").mkdir(parents=True)
    (root / "k" / "file").write_bytes(b"")
    (outside / "empty").mkdir(parents=True)
    (root / "link").symlink_to(outside)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        entries.remove_empty_dirs(fd)
    finally:
        os.close(fd)
    assert sorted(os.listdir(root)) == ["k", "link"]
    assert os.listdir(root / "k") == ["file"]
    assert os.listdir(outside) == ["empty"]  # a link to a folder is not walked into


def test_remove_named_takes_a_name_that_is_exactly_prefix_then_suffix(tmp_path: Path) -> None:
    for name in (".s.json..lltd-tmp", ".s.json.lltd-tmp", ".s.json.7.lltd-tmp", "s.json.lltd-tmp"):
        (tmp_path / name).write_bytes(b"")
    entries.remove_named(tmp_path, ".s.json.", ".lltd-tmp")
    # ".s.json.lltd-tmp" is shorter than the two together: its prefix and suffix overlap.
    assert sorted(os.listdir(tmp_path)) == [".s.json.lltd-tmp", "s.json.lltd-tmp"]


def test_exists_is_true_for_a_file_and_for_a_dangling_link_and_false_for_nothing(
    tmp_path: Path, folder: int
) -> None:
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert [entries.exists(folder, name) for name in ("file", "dangling", "nowhere")] == [
        True,
        True,
        False,
    ]
