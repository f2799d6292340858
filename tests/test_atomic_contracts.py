"""The atomic-write helpers' contracts (lltd.fs.atomic), in-process: refusals before anything is
written, no descriptor left open, durability that never blocks nor follows a link, and stale
temporaries cleared only when they are regular files of lltd's name and old enough."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lltd.fs.atomic import (
    atomic_output,
    copy_atomic,
    copy_extents,
    make_durable,
    remove_stale_temporaries,
)
from lltd.fs.destination import TEMP_SUFFIX, UnsafeDestination


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_destination_naming_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UnsafeDestination) as raised, atomic_output(Path("/")):
        pass  # a path whose last part is no name ("/", "."): the folder itself
    assert str(raised.value) == "refusing to write /: it is a folder"
    (tmp_path / "sub").mkdir()
    with pytest.raises(UnsafeDestination) as raised, atomic_output(tmp_path / "sub"):
        pass
    assert str(raised.value) == f"refusing to write {tmp_path / 'sub'}: it exists and is a folder"


def test_a_fifo_at_the_destination_is_refused_before_the_writer_runs(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "out.png")
    entered = False
    with pytest.raises(UnsafeDestination) as raised, atomic_output(tmp_path / "out.png"):
        entered = True
    assert not entered
    assert str(raised.value) == f"refusing to write {tmp_path / 'out.png'}: it exists and is a FIFO"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temporary left


def test_writing_by_path_leaves_no_descriptor_open(tmp_path: Path) -> None:
    before = _open_fds()
    with atomic_output(tmp_path / "a.bin") as target:
        target.write(b"data")
    (tmp_path / "sub").mkdir()
    with pytest.raises(UnsafeDestination), atomic_output(tmp_path / "sub"):
        pass
    assert _open_fds() == before
    assert (tmp_path / "a.bin").read_bytes() == b"data"


def test_make_durable_returns_quietly_for_a_file_a_fifo_a_link_and_nothing(tmp_path: Path) -> None:
    """A FIFO must not block it (a writer that never comes), nor anything raise: the name may
    have been swapped since it was written."""
    (tmp_path / "file").write_bytes(b"x")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "fifo")
    before = _open_fds()
    for name in ("file", "fifo", "link", "missing"):
        assert make_durable(tmp_path / name) is None
    assert _open_fds() == before
    assert (tmp_path / "file").read_bytes() == b"x"


def _temp(folder: Path, stem: str) -> Path:
    return folder / f".{stem}{TEMP_SUFFIX}"


def test_stale_temporaries_are_regular_files_of_our_name_only(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    ours = [_temp(tmp_path, "a"), _temp(tmp_path / "sub", "b")]
    for path in ours:
        path.write_bytes(b"partial")
    keep = tmp_path / "photo.png"
    keep.write_bytes(b"kept")
    fifo = _temp(tmp_path, "fifo")
    os.mkfifo(fifo)
    link = _temp(tmp_path, "link")
    link.symlink_to(keep)
    not_dot = tmp_path / f"c{TEMP_SUFFIX}"
    not_dot.write_bytes(b"kept")
    assert remove_stale_temporaries(tmp_path) == 2
    assert not any(path.exists() for path in ours)
    assert keep.read_bytes() == b"kept" and not_dot.exists()
    assert fifo.exists() and link.is_symlink()


def test_only_temporaries_modified_before_the_time_given_are_removed(tmp_path: Path) -> None:
    old, now = _temp(tmp_path, "old"), _temp(tmp_path, "now")
    for path, when in ((old, 1000), (now, 2000)):
        path.write_bytes(b"x")
        os.utime(path, (when, when))
    assert remove_stale_temporaries(tmp_path, older_than=2000) == 1  # 2000 is not before 2000
    assert not old.exists() and now.exists()


def test_a_missing_folder_has_no_temporaries(tmp_path: Path) -> None:
    assert remove_stale_temporaries(tmp_path / "gone") == 0


def test_a_copy_replaces_a_regular_file_at_the_destination_unless_told(tmp_path: Path) -> None:
    source, destination = tmp_path / "a.png", tmp_path / "b.png"
    source.write_bytes(b"new")
    destination.write_bytes(b"old")
    copy_atomic(source, destination)
    assert destination.read_bytes() == b"new"
    destination.write_bytes(b"old")
    with pytest.raises(UnsafeDestination):
        copy_atomic(source, destination, replaces=False)
    assert destination.read_bytes() == b"old"


def _sparse(path: Path, extents: dict[int, bytes], size: int) -> Path:
    with open(path, "wb") as file:
        file.truncate(size)
        for offset, data in extents.items():
            file.seek(offset)
            file.write(data)
    return path


def test_an_extent_copy_keeps_every_hole_a_hole_wherever_it_lies(tmp_path: Path) -> None:
    mib = 1 << 20
    source = _sparse(tmp_path / "s", {0: b"a" * 4096, 2 * mib: b"b" * 4096, 5 * mib: b"c"}, 6 * mib)
    target = tmp_path / "t"
    with open(source, "rb") as src, open(target, "wb") as dst:
        copy_extents(src.fileno(), dst.fileno(), source.stat().st_size)
    assert target.read_bytes() == source.read_bytes()
    assert target.stat().st_blocks * 512 <= 3 * 4096 + 64 * 1024  # the data, not the holes


def test_an_extent_copy_stops_at_size_even_when_data_lies_beyond(tmp_path: Path) -> None:
    """The size read by fstat is what is copied: data written past it since (a growing
    upload) is not, and a leading hole before it stays a hole of that size."""
    source = _sparse(tmp_path / "s", {1 << 20: b"late"}, (1 << 20) + 4)
    target = tmp_path / "t"
    with open(source, "rb") as src, open(target, "wb") as dst:
        copy_extents(src.fileno(), dst.fileno(), 4096)
    assert target.read_bytes() == b"\0" * 4096


def test_an_output_under_a_file_is_refused_as_not_a_folder_naming_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "FILE").write_bytes(b"a file, not a folder")
    with pytest.raises(NotADirectoryError) as refused, atomic_output(tmp_path / "FILE" / "x.webp"):
        pass
    assert refused.value.errno == errno.ENOTDIR
    assert refused.value.filename == str(tmp_path / "FILE")
    assert (tmp_path / "FILE").read_bytes() == b"a file, not a folder"
