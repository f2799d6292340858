"""The contracts of lltd/watch/safedir.py (issue 27), in-process, on real folders: the folders the
daemon writes into are reached one component at a time, made when missing (only when asked), and
a link, a file in the way or a name that is not one plain component is refused with
:class:`UnsafePath` (errno, reason and the whole path), while other errors pass unchanged.

Expected values are literals: a changed errno or reason must fail here."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lltd.fs.resolve import _openat2
from lltd.watch.safedir import UnsafePath, ensure_dirs, is_link_free, open_dir, opened_dir


def _same(fd: int, path: Path) -> bool:
    return os.fstat(fd).st_ino == os.stat(path).st_ino


def test_open_dir_makes_the_missing_folders_and_returns_the_deepest(tmp_path: Path) -> None:
    fd = open_dir(tmp_path, ["a", "b", "c"])
    try:
        assert _same(fd, tmp_path / "a" / "b" / "c")
    finally:
        os.close(fd)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a",
        "a/b",
        "a/b/c",
    ]


def test_open_dir_without_create_opens_only_what_exists(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    fd = open_dir(tmp_path, ("a", "b"), create=False)
    try:
        assert _same(fd, tmp_path / "a" / "b")
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError) as missing:
        open_dir(tmp_path, ("a", "new"), create=False)
    assert not isinstance(missing.value, UnsafePath)  # a missing folder is not a refusal
    assert not (tmp_path / "a" / "new").exists()


def test_open_dir_of_no_parts_is_the_root_itself(tmp_path: Path) -> None:
    fd = open_dir(tmp_path, [])
    try:
        assert _same(fd, tmp_path)
    finally:
        os.close(fd)


@pytest.mark.parametrize("bad", ["", ".", "..", "x/y"])
def test_a_component_that_is_not_one_plain_name_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        open_dir(tmp_path, ["a", bad])
    assert (refused.value.errno, refused.value.strerror) == (
        errno.EINVAL,
        "not a plain folder name",
    )
    assert refused.value.filename == str(tmp_path.joinpath("a", bad))
    assert list(tmp_path.iterdir()) == []  # refused before anything was made


@pytest.mark.parametrize("create", [True, False])
def test_a_link_on_the_way_is_refused_and_not_followed(tmp_path: Path, create: bool) -> None:
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").symlink_to(outside)
    with pytest.raises(UnsafePath) as refused:
        open_dir(root, ["a", "b"], create=create)
    # One component at a time (create), O_DIRECTORY|O_NOFOLLOW meets the link: ENOTDIR;
    # openat2 over the whole name (no create) says ELOOP, raised as resolve's Escape.
    expected = errno.ELOOP if not create and _openat2() is not None else errno.ENOTDIR
    assert (refused.value.errno, refused.value.strerror) == (
        expected,
        "a link or not a folder: refused",
    )
    assert refused.value.filename == f"{root}/a/b"
    assert list((outside / "b").iterdir()) == []


def test_a_file_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("not a folder", encoding="utf-8")
    with pytest.raises(UnsafePath) as refused:
        open_dir(tmp_path, ["a", "b"])
    assert (refused.value.errno, refused.value.strerror) == (
        errno.ENOTDIR,
        "a link or not a folder: refused",
    )
    assert refused.value.filename == f"{tmp_path}/a/b"


def test_opened_dir_makes_the_folder_and_closes_its_descriptor(tmp_path: Path) -> None:
    with opened_dir(tmp_path, ["x", "y"]) as fd:
        assert _same(fd, tmp_path / "x" / "y")
    with pytest.raises(OSError) as closed:
        os.fstat(fd)
    assert closed.value.errno == errno.EBADF


def test_opened_dir_without_create_makes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), opened_dir(tmp_path, ["x"], create=False):
        pass
    assert not (tmp_path / "x").exists()


def test_ensure_dirs_makes_a_relative_folder_and_refuses_a_link(tmp_path: Path) -> None:
    ensure_dirs(tmp_path, Path("out/sub"))
    assert (tmp_path / "out" / "sub").is_dir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePath):
        ensure_dirs(tmp_path, Path("out/link/deeper"))
    assert not (tmp_path / "deeper").exists()


def test_is_link_free_looks_at_every_component(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "l").symlink_to(tmp_path / "a" / "b")
    assert is_link_free(tmp_path, Path("a/b")) is True
    assert is_link_free(tmp_path, Path("a/b/missing/deeper")) is True  # nothing there is a link
    assert is_link_free(tmp_path, Path("a/l")) is False
    assert is_link_free(tmp_path, Path("a/l/c")) is False
    assert is_link_free(tmp_path / "a", Path("l")) is False
