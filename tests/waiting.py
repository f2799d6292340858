"""Waiting for an event (a file, a log line, a counter, a port) instead of for a guessed time.

The timeouts are generous on purpose: a test that passes never waits that long, and a busy 2-core
CI machine (``tests/load.sh``) may stall any process for seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

TIMEOUT = 120.0


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """:func:`wait_for` with the argument order of the watch tests."""
    wait_for(condition, what, timeout)
