"""The daemon's drop folders in-process: opening, locking, naming and start-up recovery.

Fast enough to run once per mutant of lltd/watch/folders.py (the daemon tests start a process per
case). What a crash leaves is planted by hand: temporaries of lltd and look-alikes that are not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.fs.identity import Version
from lltd.watch.config import FolderConfig
from lltd.watch.folders import (
    SHARED_TEMP_AGE,
    STATE_DIR,
    Folder,
    open_folder,
    recover,
    remove_stale_status,
)


@pytest.fixture
def drop(tmp_path: Path):
    """An open drop folder IN -> OUT (defend, move mode), closed after the test."""
    opened: list[Folder] = []

    def make(*, shared: bool = False, **config: object) -> Folder:
        (tmp_path / "in").mkdir(exist_ok=True)
        fc = FolderConfig(input=tmp_path / "in", output=tmp_path / "out", **config)
        folder = open_folder(0, fc, shared=shared, claim_timeout=30.0)
        opened.append(folder)
        return folder

    yield make
    for folder in opened:
        folder.close()


def plant(path: Path, age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_recovery_removes_every_lltd_temporary_in_out_and_the_state_folder_and_nothing_else(
    drop,
) -> None:
    folder = drop()
    stale = [
        plant(folder.output / ".a.png.x1y2.lltd-tmp"),
        plant(folder.output / "deep" / "er" / ".b.webp.abc.lltd-tmp"),
        plant(folder.state_dir / ".journal.sqlite.q.lltd-tmp"),
    ]
    kept = [
        plant(folder.output / "a.png"),
        plant(folder.output / "c.lltd-tmp"),  # not a dotfile: not one of ours
        plant(folder.output / ".hidden.png"),
        plant(folder.output / ".d.png.lltd-tmp.bak"),
        plant(folder.root / ".in-input.png.z.lltd-tmp"),  # IN itself is the user's
    ]
    assert recover(folder) == 3
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert recover(folder) == 0


def test_a_shared_folder_recovers_only_temporaries_older_than_any_live_writer(drop) -> None:
    folder = drop(shared=True)
    assert folder.claims is not None
    old = plant(folder.output / ".old.png.1.lltd-tmp", age=SHARED_TEMP_AGE + 120)
    older = plant(folder.output / "sub" / ".o.png.9.lltd-tmp", age=3 * SHARED_TEMP_AGE)
    old_state = plant(folder.state_dir / "x" / ".s.json.1.lltd-tmp", age=SHARED_TEMP_AGE + 120)
    # Another daemon's write in progress (or one a little younger than the limit) is left.
    live = plant(folder.output / ".live.png.2.lltd-tmp")
    young = plant(folder.output / ".young.png.3.lltd-tmp", age=SHARED_TEMP_AGE - 120)
    lookalike = plant(folder.output / "old.png.lltd-tmp", age=SHARED_TEMP_AGE + 120)
    assert recover(folder) == 3
    assert not old.exists() and not older.exists() and not old_state.exists()
    assert live.exists() and young.exists() and lookalike.exists()
    assert SHARED_TEMP_AGE == 3600.0  # an hour: the README's figure


def test_stale_status_temporaries_go_the_status_file_and_others_stay(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text("{}")
    stale = [
        plant(tmp_path / ".status.json.a1.lltd-tmp"),
        plant(tmp_path / ".status.json..lltd-tmp"),
    ]
    kept = [
        plant(tmp_path / ".other.json.a1.lltd-tmp"),
        plant(tmp_path / ".status.json.a1.tmp"),
        plant(tmp_path / "status.json.a1.lltd-tmp"),
    ]
    remove_stale_status(status)
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == [] and status.read_text() == "{}"


def test_the_folder_is_opened_locked_and_closed_once(drop, tmp_path: Path) -> None:
    folder = drop()
    assert folder.root == (tmp_path / "in").resolve()
    assert folder.output == (tmp_path / "out").resolve() and folder.output.is_dir()
    assert folder.state_dir == folder.root / ".lltd" and folder.state_dir.is_dir()  # the README's
    assert folder.journal is not None and folder.planner.names is folder.journal
    assert folder.claims is None and not folder.keeps
    assert folder.still_there()
    with pytest.raises(UsageError):
        open_folder(1, folder.config)  # locked by this daemon
    folder.close()
    folder.close()  # twice: nothing happens the second time
    assert folder.state_fd >= 0
    with pytest.raises(OSError):
        os.fstat(folder.state_fd)  # the state folder's descriptor was closed
    again = drop()
    assert again.still_there()


def test_a_folder_replaced_under_the_daemon_is_no_longer_there(drop, tmp_path: Path) -> None:
    folder = drop()
    (tmp_path / "in").rename(tmp_path / "moved away")
    assert not folder.still_there()
    (tmp_path / "in").mkdir()  # the same name, another folder
    assert not folder.still_there()


def test_opening_refuses_a_missing_input_and_a_linked_state_folder(tmp_path: Path) -> None:
    fc = FolderConfig(input=tmp_path / "nowhere", output=tmp_path / "out")
    with pytest.raises(UsageError, match="does not exist or is not a folder"):
        open_folder(0, fc)
    (tmp_path / "in").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "in" / STATE_DIR).symlink_to(tmp_path / "elsewhere")
    fc = FolderConfig(input=tmp_path / "in", output=tmp_path / "out")
    with pytest.raises(UsageError, match=r"is a link or not a folder: refused"):
        open_folder(0, fc)
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_link_planted_as_the_journal_is_refused(tmp_path: Path, suffix: str) -> None:
    state = tmp_path / "in" / STATE_DIR
    state.mkdir(parents=True)
    target = tmp_path / "their file"
    target.write_bytes(b"precious")
    (state / f"journal.sqlite{suffix}").symlink_to(target)
    fc = FolderConfig(input=tmp_path / "in", output=tmp_path / "out")
    with pytest.raises(UsageError) as caught:
        open_folder(0, fc)
    assert str(caught.value) == f"{state / ('journal.sqlite' + suffix)} is a link: refused"
    assert target.read_bytes() == b"precious"


def test_output_names_are_given_once_and_kept_across_a_restart(drop, tmp_path: Path) -> None:
    folder = drop(action="flip", format="png")
    (tmp_path / "out" / "x_f.png").write_bytes(b"someone's")  # on disk, recorded for no input
    a = folder.output_for(folder.root / "a.png")
    b = folder.output_for(folder.root / "a.jpg")
    x = folder.output_for(folder.root / "x.png")
    assert (a, b) == (folder.output / "a_f.png", folder.output / "a.jpg_f.png")
    assert x == folder.output / "x.png_f.png"
    folder.close()
    again = drop(action="flip", format="png")
    assert again.output_for(again.root / "a.jpg") == again.output / "a.jpg_f.png"
    assert again.output_for(again.root / "a.png") == again.output / "a_f.png"


def version(size: int, mtime_ns: int) -> Version:
    return Version(1, 2, size, mtime_ns, mtime_ns)


def test_keep_mode_remembers_what_it_did_by_name_size_and_time(drop) -> None:
    folder = drop(on_success="keep")
    assert folder.keeps
    path = folder.root / "sub" / "a.png"
    key = folder.journal_key(path, version(10, 20))
    assert key == ("sub/a.png", 10, 20)
    assert not folder.seen(path, version(10, 20))
    folder.journal.record(key, "converted", "sub/a.png")
    assert folder.seen(path, version(10, 20))
    assert not folder.seen(path, version(10, 21))  # touched since: done again


def test_move_mode_never_skips_a_file_it_did_before(drop) -> None:
    folder = drop()
    path = folder.root / "a.png"
    folder.journal.record(folder.journal_key(path, version(1, 2)), "converted", "a.png")
    assert not folder.seen(path, version(1, 2))  # moved out after success: a re-drop is new work


def test_an_output_folder_inside_in_is_created_with_its_parents_and_never_taken_for_input(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    fc = FolderConfig(input=tmp_path / "in", output=tmp_path / "in" / "deep" / "out")
    folder = open_folder(0, fc)
    try:
        assert folder.output.is_dir()
        assert (folder.state_dir / "lock").is_file()  # the lock, inside the state folder
        assert not folder.filter.accepts(folder.output / "made.png")
        assert folder.filter.accepts(folder.root / "deep" / "dropped.png")
    finally:
        folder.close()
    outside = open_folder(0, FolderConfig(input=tmp_path / "in", output=tmp_path / "o"))
    try:
        assert outside.filter.exclude == ()
    finally:
        outside.close()


def test_the_errors_of_opening_name_the_folder_and_the_reason(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        open_folder(0, FolderConfig(input=tmp_path / "nowhere", output=tmp_path / "out"))
    assert str(caught.value) == (
        f"input folder {tmp_path / 'nowhere'} does not exist or is not a folder"
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "a file").write_text("x")
    with pytest.raises(UsageError) as caught:
        open_folder(0, FolderConfig(input=tmp_path / "in", output=tmp_path / "a file" / "out"))
    assert str(caught.value) == f"cannot create {tmp_path / 'a file' / 'out'}: Not a directory"
    # The state folder is made (0700) and checked first, before anything else is written.
    (tmp_path / "in" / STATE_DIR).rmdir()
    (tmp_path / "in" / STATE_DIR).write_text("a file where the state folder goes")
    with pytest.raises(UsageError) as caught:
        open_folder(0, FolderConfig(input=tmp_path / "in", output=tmp_path / "out"))
    assert str(caught.value) == f"{tmp_path / 'in' / '.lltd'} is a link or not a folder: refused"


def test_a_shared_folder_gives_claims_up_after_the_documented_30_s(drop) -> None:
    folder = drop(shared=True)
    assert folder.journal is None and folder.planner.names is not None
    fc = FolderConfig(input=folder.root, output=folder.output)
    folder.close()
    default = open_folder(0, fc, shared=True)
    try:
        assert default.claims is not None and default.claims.timeout == 30.0
    finally:
        default.close()


def test_a_journal_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "in" / STATE_DIR
    state.mkdir(parents=True)
    (state / "journal.sqlite").write_bytes(b"not a database, but sixteen bytes or more of it" * 40)
    with pytest.raises(UsageError) as caught:
        open_folder(0, FolderConfig(input=tmp_path / "in", output=tmp_path / "out"))
    assert str(caught.value) == f"cannot open {state / 'journal.sqlite'}: file is not a database"


def test_a_flip_folder_never_takes_an_earlier_flip_beside_its_original(drop) -> None:
    folder = drop(action="flip")
    (folder.root / "x.png").write_bytes(b"original")
    (folder.root / "x_f.png").write_bytes(b"a flip from before records")
    assert folder.filter.accepts(folder.root / "x.png")
    assert not folder.filter.accepts(folder.root / "x_f.png")
    assert folder.filter.accepts(folder.root / "lone_f.png")  # no original beside it
