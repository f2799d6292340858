"""``lltd watch --queue-size N``: at most N files that arrived while the daemon runs wait for a
worker; files found by a scan (the backlog at start-up) are queued ahead of them without that
bound. The status file says which is which (``backlog``, ``arrivals``, ``queue_size``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
from PIL import Image
from test_watch_promises import drop, png, status_of, watching, worker_pids
from waiting import wait_for

QUEUE_SIZE = 2
BACKLOG = 8
ARRIVALS = 5


def big_png(path: Path, seed: int) -> None:
    """A 600x600 picture: a backlog that takes the worker a while, cheap to write."""
    yy, xx = np.mgrid[0:600, 0:600]
    base = ((xx * (seed + 1) + yy * 3) % 256).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.dstack([base, base.T, base[::-1]])).save(path, compress_level=1)
    os.utime(path, (1e9, 1e9))  # long before the daemon: the backlog


def test_queue_size_bounds_the_arrivals_waiting_not_the_backlog(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    for i in range(BACKLOG):
        big_png(inp / f"old{i:02}.png", i)
    samples: list[dict] = []

    def sample() -> dict:
        samples.append(status_of(status))
        return samples[-1]

    args = ("-j", "1", "--queue-size", str(QUEUE_SIZE), "--worker-idle", "600")
    with watching(tmp_path, inp, "-o", out, *args) as (daemon, status, _):
        assert sample()["queue_size"] == QUEUE_SIZE
        wait_for(lambda: worker_pids(daemon.pid), "the worker to start on the backlog")
        (worker,) = worker_pids(daemon.pid)
        os.kill(worker, signal.SIGSTOP)  # nothing finishes now: the queue can only fill up
        try:
            for i in range(ARRIVALS):
                drop(inp / f"new{i}.png", png(i))
            wait_for(lambda: sample().get("arrivals") == QUEUE_SIZE, "the arrivals queue full")
            held = sample()
            # The backlog waits beyond the bound; the other arrivals wait on disk, unqueued.
            assert held["backlog"] > QUEUE_SIZE, held
            assert held["queued"] == held["backlog"] + QUEUE_SIZE, held
            assert 1 <= held["in_flight"] <= 2, held  # the file on the worker, and its next
            done = held["processed"] + held["failed"]
            assert done + held["in_flight"] + held["backlog"] == BACKLOG, held
        finally:
            os.kill(worker, signal.SIGCONT)
        wait_for(lambda: sample().get("processed") == BACKLOG + ARRIVALS, "every file done", 300)
        wait_for(lambda: sample()["queued"] == 0, "an empty queue")
    final = status_of(status)
    assert (final["backlog"], final["arrivals"], final["failed"]) == (0, 0, 0), final
    assert max(s.get("arrivals", 0) for s in samples) == QUEUE_SIZE, samples
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        [f"old{i:02}.png" for i in range(BACKLOG)] + [f"new{i}.png" for i in range(ARRIVALS)]
    )


def test_queue_size_must_be_at_least_one(tmp_path: Path, run_lltd) -> None:
    (tmp_path / "in").mkdir()
    result = run_lltd("watch", tmp_path / "in", "-o", tmp_path / "out", "--queue-size", "0")
    assert result.returncode == 2
    assert "--queue-size" in result.stderr and "Traceback" not in result.stderr
