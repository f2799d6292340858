"""The settle rule's contracts (issue 27), on real files with a fake clock: ready exactly at the
settle period, opens counted one by one, a missed close released after 30 settle periods."""

from __future__ import annotations

from pathlib import Path

from lltd.fs.identity import Version
from lltd.watch.settle import Settler, signature


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracked(
    tmp_path: Path, settle_s: float = 1.0, name: str = "a.png"
) -> tuple[Settler[str], FakeClock, Path]:
    clock = FakeClock()
    settler: Settler[str] = Settler(settle_s, clock=clock)
    path = tmp_path / name
    path.write_bytes(b"1")
    settler.track(path, "a")
    return settler, clock, path


def test_a_file_is_ready_exactly_when_its_settle_period_has_passed(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path, settle_s=0.5)
    clock.now = 100.25
    assert settler.due() == ([], [])
    clock.now = 100.5  # exactly 0.5 s unchanged (binary-exact values): ready, not one tick later
    assert settler.due() == ([(path, "a")], [])
    assert len(settler) == 0 and path not in settler


def test_a_settle_period_under_a_second_is_not_rounded_up(tmp_path: Path) -> None:
    """A closed file waits ``settle`` seconds, no minimum: 0.25 s means 0.25 s."""
    settler, clock, path = tracked(tmp_path, settle_s=0.25)
    clock.now = 100.25
    assert settler.due() == ([(path, "a")], [])


def test_tracking_again_restarts_the_settle_period(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path)
    clock.now = 100.75
    settler.track(path, "a")  # written to again: another modification event
    clock.now = 101.5  # 1.5 s since the first track, 0.75 s since the second
    assert settler.due() == ([], [])
    clock.now = 101.75
    assert settler.due() == ([(path, "a")], [])


def test_tracking_again_keeps_the_first_key_and_the_opens_seen(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path)
    settler.opened(path)
    settler.track(path, "second")  # a write event while the writer still has it open
    clock.now = 102.0
    assert settler.due() == ([], [])  # still open
    settler.closed(path)
    assert settler.due() == ([(path, "a")], [])


def test_each_open_needs_its_own_close(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path)
    settler.opened(path)
    settler.opened(path)
    clock.now = 105.0
    settler.closed(path)
    assert settler.due() == ([], [])  # one writer still has it open
    settler.closed(path)
    assert settler.due() == ([(path, "a")], [])


def test_a_close_never_seen_open_does_not_count_against_a_later_open(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path)
    settler.closed(path)  # its open came before the track: the count stays at zero
    settler.opened(path)
    clock.now = 105.0
    assert settler.due() == ([], [])
    settler.closed(path)
    assert settler.due() == ([(path, "a")], [])


def test_a_missed_close_holds_a_file_for_exactly_30_settle_periods(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path, settle_s=0.5)
    settler.opened(path)
    clock.now = 114.75  # 29.5 periods
    assert settler.due() == ([], [])
    clock.now = 115.0  # 30 periods of 0.5 s
    assert settler.due() == ([(path, "a")], [])


def test_forget_returns_the_key_and_stops_the_watch(tmp_path: Path) -> None:
    settler, clock, path = tracked(tmp_path)
    assert path in settler and len(settler) == 1
    assert settler.forget(path) == "a"
    assert path not in settler and len(settler) == 0
    assert settler.forget(path) is None
    assert settler.forget(tmp_path / "never.png") is None
    clock.now = 200.0
    assert settler.due() == ([], [])


def test_a_path_forgotten_during_a_sweep_is_skipped_and_the_rest_still_settle(
    tmp_path: Path,
) -> None:
    """``due`` stats outside its lock: an event may forget a path meanwhile; the sweep goes on
    with the other paths."""
    clock = FakeClock()
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]

    def stat_and_forget(path: Path) -> Version | None:
        current = signature(path)
        if path == paths[0] and clock.now > 100.0:
            settler.forget(path)  # the watcher's thread, between the snapshot and the check
        return current

    settler: Settler[str] = Settler(1.0, clock=clock, stat=stat_and_forget)
    for path in paths:
        path.write_bytes(b"1")
        settler.track(path, path.stem)
    paths[2].unlink()
    clock.now = 101.0
    assert settler.due() == ([(paths[1], "b")], [(paths[2], "c")])
    assert len(settler) == 0
