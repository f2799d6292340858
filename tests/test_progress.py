"""Progress where long work runs and nobody watches a terminal (issue 26 item 5): the batch
commands print one plain line per interval (10 s; the tests set ``LLTD_PROGRESS_INTERVAL``),
``--quiet`` prints none, and the watch daemon logs a summary when something changed. The
interval is injected: no test waits for it or measures time."""

from __future__ import annotations

import re

import pytest
from conftest import RunLltd

from lltd.common.progress import Ticker, interval
from lltd.watch.status import Counters, FolderCounts, Summary

LINE = re.compile(r"^lltd: (compress|flip|defend): (\d+)/(\d+) files \(\d+ %\), [0-9.e+]+ files/s")


@pytest.mark.parametrize("command", ["compress", "flip", "defend"])
def test_a_log_gets_plain_progress_lines(command, run_lltd: RunLltd, sample_dir, tmp_path):
    argv = (command, sample_dir, "-o", tmp_path / "out")
    loud = run_lltd(*argv, env={"LLTD_PROGRESS_INTERVAL": "0"})  # a line per file
    assert loud.returncode == 0, loud.stderr
    found = [LINE.match(line) for line in loud.stderr.splitlines()]
    counts = [int(m.group(2)) for m in found if m]
    assert counts == list(range(1, 11)), loud.stderr
    assert all(m.group(1) == command and m.group(3) == "10" for m in found if m)
    assert "\x1b[" not in loud.stderr and "\r" not in loud.stderr  # no bar codes in a log
    quiet = run_lltd(*argv, "--force" if command != "compress" else "--c", "--quiet",
                     env={"LLTD_PROGRESS_INTERVAL": "0"})  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout == ""


def test_ticker_counts_rate_and_time_left() -> None:
    now = [0.0]
    lines: list[str] = []
    ticker = Ticker(100, "lltd: defend", lines.append, every=10, clock=lambda: now[0])
    for done, at in ((10, 4.0), (25, 10.0), (30, 12.0), (60, 20.0), (100, 40.0)):
        now[0] = at
        ticker.update(done)
    assert lines == [
        "lltd: defend: 25/100 files (25 %), 2.5 files/s, about 30 s left",
        "lltd: defend: 60/100 files (60 %), 3 files/s, about 13 s left",
        "lltd: defend: 100/100 files (100 %), 2.5 files/s",
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0.0), ("2.5", 2.5), ("-1", 10.0), ("soon", 10.0)]
)
def test_the_interval_comes_from_the_environment(value, expected) -> None:
    assert interval({"LLTD_PROGRESS_INTERVAL": value}) == expected
    assert interval({}) == 10.0


def test_daemon_summary_only_when_something_changed() -> None:
    counters = Counters([FolderCounts("in", "out")])
    lines: list[str] = []
    summary = Summary(counters, lines.append, every=10)
    summary.tick(0.0)
    counters.count(0, failed=False)
    counters.count(0, failed=True, error="bad")
    counters.set_gauges(backlog=2, arrivals=1, settling=0, in_flight=1)
    summary.tick(5.0)  # within the interval: nothing yet
    summary.tick(10.0)
    summary.tick(20.0)  # nothing changed: an idle daemon writes nothing
    counters.count(0, failed=False)
    summary.tick(30.0)
    assert lines == [
        "summary: processed 1 (+1), failed 1 (+1), queued 3, in flight 1",
        "summary: processed 2 (+1), failed 1 (+0), queued 3, in flight 1",
    ]


@pytest.mark.parametrize("quiet", [False, True])
def test_the_daemon_logs_its_summary_unless_quiet(quiet: bool, tmp_path) -> None:
    from test_watch_daemon import Watch, png_bytes, write_old
    from waiting import wait_until

    inp, out = tmp_path / "in", tmp_path / "out"
    for i in range(2):
        write_old(inp / f"a{i}.png", png_bytes(i))
    flags = ["--quiet"] if quiet else []
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", *flags, env={"LLTD_PROGRESS_INTERVAL": "0"})
    try:
        watch.wait_ready()
        wait_until(lambda: len(list(out.glob("*.png"))) == 2, 60, "both files defended")
        if not quiet:
            wait_until(lambda: "summary: processed 2 (+" in watch.stdout, 30, "the summary")
    finally:
        assert watch.stop() == 0
    summaries = [line for line in watch.stdout.splitlines() if "summary: " in line]
    if quiet:
        assert summaries == [], watch.stdout
    else:
        assert summaries[-1].startswith("lltd watch: summary: processed 2 (+"), summaries
