"""Progress for logs: where a terminal gets a bar, a log (systemd, CI, nohup) gets one plain
line every so often with the count, the rate and the time left, instead of silence.

The interval is 10 s; ``LLTD_PROGRESS_INTERVAL`` (seconds) changes it, which is how the tests
see lines without waiting. Lines are written when work completes, never from a thread: the
batch runners fork worker processes while progress is live."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 10.0
INTERVAL_VARIABLE = "LLTD_PROGRESS_INTERVAL"


def interval(environ: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """Seconds between two lines (the environment's, when it is a number >= 0)."""
    try:
        value = float(environ.get(INTERVAL_VARIABLE, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Ticker:
    """Counts work done out of ``total`` and emits ``label: done/total unit (share), rate,
    about T left`` at most once per ``every`` seconds."""

    def __init__(
        self,
        total: int,
        label: str,
        emit: Callable[[str], None],
        *,
        unit: str = "files",
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.label, self.emit, self.unit = total, label, emit, unit
        self.every = interval() if every is None else every
        self.clock = clock
        self.started = self.last = clock()
        self.done = 0

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        share = f" ({100 * self.done / self.total:.0f} %)" if self.total else ""
        left = (
            f", about {_duration((self.total - self.done) / rate)} left"
            if rate > 0 and self.done < self.total
            else ""
        )
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit}{share}, "
            f"{rate:.3g} {self.unit}/s{left}"
        )

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int) -> None:
        """``done`` units are complete; a line if the interval has passed since the last."""
        self.done = done
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.emit(self.line())
