"""The batch report's contracts, in-process: the failure, stop and debug lines word for word,
the progress shown on a terminal (a bar) and in a log (plain lines), webp-converter's summary
and flip/defend's, the JSON totals and the exit code (issue 27)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from lltd.batch import report
from lltd.batch.outcome import FileResult, Outcome, Totals
from lltd.batch.report import (
    batch_summary,
    compress_summary,
    exit_code,
    failure_line,
    progress_reporter,
    stopped_line,
    write_json_report,
)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Log(io.StringIO):
    """A log file: remembers how much of its text had been flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = ""

    def flush(self) -> None:
        self.flushed = self.getvalue()


class Terminal(Log):
    def isatty(self) -> bool:
        return True


def done(name: str, output: str | None = None) -> FileResult:
    return FileResult(name, output, Outcome.CONVERTED)


def failed(name: str, error: str | None = "not an image") -> FileResult:
    return FileResult(name, None, Outcome.FAILED, error=error)


def test_a_failure_is_one_line_naming_the_file_and_the_reason() -> None:
    assert failure_line(failed("a\nb.png", "bad\nheader")) == (
        "lltd: failed: a\\nb.png: bad\\nheader"
    )
    assert failure_line(failed("c.png", None)) == "lltd: failed: c.png: failed"


def test_a_stopped_batch_says_why_where_and_how_far_it_got() -> None:
    results = [
        done("a.png"),
        FileResult("b.png", None, Outcome.FAILED, error="disk full", stop=True),
    ]
    assert stopped_line(results, 5) == (
        "lltd: error: disk full (writing the output of b.png); stopped after 2 of 5 files, "
        "no partial file left"
    )
    assert stopped_line([done("a.png"), failed("b.png")], 2) is None


def test_the_exit_code_is_1_when_a_file_failed_and_0_otherwise() -> None:
    assert exit_code(Totals.of([done("a"), failed("b")], 0.0)) == 1
    assert exit_code(Totals.of([done("a")], 0.0)) == 0


def test_a_log_gets_failures_and_a_flushed_progress_line_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    log = Log()
    with progress_reporter(2, "compress", quiet=False, debug=False, stream=log) as on_result:
        on_result(failed("a.png"))
        assert log.flushed == log.getvalue()
        on_result(done("b.png", "b.webp"))
        assert log.flushed == log.getvalue()
    lines = log.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0] == "lltd: failed: a.png: not an image"
    assert lines[1].startswith("lltd: compress: 1/2 files (50 %), ")
    assert lines[2].startswith("lltd: compress: 2/2 files (100 %), ")


def test_a_log_of_a_one_file_batch_gets_its_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    log = Log()
    with progress_reporter(1, "flip", quiet=False, debug=False, stream=log) as on_result:
        on_result(done("a.png"))
    assert log.getvalue().startswith("lltd: flip: 1/1 files (100 %), ")


@pytest.mark.parametrize("stream", [Log, Terminal])
def test_quiet_shows_only_the_failures(monkeypatch: pytest.MonkeyPatch, stream: type[Log]) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    out = stream()
    with progress_reporter(2, "compress", quiet=True, debug=False, stream=out) as on_result:
        on_result(done("a.png"))
        on_result(failed("b.png"))
    assert out.getvalue() == "lltd: failed: b.png: not an image\n"
    assert out.flushed == out.getvalue()


@pytest.mark.parametrize("stream", [Log, Terminal])
def test_an_empty_batch_shows_no_progress(
    monkeypatch: pytest.MonkeyPatch, stream: type[Log]
) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    out = stream()
    with progress_reporter(0, "compress", quiet=False, debug=False, stream=out) as on_result:
        on_result(done("late.png"))  # even a result the count missed
    assert out.getvalue() == ""


def test_debug_names_every_file_and_its_output() -> None:
    log = Log()
    with progress_reporter(2, "flip", quiet=True, debug=True, stream=log) as on_result:
        on_result(done("a\tb.png", "out/a.png"))
        on_result(FileResult("c.png", None, Outcome.NAME_MATCH))
    assert log.getvalue() == (
        "lltd: converted: a\\tb.png -> out/a.png\nlltd: name_match: c.png -> \n"
    )


def _terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    return Terminal()


def test_a_terminal_gets_a_bar_named_by_the_label_not_log_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = _terminal(monkeypatch)
    threads = threading.active_count()
    with progress_reporter(1, "compress", quiet=False, debug=False, stream=term) as on_result:
        # No refresh thread: worker processes are forked while the bar is live.
        assert threading.active_count() == threads
        on_result(done("a.png"))
    shown = ANSI.sub("", term.getvalue())
    assert "files/s" not in shown  # no log line
    assert re.search(r"(^|\r|\n)compress ", shown)
    assert "0/1" in shown


def test_a_failure_on_a_terminal_is_printed_verbatim_above_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = _terminal(monkeypatch)
    with progress_reporter(2, "compress", quiet=False, debug=False, stream=term) as on_result:
        on_result(failed("[b]x[/b] 12.png", "code 12 at /tmp/x"))
        on_result(done("c.png"))
    assert "lltd: failed: [b]x[/b] 12.png: code 12 at /tmp/x\n" in term.getvalue()
    assert term.flushed == term.getvalue()


def test_the_bar_is_gone_when_the_batch_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    term = _terminal(monkeypatch)
    with progress_reporter(1, "compress", quiet=False, debug=False, stream=term) as on_result:
        on_result(done("a.png"))
    # transient: the last thing written erases the bar's line (no bar left above the summary)
    assert term.getvalue().endswith("\x1b[2K")


