"""The daemon's counters, as a one-line ``STATUS=`` and as a JSON file for monitoring."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lltd.common.text import printable
from lltd.fs.atomic import write_bytes_atomic
from lltd.fs.destination import UnsafeDestination


@dataclass
class FolderCounts:
    input: str
    output: str
    processed: int = 0
    failed: int = 0


@dataclass
class Counters:
    folders: list[FolderCounts]
    started: float = field(default_factory=time.time)
    state: str = "starting"
    queued: int = 0  # complete files waiting for a worker: backlog + arrivals
    settling: int = 0
    backlog: int = 0  # ... of them found by scans (start-up, rescans, takeovers): unbounded
    arrivals: int = 0  # ... of them arrived while running: at most queue_size
    queue_size: int | None = None  # the bound on arrivals (--queue-size)
    in_flight: int = 0
    rescans: int = 0  # whole-folder rescans (periodic, and after an overflow)
    overflows: int = 0  # kernel event queue overflows
    last_error: str | None = None
    _outcomes: dict[str, int] = field(default_factory=dict, repr=False)
    dirty: bool = field(default=True, repr=False)  # changed since last published
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(
        self,
        folder: int,
        failed: bool,
        error: str | None = None,
        outcome: str | None = None,
        *,
        source: str | None = None,
    ) -> None:
        """One file finished; a failure's ``error`` becomes ``last_error``, prefixed by the
        ``source`` it happened to (a monitor must be able to tell which file failed)."""
        if failed and source is not None:
            error = f"{printable(source)}: {error or 'failed'}"
        with self._lock:
            self.dirty = True
            key = outcome or ("failed" if failed else "converted")
            self._outcomes[key] = self._outcomes.get(key, 0) + 1
            if failed:
                self.folders[folder].failed += 1
                self.last_error = error
            else:
                self.folders[folder].processed += 1

    def set_gauges(self, backlog: int, arrivals: int, settling: int, in_flight: int) -> None:
        gauges = (backlog + arrivals, settling, in_flight, backlog, arrivals)
        if gauges != (self.queued, self.settling, self.in_flight, self.backlog, self.arrivals):
            self.queued, self.settling, self.in_flight, self.backlog, self.arrivals = gauges
            self.dirty = True

    def outcomes(self) -> dict[str, int]:
        with self._lock:
            return dict(self._outcomes)

    @property
    def processed(self) -> int:
        return sum(f.processed for f in self.folders)

    @property
    def failed(self) -> int:
        return sum(f.failed for f in self.folders)

    def line(self) -> str:
        return (
            f"processed {self.processed}, failed {self.failed}, queued {self.queued}, "
            f"in flight {self.in_flight}"
        )

    def to_json(self) -> dict[str, object]:
        with self._lock:
            return {
                "pid": os.getpid(),
                "state": self.state,
                "started": round(self.started, 3),
                "updated": round(time.time(), 3),
                "processed": self.processed,
                "failed": self.failed,
                "queued": self.queued,
                "settling": self.settling,
                "backlog": self.backlog,
                "arrivals": self.arrivals,
                "queue_size": self.queue_size,
                "in_flight": self.in_flight,
                "rescans": self.rescans,
                "overflows": self.overflows,
                "last_error": self.last_error,
                "folders": [vars(f).copy() for f in self.folders],
            }


def write_status_file(path: Path, counters: Counters) -> None:
    """Atomically, so a monitor never reads half a file."""
    data = json.dumps(counters.to_json(), indent=2) + "\n"
    write_bytes_atomic(path, data.encode())


class Publisher:
    """``STATUS=`` and the status file, at most once per ``period`` while busy."""

    def __init__(
        self,
        counters: Counters,
        notify: Callable[[str], object],
        path: Path | None,
        warn: Callable[[str], None],
        period: float = 0.25,
    ) -> None:
        self.counters = counters
        self.notify = notify
        self.path = path
        self.warn = warn
        self.period = period
        self._written = -period

    def publish(self, now: float, *, force: bool = False) -> None:
        counters = self.counters
        if not force and (not counters.dirty or now - self._written < self.period):
            return
        counters.dirty = False
        self._written = now
        self.notify(counters.line())
        if self.path is not None:
            try:
                write_status_file(self.path, counters)
            except OSError as exc:
                self.warn(f"cannot write {printable(self.path)}: {exc.strerror}")
            except UnsafeDestination as exc:  # made a link or a folder since start-up
                self.warn(str(exc))


class Summary:
    """The daemon's periodic line for its log: ``summary: processed N (+n), failed F (+f),
    queued Q, in flight I`` at most once per interval (10 s; ``LLTD_PROGRESS_INTERVAL``), and
    only when something changed, so an idle daemon writes nothing. (--quiet silences it.)"""

    def __init__(
        self, counters: Counters, emit: Callable[[str], None], every: float | None = None
    ) -> None:
        from lltd.common.progress import interval

        self.counters, self.emit = counters, emit
        self.every = interval() if every is None else every
        self.last: float | None = None
        self.shown = (0, 0, 0, 0)

    def tick(self, now: float) -> None:
        if self.last is None:
            self.last = now
        if now - self.last < self.every:
            return
        self.last = now
        c = self.counters
        state = (c.processed, c.failed, c.queued, c.in_flight)
        if state == self.shown:
            return
        processed, failed = state[0] - self.shown[0], state[1] - self.shown[1]
        self.shown = state
        self.emit(
            f"summary: processed {c.processed} (+{processed}), failed {c.failed} (+{failed}), "
            f"queued {c.queued}, in flight {c.in_flight}"
        )
