"""The contracts of lltd/watch/status.py (issue 27), in-process: the daemon's counters as
systemd's ``STATUS=`` line, as the ``--status-file`` JSON a monitor reads (every key, the
last error naming its file), when they are published (only when changed, at most once per
period, always when forced), and the periodic ``summary:`` log line.

Expected values are literals: a renamed key or a changed line must fail here."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lltd.watch.status import Counters, FolderCounts, Publisher, Summary, write_status_file


def two_folders() -> Counters:
    return Counters([FolderCounts("in/a", "out/a"), FolderCounts("in/b", "out/b")])


# --- Counters ---


def test_new_counters_are_starting_all_zero_and_unpublished() -> None:
    before = time.time()
    c = two_folders()
    assert before <= c.started <= time.time()
    assert (c.state, c.processed, c.failed, c.queued, c.in_flight) == ("starting", 0, 0, 0, 0)
    assert (c.settling, c.backlog, c.arrivals, c.rescans, c.overflows) == (0, 0, 0, 0, 0)
    assert (c.queue_size, c.last_error, c.outcomes()) == (None, None, {})
    assert c.dirty is True  # the first publish shows the start


def test_each_file_counts_in_its_folder_and_by_outcome() -> None:
    c = two_folders()
    c.dirty = False
    c.count(0, failed=False)
    assert c.dirty is True
    c.count(1, failed=False, outcome="skipped")
    c.count(1, failed=False, outcome="skipped")
    c.count(1, failed=True, error="not an image")
    c.count(1, failed=True, error="not an image")
    c.count(0, failed=True, error="too large", outcome="refused")
    assert [(f.processed, f.failed) for f in c.folders] == [(1, 1), (2, 2)]
    assert (c.processed, c.failed) == (3, 3)
    assert c.outcomes() == {"converted": 1, "skipped": 2, "failed": 2, "refused": 1}


def test_outcomes_is_a_copy() -> None:
    c = two_folders()
    c.count(0, failed=False)
    c.outcomes()["converted"] = 99
    assert c.outcomes() == {"converted": 1}


@pytest.mark.parametrize(
    ("error", "source", "last_error"),
    [
        ("not an image", "a/x.png", "a/x.png: not an image"),
        (None, "a/x.png", "a/x.png: failed"),
        ("", "a/x.png", "a/x.png: failed"),
        ("not an image", "a/\nx\x1b.png", "a/\\nx\\x1b.png: not an image"),  # one line
        ("not an image", None, "not an image"),
        (None, None, None),
    ],
)
def test_a_failure_sets_last_error_naming_its_source(
    error: str | None, source: str | None, last_error: str | None
) -> None:
    c = two_folders()
    c.count(0, failed=True, error=error, source=source)
    assert c.last_error == last_error


def test_a_success_leaves_last_error_alone() -> None:
    c = two_folders()
    c.count(0, failed=True, error="bad", source="x.png")
    c.count(0, failed=False, error="ignored", source="y.png")
    assert c.last_error == "x.png: bad"


def test_gauges_split_the_queue_and_mark_a_change_only_when_there_is_one() -> None:
    c = two_folders()
    c.set_gauges(backlog=4, arrivals=2, settling=3, in_flight=1)
    assert (c.queued, c.backlog, c.arrivals, c.settling, c.in_flight) == (6, 4, 2, 3, 1)
    c.dirty = False
    c.set_gauges(backlog=4, arrivals=2, settling=3, in_flight=1)
    assert c.dirty is False  # an idle daemon publishes nothing
    for changed in ((5, 2, 3, 1), (4, 3, 3, 1), (4, 2, 4, 1), (4, 2, 3, 2), (3, 3, 3, 1)):
        c.set_gauges(*changed)
        assert c.dirty is True, changed
        c.set_gauges(4, 2, 3, 1)
        c.dirty = False


def test_the_status_line_is_processed_failed_queued_in_flight() -> None:
    c = two_folders()
    c.count(0, failed=False)
    c.count(1, failed=False)
    c.count(1, failed=True)
    c.set_gauges(backlog=2, arrivals=1, settling=7, in_flight=4)
    assert c.line() == "processed 2, failed 1, queued 3, in flight 4"


# --- the status file ---


def busy_counters() -> Counters:
    c = two_folders()
    c.state = "running"
    c.queue_size = 1000
    c.count(0, failed=False)
    c.count(1, failed=False)
    c.count(1, failed=True, error="not an image", source="b/x.png")
    c.set_gauges(backlog=5, arrivals=2, settling=1, in_flight=3)
    c.rescans, c.overflows = 2, 1
    return c


def test_to_json_has_every_key_a_monitor_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    c = busy_counters()
    c.started = 1700000000.123456
    monkeypatch.setattr(time, "time", lambda: 1700000060.98765)
    assert c.to_json() == {
        "pid": os.getpid(),
        "state": "running",
        "started": 1700000000.123,  # milliseconds: enough for a monitor
        "updated": 1700000060.988,
        "processed": 2,
        "failed": 1,
        "queued": 7,
        "settling": 1,
        "backlog": 5,
        "arrivals": 2,
        "queue_size": 1000,
        "in_flight": 3,
        "rescans": 2,
        "overflows": 1,
        "last_error": "b/x.png: not an image",
        "folders": [
            {"input": "in/a", "output": "out/a", "processed": 1, "failed": 0},
            {"input": "in/b", "output": "out/b", "processed": 1, "failed": 1},
        ],
    }


def test_to_json_folders_are_copies() -> None:
    c = busy_counters()
    c.to_json()["folders"][0]["processed"] = 99  # type: ignore[index]
    assert c.folders[0].processed == 1


def test_the_status_file_is_the_json_indented_by_two_with_a_final_newline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "status.json"
    path.write_text("an older, longer status file\n" * 10)
    write_status_file(path, busy_counters())
    text = path.read_text()
    assert text.startswith('{\n  "pid": ') and text.endswith("\n  ]\n}\n")
    assert '\n  "last_error": "b/x.png: not an image",\n' in text
    found = json.loads(text)
    assert (found["state"], found["queued"], found["folders"][1]["failed"]) == ("running", 7, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json"]  # no temporary left


# --- when it is published ---


class Sink:
    def __init__(self) -> None:
        self.notified: list[str] = []
        self.warnings: list[str] = []


def publisher(
    c: Counters, path: Path | None, period: float | None = None
) -> tuple[Publisher, Sink]:
    sink = Sink()
    if period is None:
        return Publisher(c, sink.notified.append, path, sink.warnings.append), sink
    return Publisher(c, sink.notified.append, path, sink.warnings.append, period), sink


def test_the_first_publish_is_at_once_and_writes_line_and_file(tmp_path: Path) -> None:
    c = two_folders()
    path = tmp_path / "status.json"
    pub, sink = publisher(c, path)
    pub.publish(0.0)
    assert sink.notified == ["processed 0, failed 0, queued 0, in flight 0"]
    assert json.loads(path.read_text())["state"] == "starting"
    assert c.dirty is False and sink.warnings == []


def test_changes_are_published_at_most_once_per_quarter_second_by_default(
    tmp_path: Path,
) -> None:
    c = two_folders()
    path = tmp_path / "status.json"
    pub, sink = publisher(c, path)
    pub.publish(10.0)
    c.count(0, failed=False)
    pub.publish(10.2)  # within the period: later
    assert len(sink.notified) == 1 and json.loads(path.read_text())["processed"] == 0
    assert c.dirty is True
    pub.publish(10.25)
    assert sink.notified[-1] == "processed 1, failed 0, queued 0, in flight 0"
    assert json.loads(path.read_text())["processed"] == 1
    pub.publish(20.0)  # nothing changed: nothing published however long after
    assert len(sink.notified) == 2


def test_the_period_given_is_the_one_kept() -> None:
    c = two_folders()
    pub, sink = publisher(c, None, period=2.0)
    pub.publish(0.0)
    c.count(0, failed=False)
    pub.publish(1.9)
    assert len(sink.notified) == 1
    pub.publish(2.0)
    assert len(sink.notified) == 2


def test_force_publishes_unchanged_counters_within_the_period(tmp_path: Path) -> None:
    # Start, stop and state changes are published whatever the clock says.
    c = two_folders()
    path = tmp_path / "status.json"
    pub, sink = publisher(c, path)
    pub.publish(5.0)
    c.state = "stopping"
    pub.publish(5.01, force=True)
    assert len(sink.notified) == 2
    assert json.loads(path.read_text())["state"] == "stopping"


def test_without_a_status_file_only_the_line_is_published(tmp_path: Path) -> None:
    c = two_folders()
    pub, sink = publisher(c, None)
    pub.publish(0.0)
    assert sink.notified == ["processed 0, failed 0, queued 0, in flight 0"]
    assert sink.warnings == [] and list(tmp_path.iterdir()) == []


def test_a_status_file_that_cannot_be_written_is_one_warning_and_the_line_still_goes(
    tmp_path: Path,
) -> None:
    c = two_folders()
    path = tmp_path / ("status\n" + "x" * 300)
    pub, sink = publisher(c, path)
    pub.publish(0.0)
    assert sink.notified == ["processed 0, failed 0, queued 0, in flight 0"]
    assert sink.warnings == [f"cannot write {tmp_path}/status\\n{'x' * 300}: File name too long"]
    assert c.dirty is False  # not retried at every tick: the next change tries again


@pytest.mark.parametrize("kind", ["a folder", "a symbolic link"])
def test_a_status_file_replaced_by_a_link_or_folder_is_a_warning_not_the_daemons_end(
    tmp_path: Path, kind: str
) -> None:
    # Checked at start-up; replaced while running, it was an error that stopped the daemon.
    c = two_folders()
    path = tmp_path / "status.json"
    pub, sink = publisher(c, path)
    pub.publish(0.0)
    path.unlink()
    if kind == "a folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "elsewhere.json")
    c.count(0, failed=False)
    pub.publish(1.0)
    assert sink.notified[-1] == "processed 1, failed 0, queued 0, in flight 0"
    shown = "folder" if kind == "a folder" else "symbolic link"
    assert sink.warnings == [f"refusing to write {path}: it exists and is a {shown}"]
    assert not (tmp_path / "elsewhere.json").exists()


# --- the summary line ---


def test_the_summary_interval_defaults_to_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "3")
    assert Summary(two_folders(), print).every == 3.0
    monkeypatch.delenv("LLTD_PROGRESS_INTERVAL")
    assert Summary(two_folders(), print).every == 10.0
    assert Summary(two_folders(), print, every=0).every == 0


def test_the_summary_waits_one_interval_from_its_first_tick() -> None:
    c = two_folders()
    lines: list[str] = []
    summary = Summary(c, lines.append, every=10)
    c.count(0, failed=False)
    summary.tick(100.0)  # the first tick starts the interval
    summary.tick(109.9)
    assert lines == []
    summary.tick(110.0)
    assert lines == ["summary: processed 1 (+1), failed 0 (+0), queued 0, in flight 0"]


def test_the_summary_counts_from_zero_and_shows_the_change_since_its_last_line() -> None:
    c = two_folders()
    lines: list[str] = []
    summary = Summary(c, lines.append, every=0)
    summary.tick(0.0)
    assert lines == []  # nothing done yet
    c.count(0, failed=True)
    summary.tick(1.0)
    c.count(0, failed=False)
    c.count(1, failed=False)
    c.count(1, failed=True)
    summary.tick(2.0)
    c.set_gauges(backlog=1, arrivals=0, settling=0, in_flight=0)
    summary.tick(3.0)  # the queue alone changed
    c.set_gauges(backlog=1, arrivals=0, settling=0, in_flight=2)
    summary.tick(4.0)  # in flight alone changed
    c.set_gauges(backlog=1, arrivals=0, settling=5, in_flight=2)
    summary.tick(5.0)  # settling is not in the line: nothing
    assert lines == [
        "summary: processed 0 (+0), failed 1 (+1), queued 0, in flight 0",
        "summary: processed 2 (+2), failed 2 (+1), queued 0, in flight 0",
        "summary: processed 2 (+0), failed 2 (+0), queued 1, in flight 0",
        "summary: processed 2 (+0), failed 2 (+0), queued 1, in flight 2",
    ]


def test_an_idle_interval_restarts_the_next_one() -> None:
    c = two_folders()
    lines: list[str] = []
    summary = Summary(c, lines.append, every=10)
    summary.tick(0.0)
    summary.tick(10.0)  # nothing changed: no line, the next interval starts here
    c.count(0, failed=False)
    summary.tick(15.0)
    assert lines == []
    summary.tick(20.0)
    assert lines == ["summary: processed 1 (+1), failed 0 (+0), queued 0, in flight 0"]
