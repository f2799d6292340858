"""The kernel's inotify queue overflows for real (``fs.inotify.max_queued_events`` is a
machine-wide setting, so the test floods the queue instead of lowering it): the files whose
events were lost are done at once by a rescan, not at the next periodic one (here: never)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from test_watch_daemon import Watch, png_bytes
from waiting import wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")


def max_queued_events() -> int:
    try:
        return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    except OSError:
        return 16384


def flood(path: Path, events: int) -> None:
    """Open and close ``path`` (two events each) far faster than any reader can take them."""
    for _ in range(events // 2):
        os.close(os.open(path, os.O_RDONLY))


def test_overflow_rescans_at_once(tmp_path: Path) -> None:
    inp, out, staging = tmp_path / "in", tmp_path / "out", tmp_path / "staging"
    inp.mkdir()
    staging.mkdir()
    noise = inp / "noise.txt"  # not an image: only its events matter
    noise.write_text("x")
    count = 60
    for i in range(count):
        (staging / f"f{i}.png").write_bytes(png_bytes(i, size=8))
    status = tmp_path / "status.json"
    # --rescan 0: no periodic rescan, so only the overflow's rescan can find the lost files.
    watch = Watch(
        tmp_path, inp, "-o", out, "-j", "1", "--rescan", "0", "--status-file", status, "--quiet"
    )
    try:
        watch.wait_ready()
        burst = 4 * max_queued_events()
        for batch in range(3):
            flood(noise, burst)
            # Renamed in while the queue is full: their events are the ones the kernel drops.
            for i in range(batch * count // 3, (batch + 1) * count // 3):
                os.rename(staging / f"f{i}.png", inp / f"f{i}.png")
            flood(noise, burst)
        wait_until(lambda: "overflowed" in watch.stderr, 30, "the overflow to be reported")
        wait_until(
            lambda: len(list((inp / ".lltd" / "done").glob("*.png"))) == count,
            60,
            f"all {count} files done after the overflow",
        )
        wait_until(lambda: json.loads(status.read_text())["overflows"] >= 1, 60, "the count")
    finally:
        assert watch.stop() == 0
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"f{i}.png" for i in range(count))
    assert "the kernel's inotify event queue overflowed: rescanning now" in watch.stderr
    # Our line replaces watchdog's own warning.
    assert "filesystem events were lost" not in watch.stderr
