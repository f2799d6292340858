"""Plain log lines for the journal: no colours, no progress bars, no timestamps (journald adds
them). Under systemd, a ``<N>`` prefix gives each line its syslog priority."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


def _is_journal(stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd gave us (``$JOURNAL_STREAM``)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class Log:
    def __init__(self, quiet: bool = False, prefix: str = "lltd watch: ") -> None:
        self.quiet = quiet
        self.prefix = prefix
        self._journal = _is_journal(sys.stderr)

    def _write(self, stream: TextIO, priority: int, message: str) -> None:
        tag = f"<{priority}>" if self._journal else ""
        # A closed or full log pipe must not stop the daemon.
        with contextlib.suppress(OSError, ValueError):
            print(f"{tag}{self.prefix}{message}", file=stream, flush=True)

    def file(self, message: str) -> None:
        """One line per processed file (silenced by --quiet)."""
        if not self.quiet:
            self._write(sys.stdout, 6, message)

    def info(self, message: str) -> None:
        self._write(sys.stdout, 6, message)

    def warning(self, message: str) -> None:
        self._write(sys.stderr, 4, message)

    def error(self, message: str) -> None:
        self._write(sys.stderr, 3, message)
