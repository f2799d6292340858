"""lltd.fs.resolve's contracts, with both openers (openat2, and the per-component walk it falls
back to): a name of any depth opens that file; no link is followed in any component; the errors
name the name; created files get the mode asked; no descriptor is leaked or closed; a mount
inside the tree is crossed; ENOSYS falls back to the walk for good; renameat2's flags."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, guarded_pythonpath
from test_fs_layer import opener  # noqa: F401 (the fixture: each test runs under both openers)

from lltd.fs import resolve
from lltd.fs.resolve import (
    DIR_FLAGS,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    Escape,
    open_beneath,
    renameat2,
    split,
    walk_open,
)

DEPTHS = ["a.png", "d1/a.png", "d1/d2/a.png", "d1/d2/d3/a.png"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Each level holds a.png whose bytes name its own path, so a wrong component shows."""
    for name in DEPTHS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def _read(fd: int) -> str:
    try:
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", DEPTHS)
@pytest.mark.usefixtures("opener")
def test_a_name_of_any_depth_opens_that_file_and_leaks_no_descriptor(tree: Path, name: str) -> None:
    root = os.open(tree, DIR_FLAGS)
    try:
        before = _fds()
        assert _read(open_beneath(root, name, os.O_RDONLY)) == name
        assert _read(walk_open(root, name, os.O_RDONLY)) == name
        assert _fds() == before
        assert os.fstat(root)  # the caller's folder is still open
    finally:
        os.close(root)


@pytest.mark.parametrize("name", ["", ".", "./", ".//."])
@pytest.mark.usefixtures("opener")
def test_an_empty_name_or_dot_opens_the_folder_itself(tree: Path, name: str) -> None:
    root = os.open(tree, DIR_FLAGS)
    try:
        for function in (open_beneath, walk_open):
            fd = function(root, name, DIR_FLAGS)
            try:
                assert os.path.samestat(os.fstat(fd), os.fstat(root))
                assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
            finally:
                os.close(fd)
    finally:
        os.close(root)


@pytest.mark.usefixtures("opener")
def test_every_descriptor_is_close_on_exec(tree: Path) -> None:
    root = os.open(tree, DIR_FLAGS)
    try:
        for name in DEPTHS:
            for function in (open_beneath, walk_open):
                fd = function(root, name, os.O_RDONLY)
                try:
                    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, name
                finally:
                    os.close(fd)
    finally:
        os.close(root)


def test_split_drops_empty_and_dot_components_and_refuses_escapes() -> None:
    assert split("a//./b/") == ["a", "b"]
    assert split("") == split(".") == split("./") == []
    for name in ("/a", "..", "a/../b", "a/.."):
        with pytest.raises(Escape) as refused:
            split(name)
        assert refused.value.errno == errno.EXDEV
        assert str(refused.value) == f"[Errno {errno.EXDEV}] leaves its folder: {name!r}"


@pytest.mark.parametrize(
    ("link", "target", "name"),
    [
        ("lnk.png", "a.png", "lnk.png"),
        ("lnk", "d1", "lnk/a.png"),
        ("d1/lnk", "d1/d2", "d1/lnk/a.png"),
        ("d1/lnk.png", "a.png", "d1/lnk.png"),
        ("d1/d2/lnk.png", "d1/a.png", "d1/d2/lnk.png"),
    ],
)
@pytest.mark.usefixtures("opener")
def test_a_link_in_any_component_is_refused_naming_the_name(
    tree: Path, link: str, target: str, name: str
) -> None:
    (tree / link).symlink_to(tree / target)
    root = os.open(tree, DIR_FLAGS)
    try:
        before = _fds()
        for function in (open_beneath, walk_open):
            with pytest.raises(OSError) as refused:
                os.close(function(root, name, os.O_RDONLY))
            # ENOTDIR: O_DIRECTORY | O_NOFOLLOW on a link to a folder, in the walk.
            assert refused.value.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR)
            if refused.value.errno != errno.ENOTDIR:
                assert isinstance(refused.value, Escape)
                assert refused.value.strerror == "a symbolic link or outside its folder"
            assert refused.value.filename == name
        assert _fds() == before
    finally:
        os.close(root)


@pytest.mark.usefixtures("opener")
def test_a_middle_component_that_is_a_file_is_not_a_folder(tree: Path) -> None:
    root = os.open(tree, DIR_FLAGS)
    try:
        for function in (open_beneath, walk_open):
            with pytest.raises(NotADirectoryError) as refused:
                function(root, "a.png/x", os.O_RDONLY)
            assert refused.value.filename == "a.png/x"
            with pytest.raises(NotADirectoryError):
                function(root, "a.png", DIR_FLAGS)
    finally:
        os.close(root)


@pytest.mark.parametrize("name", ["missing.png", "d1/missing.png", "d1/no/a.png"])
@pytest.mark.usefixtures("opener")
def test_other_errors_keep_their_errno_and_name_the_name(tree: Path, name: str) -> None:
    root = os.open(tree, DIR_FLAGS)
    try:
        before = _fds()
        for function in (open_beneath, walk_open):
            with pytest.raises(FileNotFoundError) as refused:
                function(root, name, os.O_RDONLY)
            assert not isinstance(refused.value, Escape)
            assert refused.value.filename == name
        assert _fds() == before
    finally:
        os.close(root)