def test_the_bar_is_redrawn_at_most_every_tenth_of_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    term = _terminal(monkeypatch)
    clock = iter([0.1, 0.2, 0.25, 0.3])
    monkeypatch.setattr(report, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    with progress_reporter(4, "compress", quiet=False, debug=False, stream=term) as on_result:
        for name in ("a", "b", "c", "d"):
            on_result(done(name))
    shown = ANSI.sub("", term.getvalue())
    assert "1/4" not in shown  # 0.1 s after start: not more than 0.1 s
    assert shown.count("2/4") == 1  # 0.2 s: redrawn
    assert "3/4" not in shown  # 0.25 s: 0.05 s after the last draw, not redrawn


def _totals(**counts: int) -> Totals:
    totals = Totals(scanned=sum(counts.values()), saved_bytes=1536, seconds=1.23456)
    for name, count in counts.items():
        totals.counts[Outcome[name]] = count
    return totals


def test_compress_summary_in_webp_converters_words() -> None:
    totals = _totals(CONVERTED=3, ALREADY_DONE=2, FAILED=1, LARGER=4)
    rule = "-" * 47
    assert compress_summary(totals, output=Path("/out"), replaced_in=None) == "\n".join(
        [
            rule,
            "All files handled on: /out",
            "Consume: 1.235s",
            "",
            "Scan files count: 10",
            "Converted files count: 3",
            "Already converted files count: 2",
            "Reduce size: 1.50 KB",
            "Skip files(because convert failed) count: 1",
            "Skip files(because the webp one is greater than origin one) count: 4",
            rule,
        ]
    )


def test_compress_summary_of_a_replacing_run_with_transparency_and_name_skips() -> None:
    totals = _totals(CONVERTED=3, TRANSPARENCY=2, NAME_MATCH=1)
    lines = compress_summary(totals, output=Path("/out"), replaced_in=Path("/in")).split("\n")
    assert lines[1] == "Replace 3 image files on /in"
    assert lines[-3:] == [
        "Skip files(because there is transparency) count: 2",
        "Skip files(because the filename matched) count: 1",
        "-" * 47,
    ]


def test_flip_and_defend_summary_counts_and_output() -> None:
    totals = _totals(CONVERTED=3, ALREADY_DONE=2, FAILED=1, NAME_MATCH=1)
    rule = "-" * 47
    assert batch_summary(totals, verb="flip", output=Path("/out")) == "\n".join(
        [
            rule,
            "Flip: 3 written, 2 already done, 1 failed of 7 files in 1.235s",
            "Output: /out",
            rule,
        ]
    )
    assert batch_summary(totals, verb="defend", output=None) == "\n".join(
        [rule, "Defend: 3 written, 2 already done, 1 failed of 7 files in 1.235s", rule]
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_json_report_totals_count_the_bytes_of_its_records(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"12345")
    (tmp_path / "a.webp").write_bytes(b"123")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "bad.png").write_bytes(b"1234567")
    gone = str(tmp_path / "gone.png")  # an original the run deleted: its facts taken before
    (tmp_path / "gone.webp").write_bytes(b"12")
    results = [
        # the counts a job reported (50, 30) give way to the files' own (5, 3)
        FileResult(str(tmp_path / "a.png"), str(tmp_path / "a.webp"), Outcome.CONVERTED, 50, 30),
        FileResult(str(tmp_path / "empty.png"), None, Outcome.FAILED, error="empty"),
        FileResult(str(tmp_path / "bad.png"), None, Outcome.FAILED, error="bad"),
        FileResult(gone, str(tmp_path / "gone.webp"), Outcome.CONVERTED, 11, 2),
    ]
    facts = {gone: {"sha256": _sha(b"x" * 11), "pixels": [2, 3], "bytes": 11}}
    path = tmp_path / "report.json"
    write_json_report(
        path,
        "compress",
        results,
        Totals.of(results, 0.5),
        facts,
        input=str(tmp_path),
        settings={"quality": 80},
    )
    text = path.read_text()
    data = json.loads(text)
    assert text == json.dumps(data, indent=2) + "\n"
    assert data["settings"] == {"quality": 80}
    assert data["files"][3]["input_sha256"] == _sha(b"x" * 11)
    assert data["files"][3]["input_pixels"] == [2, 3]
    assert data["files"][1]["bytes_before"] == 0
    assert data["files"][1]["bytes_after"] is None
    totals = data["totals"]
    assert list(totals) == [
        "files",
        *(outcome.value for outcome in Outcome),
        "bytes_before",
        "bytes_after",
        "saved_bytes",
        "seconds",
    ]
    assert totals["files"] == 4
    assert totals["bytes_before"] == 5 + 0 + 7 + 11
    assert totals["bytes_after"] == 3 + 2  # no output: nothing counted
    assert totals["converted"] == 2
    assert totals["failed"] == 2
    assert totals["saved_bytes"] == (50 - 30) + (11 - 2)  # as the jobs reported them


def test_flip_and_defend_reports_say_already_done_and_no_saved_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"1234")
    (tmp_path / "out.png").write_bytes(b"123456")
    results = [
        FileResult(str(tmp_path / "a.png"), str(tmp_path / "out.png"), Outcome.ALREADY_DONE, 4, 6)
    ]
    path = tmp_path / "report.json"
    write_json_report(path, "flip", results, Totals.of(results, 0.0))
    data = json.loads(path.read_text())
    assert data["settings"] == {}
    assert data["files"][0]["outcome"] == "already_done"
    assert "saved_bytes" not in data["files"][0]
    assert data["totals"]["already_done"] == 1
    assert "already_converted" not in data["totals"]
    assert "saved_bytes" not in data["totals"]
    assert (data["totals"]["bytes_before"], data["totals"]["bytes_after"]) == (4, 6)
