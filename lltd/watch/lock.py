"""One daemon per input folder: an exclusive ``flock`` on ``IN/.lltd/lock``.

The kernel drops the lock when the process dies, SIGKILL included, so a crash never leaves a
stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from lltd.common.errors import UsageError
from lltd.fs.entries import open_file


class FolderLock:
    def __init__(
        self, path: Path, folder: Path, dir_fd: int | None = None, *, shared: bool = False
    ) -> None:
        self.path = path
        # --shared daemons hold the lock together; one that is not shared excludes them all.
        self.shared = shared
        self.folder = folder
        self.dir_fd = dir_fd  # the state folder, opened without following links
        self._fd: int | None = None

    def acquire(self) -> None:
        # O_NOFOLLOW: a link planted as the lock must not make us truncate its target.
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            if self.dir_fd is None:
                fd = open_file(self.path, flags, 0o644)
            else:
                fd = open_file(self.path.name, flags, 0o644, dir_fd=self.dir_fd)
        except OSError as exc:
            raise UsageError(f"cannot create the lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            how = " without --shared" if self.shared else ""
            hint = "" if self.shared else " (several daemons on one folder: --shared, for all)"
            raise UsageError(
                f"another lltd watch is already running{how} on {self.folder}{who}; "
                f"it holds {self.path}{hint}"
            ) from None
        self._fd = fd
        # Empty for --shared too: the pid of an exclusive daemon that was killed must not be
        # named as the holder while shared daemons hold the lock.
        os.ftruncate(fd, 0)
        if not self.shared:
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # no stale pid for the next reader
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return text
    return ""
