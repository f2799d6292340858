"""Small pieces the jobs share."""

from __future__ import annotations

import contextlib
from pathlib import Path

from lltd.atomic import copy_atomic, write_bytes_atomic
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task


def file_size(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return 0


def quarantine(
    task: Task, folder: Path, reason: str, *, with_reason_file: bool = False
) -> FileResult:
    """Copy a bad input to ``folder`` (keeping its relative path) and report the failure.

    The copy is best effort: an unreadable input cannot be copied, and the failure is reported
    all the same.
    """
    destination = folder / task.relative
    output: str | None = None
    with contextlib.suppress(OSError):
        copy_atomic(task.source, destination)
        output = str(destination)
    if with_reason_file:
        with contextlib.suppress(OSError):
            reason_file = destination.with_name(destination.name + ".error.txt")
            write_bytes_atomic(reason_file, f"{task.source}: {reason}\n".encode())
    return FileResult(
        str(task.source), output, Outcome.FAILED, bytes_before=file_size(task.source), error=reason
    )


def is_up_to_date(output: Path, source: Path) -> bool:
    """An output exists (atomic writes make it complete) and is not older than its input."""
    try:
        return output.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False
