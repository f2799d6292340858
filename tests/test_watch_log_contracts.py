"""The contracts of lltd/watch/log.py (issue 27), in-process: the daemon's log lines, exactly as
written (prefix, no timestamp), their syslog priorities when stderr is the journal stream systemd
gave the daemon (``$JOURNAL_STREAM``), --quiet, and that each line is flushed as it is written.

Expected values are literals: a changed prefix or priority must fail here."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from lltd.watch.log import Log, _is_journal


def _stream_id(stream) -> str:
    st = os.fstat(stream.fileno())
    return f"{st.st_dev}:{st.st_ino}"


@pytest.fixture
def streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Opens stdout and stderr as real files (what a line left in a buffer would not show) once
    called in the test itself: pytest's capture sets its own streams after fixtures."""
    opened = []

    def swap() -> Path:
        for name in ("stdout", "stderr"):
            opened.append(open(tmp_path / name[3:], "w", encoding="utf-8"))  # noqa: SIM115
            monkeypatch.setattr(sys, name, opened[-1])
        return tmp_path

    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    yield swap
    for stream in opened:
        stream.close()


def _written(folder: Path) -> tuple[str, str]:
    """What reached the files, read by name while the streams are still open."""
    return (folder / "out").read_text(encoding="utf-8"), (folder / "err").read_text(
        encoding="utf-8"
    )


def test_the_journal_is_stderr_only_when_its_device_and_inode_are_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "a", "w") as a, open(tmp_path / "b", "w") as b:
        monkeypatch.setenv("JOURNAL_STREAM", _stream_id(a))
        assert _is_journal(a) is True
        assert _is_journal(b) is False
        monkeypatch.delenv("JOURNAL_STREAM")
        assert _is_journal(a) is False


def test_a_stream_without_a_descriptor_is_not_the_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "0:0")
    assert _is_journal(io.StringIO()) is False  # fileno() raises io.UnsupportedOperation
    assert _is_journal(object()) is False  # type: ignore[arg-type]  # no fileno at all


def test_plain_lines_carry_the_prefix_and_nothing_else(streams) -> None:
    folder = streams()
    log = Log()
    log.file("a.png: defended")
    log.info("started")
    log.warning("slow disk")
    log.error("broken.png: not an image")
    assert _written(folder) == (
        "lltd watch: a.png: defended\nlltd watch: started\n",
        "lltd watch: slow disk\nlltd watch: broken.png: not an image\n",
    )


def test_quiet_silences_the_per_file_lines_only(streams) -> None:
    folder = streams()
    log = Log(quiet=True, prefix="p: ")
    log.file("a.png: defended")
    log.info("started")
    log.error("failed")
    assert _written(folder) == ("p: started\n", "p: failed\n")


def test_under_the_journal_each_line_carries_its_syslog_priority(
    streams, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = streams()
    monkeypatch.setenv("JOURNAL_STREAM", _stream_id(sys.stderr))
    log = Log()
    log.file("a.png: defended")
    log.info("started")
    log.warning("slow disk")
    log.error("failed")
    assert _written(folder) == (
        "<6>lltd watch: a.png: defended\n<6>lltd watch: started\n",
        "<4>lltd watch: slow disk\n<3>lltd watch: failed\n",
    )


def test_a_closed_log_stream_does_not_stop_the_daemon(
    streams, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = streams()
    log = Log()
    closed = open(folder / "closed", "w")  # noqa: SIM115
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    log.error("nobody reads this")  # ValueError on a closed file: swallowed
    log.info("still logging")
    assert _written(folder)[0] == "lltd watch: still logging\n"
