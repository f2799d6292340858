"""The shared folder's name markers (``lltd.watch.names``, issue 27), in-process on real files: a
marker store is complete (an unrecorded output is someone else's), a marker is published whole
with mode 0644 less the umask, read up to 64 KiB, never through a link (nor its temporary); a
marker gone after a lost race is held by no one. (Close-on-exec needs no test: ``os.open``
makes every descriptor non-inheritable, PEP 446.)"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from lltd.batch.marks import Mark
from lltd.batch.plan import OutputTree, PlanNames, Planner
from lltd.codecs import EncodeOptions
from lltd.jobs.compress import CompressJob
from lltd.watch import names as names_module
from lltd.watch.names import FileNames

JOB = CompressJob(output_dir=Path("/out"), options=EncodeOptions(quality=60), force=True)


def store(tmp_path: Path) -> FileNames:
    (tmp_path / "in" / ".lltd").mkdir(parents=True)
    return FileNames(tmp_path / "in", tmp_path / "in" / ".lltd")


def marker(tmp_path: Path, name: str) -> Path:
    return tmp_path / "in" / ".lltd" / "names" / name


def current_umask() -> int:
    mask = os.umask(0o022)  # this process only, put back at once
    os.umask(mask)
    return mask


def test_an_unrecorded_file_is_never_taken_as_a_leftover_where_the_markers_hold_the_names(
    tmp_path: Path,
) -> None:
    """In an output folder of our own beside IN, an unrecorded ``b.webp`` would be a batch run's
    leftover (a plan's own record is not complete), but every name a shared daemon gave has its
    marker: there it is someone else's file."""
    on_disk: dict[str, Mark | None] = {"b.webp": None}
    tree = OutputTree(
        exists=on_disk.__contains__,
        mark=on_disk.get,
        input_mark=lambda name: None,
        as_input=lambda name: None,
        same_source=lambda mark, name: True,
    )
    assert Planner(JOB, tree, names=PlanNames()).assign("b.png") == "b.webp"
    assert Planner(JOB, tree, names=store(tmp_path)).assign("b.png") == "b.png.webp"
    assert marker(tmp_path, "b.png.webp").read_bytes() == b"b.png"


def test_a_marker_is_published_whole_with_mode_0644_less_the_umask_and_no_temporary_left(
    tmp_path: Path,
) -> None:
    names = store(tmp_path)
    assert names.claim("sub/a.webp", "sub/a.png") == "sub/a.png"
    made = marker(tmp_path, "sub/a.webp")
    assert made.read_bytes() == b"sub/a.png"
    assert made.stat().st_mode & 0o7777 == 0o644 & ~current_umask()
    assert made.stat().st_nlink == 1  # the temporary it was linked from is gone
    assert sorted(os.listdir(made.parent)) == ["a.webp"]
    assert names.holder("sub/a.webp") == "sub/a.png"
    assert names.claim("sub/a.webp", "sub/a.jpg") == "sub/a.png"  # held: the later claim loses


def test_a_link_planted_at_a_markers_name_is_never_followed(tmp_path: Path) -> None:
    names = store(tmp_path)
    (tmp_path / "elsewhere").write_bytes(b"x.png")
    marker(tmp_path, "").mkdir()
    marker(tmp_path, "a.webp").symlink_to(tmp_path / "elsewhere")
    for attempt in (lambda: names.holder("a.webp"), lambda: names.claim("a.webp", "a.png")):
        with pytest.raises(OSError) as raised:
            attempt()
        assert raised.value.errno == errno.ELOOP
    assert (tmp_path / "elsewhere").read_bytes() == b"x.png"
    assert sorted(os.listdir(marker(tmp_path, ""))) == ["a.webp"]


def test_a_link_planted_at_the_temporarys_name_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone who guessed the temporary's name links it to a file of theirs just before the
    create: the create fails, and nothing is written through the link."""
    names = store(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"theirs")
    real = names_module.open_file

    def plant_then_open(name: str, flags: int, mode: int = 0o777, *, dir_fd: int) -> int:
        if flags & os.O_CREAT:
            os.symlink(victim, name, dir_fd=dir_fd)
        return real(name, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(names_module, "open_file", plant_then_open)
    with pytest.raises(FileExistsError):
        names.claim("a.webp", "a.png")
    assert victim.read_bytes() == b"theirs"
    assert not marker(tmp_path, "a.webp").exists()


def test_a_marker_is_read_up_to_64_KiB_and_no_further(tmp_path: Path) -> None:
    """A name is far shorter; a huge file planted there must not fill the daemon's memory."""
    names = store(tmp_path)
    marker(tmp_path, "").mkdir()
    marker(tmp_path, "a.webp").write_bytes(b"n" * 65536 + b"XYZ")
    assert names.holder("a.webp") == "n" * 65536
    assert names.claim("a.webp", "a.png") == "n" * 65536


def test_a_marker_gone_between_the_lost_race_and_the_read_is_held_by_no_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim answers the empty name, which no input has, so the planner moves on."""
    names = store(tmp_path)
    names.claim("a.webp", "a.jpg")
    real: Callable[[int, str, str], bool] = names_module.link_new

    def lose_then_vanish(dir_fd: int, temp: str, name: str) -> bool:
        made = real(dir_fd, temp, name)
        os.unlink(name, dir_fd=dir_fd)  # removed by someone else before our read
        return made

    monkeypatch.setattr(names_module, "link_new", lose_then_vanish)
    assert names.claim("a.webp", "a.png") == ""
    assert names.holder("a.webp") is None
