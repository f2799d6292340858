"""When a daemon should stop: asked by another thread, or by SIGTERM/SIGINT.

Python runs a signal handler in the main thread between two bytecodes, and that thread may hold
a lock there: the lock inside ``threading.Event.wait()``, on which the daemon's main loop spends
its life. A handler that called ``Event.set()`` then waited for that lock forever, and every
later SIGTERM with it (a daemon deaf for 40 s under load; bench/bench_stop_signal.py: 5 of 60
loops on ``Event.wait(0)`` deaf, 0 of 60 with this class). So the handler only sets a flag,
which takes no lock, and :meth:`StopRequest.wait` waits in slices short enough to see it.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

SLICE = 0.05  # s: how late a waiter may see a signal's request


class StopRequest:
    def __init__(self, slice_s: float = SLICE) -> None:
        self._event = threading.Event()
        self._signalled = False
        self.slice_s = slice_s

    def set(self) -> None:
        """Ask to stop (from any thread, never from a signal handler)."""
        self._event.set()

    def is_set(self) -> bool:
        return self._signalled or self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """True once a stop is asked for; False after ``timeout`` seconds without one."""
        deadline = time.monotonic() + timeout
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, self.slice_s))
        return True

    def install(self) -> None:
        """SIGTERM and SIGINT ask to stop (only the main thread may install handlers)."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = True  # no lock, no call that may take one: see the module docstring