@pytest.mark.parametrize("name", ["new.bin", "d1/new.bin", "d1/d2/new.bin"])
@pytest.mark.usefixtures("opener")
def test_a_created_file_gets_0600_unless_another_mode_is_asked(tree: Path, name: str) -> None:
    root = os.open(tree, DIR_FLAGS)
    old = os.umask(0o022)
    try:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
        os.close(open_beneath(root, name, flags))
        assert (tree / name).stat().st_mode & 0o777 == 0o600
        os.close(open_beneath(root, name + "2", flags, 0o640))
        assert (tree / (name + "2")).stat().st_mode & 0o777 == 0o640
        os.close(walk_open(root, name + "3", flags))
        assert (tree / (name + "3")).stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
        os.close(root)


def test_this_kernel_resolves_with_openat2() -> None:
    # The generic syscall table's openat2 (437, Linux 5.6); the kernels lltd is tested on have it.
    release = tuple(int(p) for p in os.uname().release.split(".")[:2])
    if os.uname().machine != "x86_64" or release < (5, 6):
        pytest.skip("openat2 needs Linux 5.6 on x86_64 here")
    before = _fds()
    assert resolve.openat2_available() is True
    assert resolve.openat2_available() is True  # and it leaves no descriptor behind
    assert _fds() == before


def test_without_openat2_the_walk_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLTD_FS_NO_OPENAT2", "1")
    resolve._openat2.cache_clear()
    try:
        assert resolve._openat2() is None
        assert resolve.openat2_available() is False
    finally:
        monkeypatch.delenv("LLTD_FS_NO_OPENAT2")
        resolve._openat2.cache_clear()


def test_openat2_enosys_falls_back_to_the_walk_for_good(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def no_syscall(dir_fd: int, relative: str, flags: int, mode: int) -> int:
        calls.append(relative)
        raise OSError(errno.ENOSYS, "seccomp says no", relative)

    monkeypatch.setattr(resolve, "_disabled", False)
    resolve._openat2.cache_clear()
    monkeypatch.setattr(resolve, "_openat2", _cached(no_syscall))
    root = os.open(tree, DIR_FLAGS)
    try:
        assert _read(open_beneath(root, "d1/d2/a.png", os.O_RDONLY)) == "d1/d2/a.png"
        assert calls == ["d1/d2/a.png"]
        assert resolve._disabled is True
    finally:
        os.close(root)
    monkeypatch.undo()
    resolve._openat2.cache_clear()


def test_openat2_errors_other_than_enosys_are_the_answer(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuses(dir_fd: int, relative: str, flags: int, mode: int) -> int:
        raise OSError(errno.EXDEV, "escape", relative)

    monkeypatch.setattr(resolve, "_disabled", False)
    monkeypatch.setattr(resolve, "_openat2", _cached(refuses))
    root = os.open(tree, DIR_FLAGS)
    try:
        with pytest.raises(Escape):
            open_beneath(root, "d1/a.png", os.O_RDONLY)
        assert resolve._disabled is False
    finally:
        os.close(root)


def _cached(function):  # type: ignore[no-untyped-def]
    """A stand-in for ``_openat2`` with its cache_clear, returning ``function``."""

    def factory():  # type: ignore[no-untyped-def]
        return function

    factory.cache_clear = lambda: None  # type: ignore[attr-defined]
    return factory


def test_renameat2_noreplace_refuses_an_existing_name_and_exchange_swaps(tmp_path: Path) -> None:
    assert (RENAME_NOREPLACE, RENAME_EXCHANGE) == (1, 2)  # linux/fs.h
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    folder = os.open(tmp_path, DIR_FLAGS)
    try:
        with pytest.raises(FileExistsError) as refused:
            renameat2(folder, "a", folder, "b", RENAME_NOREPLACE)
        assert refused.value.filename == "b"
        renameat2(folder, "a", folder, "b", RENAME_EXCHANGE)
        assert (tmp_path / "a").read_text() == "b" and (tmp_path / "b").read_text() == "a"
        renameat2(folder, "a", folder, "c", RENAME_NOREPLACE)
        assert not (tmp_path / "a").exists() and (tmp_path / "c").read_text() == "b"
    finally:
        os.close(folder)


def test_renameat2_without_libc_support_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve, "_libc_renameat2", lambda: None)
    with pytest.raises(OSError) as refused:
        renameat2(0, "a", 0, "b", RENAME_NOREPLACE)
    assert refused.value.errno == errno.ENOSYS
    assert str(refused.value) == f"[Errno {errno.ENOSYS}] renameat2 is not available: 'b'"


MOUNTED = """
import os, sys
from lltd.fs import resolve
if sys.argv[2] == "walk":
    resolve._openat2 = lambda: None
elif not resolve.openat2_available():
    print("skip"); sys.exit(0)
root = os.open(sys.argv[1], resolve.DIR_FLAGS)
for name in ("mnt/x.png", "mnt/sub/y.png"):
    fd = resolve.open_beneath(root, name, os.O_RDONLY)
    print(os.read(fd, 10).decode())
"""


@pytest.mark.parametrize("way", ["openat2", "walk"])
def test_a_mount_inside_the_tree_is_crossed(tmp_path: Path, way: str) -> None:
    """In a private mount namespace (``unshare -m``): nothing changes for the machine."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to bind-mount in a private mount namespace")
    other, tree = tmp_path / "other", tmp_path / "tree"
    (other / "sub").mkdir(parents=True)
    (other / "x.png").write_text("x")
    (other / "sub" / "y.png").write_text("y")
    (tree / "mnt").mkdir(parents=True)
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" "$2" && exec "$3" -c "$4" "$5" "$6"', "sh",
         str(other), str(tree / "mnt"), sys.executable, MOUNTED, str(tree), way],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": guarded_pythonpath(REPO)},
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "skip":
        pytest.skip("this kernel has no openat2")
    assert done.stdout.split() == ["x", "y"]
