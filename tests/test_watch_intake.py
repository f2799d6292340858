"""The daemon's intake (lltd.watch.intake), in-process and without clocks: each file known once
at a time, scans before arrivals, arrivals bounded by ``--queue-size``, the version a file had
when it settled kept until it is released, and nothing handed out once closed.

No assertion depends on timing: a blocking call is either given ``timeout=0`` (must not wait)
or is released by another thread's action, which it must see."""

from __future__ import annotations

import threading

from lltd.fs.identity import Version
from lltd.watch.intake import Intake

V1 = Version(dev=1, ino=2, size=3, mtime_ns=4, ctime_ns=5)
V2 = Version(dev=1, ino=2, size=30, mtime_ns=40, ctime_ns=50)


def test_a_file_is_claimed_once_until_released() -> None:
    intake: Intake[str] = Intake(2)
    assert intake.claim("a") is True
    assert intake.claim("a") is False and intake.known() == 1
    intake.release("a")
    assert intake.known() == 0 and intake.claim("a") is True


def test_the_version_a_file_settled_with_is_kept_until_it_is_released() -> None:
    intake: Intake[str] = Intake(2)
    intake.claim("scan")
    intake.claim("live")
    intake.put_backlog("scan", V1)
    assert intake.put_live("live", timeout=0, version=V2) is True
    assert (intake.settled("scan"), intake.settled("live")) == (V1, V2)
    intake.release("scan")
    assert intake.settled("scan") is None and intake.settled("live") == V2


def test_a_file_queued_without_a_version_has_none_and_an_unknown_file_none() -> None:
    intake: Intake[str] = Intake(2)
    intake.put_backlog("taken-over")
    assert intake.put_live("arrived", timeout=0) is True
    assert intake.settled("taken-over") is None and intake.settled("arrived") is None
    assert intake.settled("never-seen") is None


def test_files_found_by_scans_go_before_arrivals_each_in_order() -> None:
    intake: Intake[str] = Intake(5)
    intake.put_live("live-1", timeout=0)
    intake.put_backlog("scan-1")
    intake.put_live("live-2", timeout=0)
    intake.put_backlog("scan-2")
    assert intake.queued() == 4 and intake.split() == (2, 2)
    taken = [intake.take(timeout=0) for _ in range(5)]
    assert taken == ["scan-1", "scan-2", "live-1", "live-2", None]
    assert intake.queued() == 0


def test_arrivals_are_bounded_by_the_queue_size_and_scans_are_not() -> None:
    intake: Intake[str] = Intake(2)
    assert [intake.put_live(name, timeout=0) for name in ("a", "b", "c")] == [True, True, False]
    for name in ("s1", "s2", "s3"):
        intake.put_backlog(name)
    assert intake.split() == (3, 2) and intake.queued() == 5
    assert intake.take(timeout=0) == "s1"  # a scan's file frees no arrival place
    assert intake.put_live("c", timeout=0) is False


def test_a_queue_size_below_1_holds_one_arrival() -> None:
    intake: Intake[str] = Intake(0)
    assert intake.capacity == 1
    assert [intake.put_live(name, timeout=0) for name in ("a", "b")] == [True, False]


def test_a_full_queue_lets_a_waiting_arrival_in_when_one_is_taken() -> None:
    intake: Intake[str] = Intake(1)
    intake.put_live("first", timeout=0)
    result: list[bool] = []
    waiting = threading.Thread(target=lambda: result.append(intake.put_live("second")))
    waiting.start()
    assert intake.take(timeout=None) == "first"  # type: ignore[arg-type]
    waiting.join()
    assert result == [True] and intake.take(timeout=0) == "second"


def test_a_waiting_take_gets_an_item_queued_later() -> None:
    intake: Intake[str] = Intake(1)
    result: list[str | None] = []
    waiting = threading.Thread(target=lambda: result.append(intake.take(timeout=None)))  # type: ignore[arg-type]
    waiting.start()
    intake.put_backlog("late")
    waiting.join()
    assert result == ["late"]


def test_an_item_already_queued_is_taken_without_waiting_for_the_timeout() -> None:
    """A take whose item is there returns it; one that waited out its hour would be a bug (a
    mutation run sees that as a timeout)."""
    intake: Intake[str] = Intake(1)
    intake.put_backlog("there")
    assert intake.take(timeout=3600) == "there"
    intake.put_live("live", timeout=0)
    assert intake.take(timeout=3600) == "live"


def test_close_returns_what_was_queued_and_hands_out_nothing_more() -> None:
    intake: Intake[str] = Intake(3)
    intake.claim("x")
    intake.put_backlog("scan")
    intake.put_live("live", timeout=0)
    assert intake.close() == ["scan", "live"]
    assert intake.queued() == 0 and intake.take(timeout=0) is None
    assert intake.claim("y") is False
    assert intake.put_live("late", timeout=0) is False and intake.queued() == 0


def test_close_refuses_an_arrival_even_with_room_and_wakes_a_waiting_take() -> None:
    intake: Intake[str] = Intake(3)
    result: list[str | None] = []
    waiting = threading.Thread(target=lambda: result.append(intake.take(timeout=None)))  # type: ignore[arg-type]
    waiting.start()
    intake.close()
    waiting.join()
    assert result == [None]
    assert intake.put_live("late", timeout=None) is False and intake.split() == (0, 0)


def test_close_wakes_an_arrival_waiting_for_room() -> None:
    intake: Intake[str] = Intake(1)
    intake.put_live("first", timeout=0)
    result: list[bool] = []
    waiting = threading.Thread(target=lambda: result.append(intake.put_live("second")))
    waiting.start()
    assert intake.close() == ["first"]  # "second" never found room
    waiting.join()
    assert result == [False] and intake.queued() == 0
