"""lltd.fs.atomic in-process: the contract every writer relies on, fast enough for mutation runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lltd.fs import atomic
from lltd.fs.atomic import (
    TEMP_SUFFIX,
    atomic_output,
    copy_atomic,
    remove_stale_temporaries,
    write_atomic,
    write_bytes_atomic,
)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_the_temporary_is_a_dotfile_beside_the_destination_in_new_parent_folders(
    tmp_path: Path,
) -> None:
    destination = tmp_path / "a" / "b" / "out.webp"
    with atomic_output(destination) as target:
        assert target.destination == destination
        assert target.path.parent == destination.parent
        assert target.path.name.startswith(".out.webp.") and target.path.name.endswith(TEMP_SUFFIX)
        assert target.path.exists() and not destination.exists()
        target.path.write_bytes(b"whole")
    assert destination.read_bytes() == b"whole"
    assert os.listdir(destination.parent) == ["out.webp"]


def test_published_files_get_the_usual_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    size = write_bytes_atomic(tmp_path / "out.bin", b"12345")
    assert size == 5
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_discard_leaves_the_destination_as_it_was_and_no_temporary(tmp_path: Path) -> None:
    destination = tmp_path / "out.webp"
    destination.write_bytes(b"previous")
    with atomic_output(destination) as target:
        target.path.write_bytes(b"larger than the original")
        target.discard()
    assert destination.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.webp"]


def test_an_exception_publishes_nothing_and_removes_the_temporary(tmp_path: Path) -> None:
    destination = tmp_path / "out.webp"
    destination.write_bytes(b"previous")
    with pytest.raises(RuntimeError), atomic_output(destination) as target:
        target.path.write_bytes(b"half")
        raise RuntimeError("encoder crashed")
    assert destination.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.webp"]


def test_write_atomic_returns_the_bytes_written_and_copy_keeps_content_and_mtime(
    tmp_path: Path,
) -> None:
    assert write_atomic(tmp_path / "w", lambda handle: handle.write(b"abc" * 7)) == 21
    assert (tmp_path / "w").read_bytes() == b"abc" * 7
    source = tmp_path / "source"
    source.write_bytes(b"content")
    os.utime(source, (1_000_000_000, 1_000_000_000))
    copy_atomic(source, tmp_path / "sub" / "copy")
    assert (tmp_path / "sub" / "copy").read_bytes() == b"content"
    assert (tmp_path / "sub" / "copy").stat().st_mtime == 1_000_000_000


def test_remove_stale_temporaries_counts_only_lltds_dot_temporaries(tmp_path: Path) -> None:
    assert remove_stale_temporaries(tmp_path / "missing") == 0
    assert remove_stale_temporaries(tmp_path) == 0
    stale = [
        tmp_path / f".a.webp.x1{TEMP_SUFFIX}",
        tmp_path / "sub" / f".b.png.y2{TEMP_SUFFIX}",
        tmp_path / "sub" / "deeper" / f".c.png.z3{TEMP_SUFFIX}",
    ]
    kept = [tmp_path / "a.webp", tmp_path / f"visible{TEMP_SUFFIX}", tmp_path / ".hidden.png"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 3
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in kept)
    assert remove_stale_temporaries(tmp_path) == 0


def test_check_destination_names_what_it_refuses(tmp_path: Path) -> None:
    import socket

    from lltd.fs.atomic import UnsafeDestination, check_destination

    check_destination(tmp_path / "missing")  # nothing there: fine
    (tmp_path / "regular").write_bytes(b"x")
    check_destination(tmp_path / "regular")  # a regular file may be replaced
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "regular")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    try:
        cases = {
            "fifo": "a FIFO",
            "folder": "a folder",
            "link": "a symbolic link",
            "sock": "a socket",
            "/dev/null": "a character device",
        }
        for name, kind in cases.items():
            with pytest.raises(UnsafeDestination) as refused:
                check_destination(tmp_path / name)
            assert str(refused.value) == (
                f"refusing to write {tmp_path / name}: it exists and is {kind}"
            )
    finally:
        server.close()


def test_the_umask_is_read_from_proc_without_ever_setting_it(monkeypatch) -> None:
    """Setting the umask to read it would expose a transient 0 to compress's other threads (a file
    they create in that instant would be world-writable), so on Linux it is only read."""
    old = os.umask(0o027)
    try:

        def refuse(mask: int) -> int:
            raise AssertionError("os.umask called: the umask was set, not read")

        monkeypatch.setattr(os, "umask", refuse)
        assert atomic._umask.__wrapped__() == 0o027
    finally:
        monkeypatch.undo()
        os.umask(old)


def test_without_proc_the_umask_is_read_by_setting_and_restoring_it(
    tmp_path: Path, monkeypatch
) -> None:
    old = os.umask(0o027)
    try:
        monkeypatch.setattr(atomic, "Path", lambda _: tmp_path / "no /proc here")
        assert atomic._umask.__wrapped__() == 0o027
        assert os.umask(0o027) == 0o027  # left as it was
    finally:
        monkeypatch.undo()
        os.umask(old)
