"""SIGTERM stops the daemon whatever its main thread is doing (``lltd.watch.stopping``).

The daemon's main loop lives in ``Event.wait(TICK)``. Python runs a signal handler in the main
thread between two bytecodes, so it can run while that thread holds the wait's own lock; the
handler used to call ``Event.set()``, which then waited for that lock forever: a ``--shared``
daemon under load ignored SIGTERM for 40 s (tests/test_watch_shared.py, /tmp/fswatch-full2.log).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from lltd.watch.stopping import StopRequest


@pytest.fixture
def stop() -> Iterator[StopRequest]:
    """A request with SIGTERM/SIGINT installed in this (the main) thread, restored after."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    request = StopRequest()
    request.install()
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


# A handler that waits for the lock deadlocks this test; pytest-timeout's SIGALRM then fails it.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_landing_while_the_main_thread_holds_the_waits_lock_stops_it(
    stop: StopRequest, signum: int
) -> None:
    with stop._event._cond:  # what Event.wait() holds between its first bytecodes
        os.kill(os.getpid(), signum)
        # The handler runs at this thread's next check for signals, with the lock still held.
        for _ in range(100_000):
            if stop.is_set():
                break
            signal.getsignal(signum)  # a call: one more check for pending signals
        assert stop.is_set(), "the handler did not run"
    assert stop.wait(0)


@pytest.mark.timeout(120)
def test_a_signal_during_a_long_wait_ends_it(stop: StopRequest) -> None:
    """A wait of an hour (the object-store watcher waits a poll period) returns on SIGTERM."""
    sender = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    sender.start()
    try:
        assert stop.wait(3600)
    finally:
        sender.cancel()
        sender.join()


def test_a_request_from_another_thread_ends_a_wait() -> None:
    stop = StopRequest()
    asker = threading.Thread(target=stop.set)
    asker.start()
    assert stop.wait(3600)
    asker.join()
    assert stop.is_set()


def test_without_a_request_a_wait_times_out() -> None:
    stop = StopRequest()
    assert not stop.wait(0.01)
    assert not stop.is_set()


def test_a_wait_without_a_stop_never_ends_before_its_timeout() -> None:
    """A lower bound only: load can make a wait longer, never shorter."""
    stop = StopRequest(slice_s=0.01)
    started = time.monotonic()
    assert stop.wait(0.3) is False
    assert time.monotonic() - started >= 0.3
    stop.on_signal(15, None)
    assert stop.is_set() and stop.wait(60) is True
