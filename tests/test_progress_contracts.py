"""The plain progress line of logs (:mod:`lltd.common.progress`), in-process with a fake clock:
the line word for word, its interval at and just under its bound, and every duration format at
the edges where it changes unit."""

from __future__ import annotations

import pytest

from lltd.common.progress import DEFAULT_INTERVAL, INTERVAL_VARIABLE, Ticker, _duration, interval


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ticker(total: int, every: float = 10.0, unit: str = "files") -> tuple[Ticker, Clock, list[str]]:
    clock, lines = Clock(), []
    return Ticker(total, "defend", lines.append, unit=unit, every=every, clock=clock), clock, lines


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "under 1 s"), (0.999, "under 1 s"), (1, "1 s"), (1.4, "1 s"), (1.5, "2 s"),
        (59.4, "59 s"), (59.5, "1 min 00 s"), (60, "1 min 00 s"), (61, "1 min 01 s"),
        (3599, "59 min 59 s"), (3600, "1 h 00 min"), (3661, "1 h 01 min"),
        (86400 + 120, "24 h 02 min"),
    ],
)  # fmt: skip
def test_a_duration_is_written_in_the_largest_unit_that_fits(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 10.0), ("0", 0.0), ("2.5", 2.5), ("-0.1", 10.0), ("x", 10.0), ("", 10.0)],
)
def test_the_interval_is_the_variable_when_a_number_at_least_0(
    value: str | None, expected: float
) -> None:
    environ = {} if value is None else {INTERVAL_VARIABLE: value}
    assert interval(environ) == expected
    assert (DEFAULT_INTERVAL, INTERVAL_VARIABLE) == (10.0, "LLTD_PROGRESS_INTERVAL")


def test_the_ticker_takes_the_environments_interval_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INTERVAL_VARIABLE, "3")
    assert Ticker(5, "x", print).every == 3.0
    assert Ticker(5, "x", print, every=0.5).every == 0.5


def test_the_line_word_for_word() -> None:
    tick, clock, _ = ticker(200)
    clock.now += 20
    tick.done = 50
    # 50 in 20 s: 2.5/s; 150 left: 60 s.
    assert tick.line() == "defend: 50/200 files (25 %), 2.5 files/s, about 1 min 00 s left"
    tick.done = 200
    assert tick.line() == "defend: 200/200 files (100 %), 10 files/s"
    tick.done = 0
    assert tick.line() == "defend: 0/200 files (0 %), 0 files/s"


def test_the_line_with_no_total_has_no_share_and_no_time_left() -> None:
    tick, clock, _ = ticker(0, unit="images")
    clock.now += 4
    tick.done = 3
    assert tick.line() == "defend: 3/0 images, 0.75 images/s"


def test_the_rate_has_three_significant_digits_and_no_time_means_no_division_by_zero() -> None:
    tick, clock, _ = ticker(1000)
    tick.done = 1
    assert tick.line().startswith("defend: 1/1000 files (0 %), 1e+09 files/s")
    clock.now += 3
    tick.done = 10
    assert tick.line() == "defend: 10/1000 files (1 %), 3.33 files/s, about 4 min 57 s left"


def test_a_line_is_emitted_once_the_interval_has_passed_not_before() -> None:
    tick, clock, lines = ticker(10, every=10.0)
    clock.now += 9.999
    tick.advance()
    assert lines == [] and tick.done == 1
    clock.now += 0.001  # exactly 10 s after the start: due
    tick.advance(2)
    assert tick.done == 3 and len(lines) == 1
    assert lines[0].startswith("defend: 3/10 files (30 %), ")
    clock.now += 5
    tick.update(4)
    assert len(lines) == 1  # 5 s after the last line
    clock.now += 5
    tick.update(9)
    assert len(lines) == 2 and lines[1].startswith("defend: 9/10 files (90 %), ")


def test_an_interval_of_0_emits_at_every_update() -> None:
    tick, _, lines = ticker(3, every=0.0)
    for _ in range(3):
        tick.advance()
    assert [line.split(",")[0] for line in lines] == [
        "defend: 1/3 files (33 %)",
        "defend: 2/3 files (67 %)",
        "defend: 3/3 files (100 %)",
    ]


def test_the_unit_is_files_unless_told() -> None:
    tick = Ticker(4, "flip", print, every=0.0, clock=Clock())
    assert tick.unit == "files" and tick.line() == "flip: 0/4 files (0 %), 0 files/s"


def test_a_rate_under_one_per_second_still_gives_the_time_left() -> None:
    tick, clock, _ = ticker(3)
    clock.now += 2
    tick.done = 1  # 0.5 files/s, 2 left
    assert tick.line() == "defend: 1/3 files (33 %), 0.5 files/s, about 4 s left"
