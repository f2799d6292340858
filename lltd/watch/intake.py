"""The files known to the daemon, from discovery to disposal: each at most once at a time.

Files found by scans (the backlog at start-up, rescans, claims taken over) go before files that
arrive while the daemon runs. Only arrivals are bounded (``--queue-size``): when that queue is
full, whoever offers blocks (backpressure on the observer; settled files stay settling), while
the files themselves wait safely on disk. A scan's files are not bounded: each is one path of a
listing of what is already on disk, and holding them back would only mean listing them again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from lltd.fs.identity import Version

Item = TypeVar("Item", bound=Hashable)


class Intake(Generic[Item]):
    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._backlog: deque[Item] = deque()
        self._live: deque[Item] = deque()
        self._known: set[Item] = set()
        # The version each file had when it settled (or was found complete): what the
        # dispatcher and the worker compare the file with before acting on it.
        self._settled: dict[Item, Version] = {}
        self._cond = threading.Condition()
        self._closed = False

    def claim(self, item: Item) -> bool:
        """Mark ``item`` known (settling, queued or in flight); False if it already was."""
        with self._cond:
            if item in self._known or self._closed:
                return False
            self._known.add(item)
            return True

    def release(self, item: Item) -> None:
        """``item`` is finished (or dropped): a later event or scan may bring it back."""
        with self._cond:
            self._known.discard(item)
            self._settled.pop(item, None)
            self._cond.notify_all()

    def settled(self, item: Item) -> Version | None:
        """The version ``item`` had when it was queued (None: not known, e.g. a takeover)."""
        with self._cond:
            return self._settled.get(item)

    def _note(self, item: Item, version: Version | None) -> None:
        if version is not None:
            self._settled[item] = version

    def put_backlog(self, item: Item, version: Version | None = None) -> None:
        """Queue a claimed item found by a scan (unbounded: a scan lists what is on disk)."""
        with self._cond:
            self._note(item, version)
            self._backlog.append(item)
            self._cond.notify_all()

    def put_live(
        self, item: Item, timeout: float | None = None, version: Version | None = None
    ) -> bool:
        """Queue a claimed arrival, blocking while the queue is full; False on timeout/close."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed or len(self._live) < self.capacity, timeout
            ):
                return False
            if self._closed:
                return False
            self._note(item, version)
            self._live.append(item)
            self._cond.notify_all()
            return True

    def take(self, timeout: float) -> Item | None:
        """The next item, backlog first; None after ``timeout`` or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._backlog or self._live, timeout)
            if self._closed:
                return None
            if self._backlog:
                item = self._backlog.popleft()
            elif self._live:
                item = self._live.popleft()
            else:
                return None
            self._cond.notify_all()
            return item

    def queued(self) -> int:
        with self._cond:
            return len(self._backlog) + len(self._live)

    def split(self) -> tuple[int, int]:
        """(found by scans, arrivals) waiting: the second never exceeds ``capacity``."""
        with self._cond:
            return len(self._backlog), len(self._live)

    def known(self) -> int:
        with self._cond:
            return len(self._known)

    def close(self) -> list[Item]:
        """Stop handing out items; return those still queued (they stay on disk for next time)."""
        with self._cond:
            self._closed = True
            left = list(self._backlog) + list(self._live)
            self._backlog.clear()
            self._live.clear()
            self._cond.notify_all()
            return left
