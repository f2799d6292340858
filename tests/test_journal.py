"""The watch daemon's journal in-process: who owns each output name, what keep mode has done, and
that both survive a restart (a new connection on the same file)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lltd.watch.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "journal.sqlite")
    yield opened
    opened.close()


def names(stem: str) -> Iterator[str]:
    yield f"{stem}.png"
    for number in range(2, 100):
        yield f"{stem} ({number}).png"


def test_the_first_free_name_is_given_and_kept_for_the_same_input(journal: Journal) -> None:
    nothing = lambda name: False  # noqa: E731
    assert journal.assign_output("a.png", names("a"), nothing) == "a.png"
    assert journal.assign_output("a.png", names("a"), nothing) == "a.png"  # its own, again
    assert journal.assign_output("a.jpg", names("a"), nothing) == "a (2).png"
    assert journal.assign_output("a.webp", names("a"), nothing) == "a (3).png"
    assert journal.assign_output("a.jpg", names("a"), nothing) == "a (2).png"


def test_a_file_on_disk_that_no_record_explains_is_never_taken(journal: Journal) -> None:
    on_disk = {"b.png", "b (2).png"}
    assert journal.assign_output("b.png", names("b"), on_disk.__contains__) == "b (3).png"
    # Once recorded, the name is this input's even though the file now exists.
    on_disk.add("b (3).png")
    assert journal.assign_output("b.png", names("b"), on_disk.__contains__) == "b (3).png"


def test_names_and_done_records_survive_a_restart(tmp_path: Path) -> None:
    first = Journal(tmp_path / "journal.sqlite")
    assert first.assign_output("x.png", names("x"), lambda name: False) == "x.png"
    first.record(("x.png", 10, 123), "converted", "x.png")
    first.record(("y.png", 20, 456), "failed", None)
    first.record(("x.png", 10, 123), "converted", "x.png")  # recorded twice: still one
    assert first.count() == 2
    first.close()
    again = Journal(tmp_path / "journal.sqlite")
    try:
        assert again.count() == 2
        assert again.seen(("x.png", 10, 123)) and again.seen(("y.png", 20, 456))
        assert not again.seen(("x.png", 10, 124)) and not again.seen(("x.png", 11, 123))
        assert not again.seen(("z.png", 10, 123))
        assert again.assign_output("other.png", names("x"), lambda name: False) == "x (2).png"
        assert again.assign_output("x.png", names("x"), lambda name: False) == "x.png"
    finally:
        again.close()


def test_a_failing_existence_check_records_nothing(journal: Journal) -> None:
    def broken(name: str) -> bool:
        raise OSError("file system gone")

    with pytest.raises(OSError):
        journal.assign_output("c.png", names("c"), broken)
    assert journal.assign_output("c.jpg", names("c"), lambda name: False) == "c.png"


def test_an_endless_supply_is_required(journal: Journal) -> None:
    with pytest.raises(RuntimeError, match=r"^no free output name$"):
        journal.assign_output("d.png", iter(["d.png"]), lambda name: True)


def test_threads_racing_for_one_name_get_distinct_names(journal: Journal) -> None:
    chosen: dict[str, str] = {}
    start = threading.Barrier(8)

    def claim(index: int) -> None:
        start.wait(30)
        chosen[f"e{index}.jpg"] = journal.assign_output(
            f"e{index}.jpg", names("e"), lambda n: False
        )

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(chosen) == 8 and len(set(chosen.values())) == 8
