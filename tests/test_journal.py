"""The watch daemon's name stores in-process: the journal (and, shared, the marker files) keep who
holds each output name for the one planner, which decides; both survive a restart (a new
connection on the same file), and keep mode's records too."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lltd.batch.marks import Mark, Source
from lltd.batch.plan import OutputTree, Planner
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.compress import CompressJob
from lltd.watch.journal import Journal
from lltd.watch.names import FileNames

JOB = CompressJob(output_dir=Path("/out"), options=EncodeOptions(quality=60), force=True)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite")
    yield opened
    opened.close()


def tree(
    on_disk: dict[str, Mark | None], exists: Callable[[str], bool] | None = None
) -> OutputTree:
    """An output folder outside the input folder, as a dict name -> provenance record."""
    return OutputTree(
        exists=exists or on_disk.__contains__,
        mark=on_disk.get,
        input_mark=lambda name: None,
        as_input=lambda name: None,
        same_source=lambda mark, name: True,
    )


def planner(record: Journal | FileNames, on_disk: dict[str, Mark | None] | None = None) -> Planner:
    return Planner(JOB, tree(on_disk if on_disk is not None else {}), names=record)


def test_the_first_free_name_is_given_and_kept_for_the_same_input(journal: Journal) -> None:
    names = planner(journal)
    assert names.assign("a.png") == "a.webp"
    assert names.assign("a.png") == "a.webp"  # its own, again (a retry, a re-drop)
    assert names.assign("a.jpg") == "a.jpg.webp"
    assert names.assign("a.jpeg") == "a.jpeg.webp"
    assert names.assign("a.jpg") == "a.jpg.webp"
    assert journal.holder("a.webp") == "a.png" and journal.holder("a.jpg.webp") == "a.jpg"


def test_a_file_on_disk_that_no_record_explains_is_never_taken(journal: Journal) -> None:
    """Outside the input folder an unrecorded file would be a batch run's leftover; the journal
    holds every name the daemon gave, so here it is someone else's."""
    on_disk: dict[str, Mark | None] = {"b.webp": None, "b.png.webp": None}
    assert planner(journal, on_disk).assign("b.png") == "b.png.1.webp"
    # Once recorded, the name is this input's even though the file now exists.
    on_disk["b.png.1.webp"] = None
    assert planner(journal, on_disk).assign("b.png") == "b.png.1.webp"


def test_an_output_recorded_as_this_inputs_is_its_own_without_a_journal_entry(
    journal: Journal,
) -> None:
    """A file's own provenance record says whose it is (made by a batch run, or a journal lost):
    this input's is replaced, another input's never."""
    own = Mark("compress", Source("c.png", 1, 1, "x"), 1, "y")
    other = Mark("compress", Source("c.jpg", 1, 1, "x"), 1, "y")
    assert planner(journal, {"c.webp": own}).assign("c.png") == "c.webp"
    assert planner(journal, {"d.webp": other}).assign("d.png") == "d.png.webp"


def test_names_and_done_records_survive_a_restart(tmp_path: Path) -> None:
    first = Journal(tmp_path / "journal.sqlite")
    assert planner(first).assign("x.png") == "x.webp"
    first.record(("x.png", 10, 123), "converted", "x.webp")
    first.record(("y.png", 20, 456), "failed", None)
    first.record(("x.png", 10, 123), "converted", "x.webp")  # recorded twice: still one
    assert first.count() == 2
    first.close()
    again = Journal(tmp_path / "journal.sqlite")
    try:
        assert again.count() == 2
        assert again.seen(("x.png", 10, 123)) and again.seen(("y.png", 20, 456))
        assert not again.seen(("x.png", 10, 124)) and not again.seen(("x.png", 11, 123))
        assert not again.seen(("z.png", 10, 123))
        # The output was moved away meanwhile: the record still holds its name.
        assert planner(again).assign("x.jpg") == "x.jpg.webp"
        assert planner(again).assign("x.png") == "x.webp"
    finally:
        again.close()


def test_a_failing_existence_check_records_nothing(journal: Journal) -> None:
    def broken(name: str) -> bool:
        raise OSError("file system gone")

    with pytest.raises(OSError):
        Planner(JOB, tree({}, broken), names=journal).assign("c.png")
    assert journal.holder("c.webp") is None
    assert planner(journal).assign("c.jpg") == "c.webp"


def test_no_free_name_is_a_clear_error(journal: Journal) -> None:
    everything = tree({}, lambda name: True)
    with pytest.raises(UsageError, match=r"^no free output name for d\.png$"):
        Planner(JOB, everything, names=journal).assign("d.png")


@pytest.mark.parametrize("store", ["journal", "markers"])
def test_threads_racing_for_one_name_get_distinct_names(tmp_path: Path, store: str) -> None:
    """Every input wants e.webp; each claim is atomic, so the losers move on to their own."""
    (tmp_path / "in" / ".lltd").mkdir(parents=True)
    record: Journal | FileNames = (
        Journal(tmp_path / "journal.sqlite")
        if store == "journal"
        else FileNames(tmp_path / "in", tmp_path / "in" / ".lltd")
    )
    inputs = ["e.png", "e.jpg", "e.jpeg", "e.PNG", "e.JPG", "e.JPEG", "e.Png", "e.Jpg"]
    chosen: dict[str, str] = {}
    start = threading.Barrier(len(inputs))

    def claim(name: str) -> None:
        start.wait(30)
        chosen[name] = planner(record).assign(name)

    threads = [threading.Thread(target=claim, args=(name,)) for name in inputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(chosen) == len(inputs) and len(set(chosen.values())) == len(inputs)
    assert "e.webp" in chosen.values()
    for name, output in chosen.items():
        assert record.holder(output) == name
        assert record.claim(output, "someone-else") == name  # held: a later claim loses


def test_markers_hold_names_across_daemons(tmp_path: Path) -> None:
    """--shared: another daemon (another FileNames on the same folder) sees the same holders."""
    (tmp_path / "in" / ".lltd").mkdir(parents=True)
    first = FileNames(tmp_path / "in", tmp_path / "in" / ".lltd")
    second = FileNames(tmp_path / "in", tmp_path / "in" / ".lltd")
    assert planner(first).assign("sub/f.png") == "sub/f.webp"
    assert planner(second).assign("sub/f.jpg") == "sub/f.jpg.webp"
    assert planner(second).assign("sub/f.png") == "sub/f.webp"
    marker = tmp_path / "in" / ".lltd" / "names" / "sub" / "f.webp"
    assert marker.read_bytes() == b"sub/f.png"
