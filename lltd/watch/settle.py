"""Completion without a completion signal: a file is ready once its version (identity, size,
mtime, ctime) has not changed for ``settle`` seconds and nobody we know of has it open. The
version it settled with is what the dispatcher and the worker compare later."""

from __future__ import annotations

import os
import stat as stat_module
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from lltd.fs.identity import Version

Key = TypeVar("Key")

#: An open we saw but whose close we missed (an event lost to a queue overflow) must not hold a
#: file back forever: past this many settle periods of stability it is ready all the same.
OPEN_GRACE_FACTOR = 30


@dataclass
class _Watched(Generic[Key]):
    key: Key
    signature: Version | None
    changed_at: float
    opens: int = 0


def signature(path: Path) -> Version | None:
    """The version (identity, size, mtime, ctime) of the regular file ``path`` itself, or None
    when it is gone or not a regular file: a link is never an input, so it is not followed
    (its target is no upload, and a link swapped in for an upload must not settle as one)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat_module.S_ISREG(st.st_mode):
        return None
    return Version.of(st)


class Settler(Generic[Key]):
    """Paths waiting to settle, each with the caller's key (thread-safe)."""

    def __init__(
        self,
        settle_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        stat: Callable[[Path], Version | None] = signature,
    ) -> None:
        self.settle_s = settle_s
        self.clock = clock
        self.stat = stat
        self._watched: dict[Path, _Watched[Key]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._watched)

    def __contains__(self, path: Path) -> bool:
        with self._lock:
            return path in self._watched

    def track(self, path: Path, key: Key) -> None:
        """Start (or restart) the settle period of ``path``."""
        with self._lock:
            entry = self._watched.get(path)
            if entry is None:
                self._watched[path] = _Watched(key, self.stat(path), self.clock())
            else:
                entry.changed_at = self.clock()

    def opened(self, path: Path) -> None:
        with self._lock:
            if (entry := self._watched.get(path)) is not None:
                entry.opens += 1

    def closed(self, path: Path) -> None:
        with self._lock:
            if (entry := self._watched.get(path)) is not None:
                entry.opens = max(0, entry.opens - 1)

    def forget(self, path: Path) -> Key | None:
        with self._lock:
            entry = self._watched.pop(path, None)
        return None if entry is None else entry.key

    def due(self) -> tuple[list[tuple[Path, Key]], list[tuple[Path, Key]]]:
        """Stat every watched path: return ``(settled, vanished)``, both removed from the watch."""
        with self._lock:
            items = list(self._watched.items())
        settled: list[tuple[Path, Key]] = []
        vanished: list[tuple[Path, Key]] = []
        now = self.clock()
        for path, entry in items:
            current = self.stat(path)  # outside the lock: a slow file system stalls no event
            with self._lock:
                if self._watched.get(path) is not entry:
                    continue  # forgotten or replaced meanwhile
                if current is None:
                    del self._watched[path]
                    vanished.append((path, entry.key))
                elif current != entry.signature:
                    entry.signature, entry.changed_at = current, now
                else:
                    quiet = now - entry.changed_at
                    grace = self.settle_s * OPEN_GRACE_FACTOR if entry.opens else 0.0
                    if quiet >= max(self.settle_s, grace):
                        del self._watched[path]
                        settled.append((path, entry.key))
        return settled, vanished
