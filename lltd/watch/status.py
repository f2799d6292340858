"""The daemon's counters, as a one-line ``STATUS=`` and as a JSON file for monitoring."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lltd.atomic import write_bytes_atomic


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
    queued: int = 0
    settling: int = 0
    in_flight: int = 0
    rescans: int = 0  # whole-folder rescans (periodic, and after an overflow)
    overflows: int = 0  # kernel event queue overflows
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, folder: int, failed: bool, error: str | None = None) -> None:
        with self._lock:
            if failed:
                self.folders[folder].failed += 1
                self.last_error = error
            else:
                self.folders[folder].processed += 1

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
