"""One batch run per folder: a ``flock`` on the folder itself.

Locking the directory's own descriptor writes nothing into the user's folder, and the kernel
drops the lock when the process dies (SIGKILL included), so a crash never leaves a stale lock.
The folder a run writes into is locked exclusively; an input folder it only reads is locked
shared, so two conversions of one folder into two places may run together while a ``--r`` run
(which writes into its input folder) excludes every other run on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lltd.common.errors import UsageError
from lltd.common.text import printable


@contextlib.contextmanager
def folder_locks(writes: Path, reads: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``writes`` and a shared one on ``reads`` (when it differs)."""
    held: list[int] = []
    try:
        held.append(_lock(writes, fcntl.LOCK_EX))
        if reads is not None and reads.resolve() != writes.resolve():
            held.append(_lock(reads, fcntl.LOCK_SH))
        yield
    finally:
        for fd in held:
            os.close(fd)  # closing drops the flock


def _lock(folder: Path, kind: int) -> int:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot open {printable(folder)}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(
            f"another lltd run is using {printable(folder)}; wait for it to finish"
        ) from None
    except OSError:  # a file system without flock: run unlocked rather than not at all
        pass
    return fd
