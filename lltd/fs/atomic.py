"""Atomic file writing: a temporary dotfile beside the destination, renamed into place.

Every output lltd writes goes through here, so readers never see a partial file. Kept free of
image libraries so the storage layer and the daemon can use it cheaply.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

# Re-exported: the batch engine, the daemon and the tests import them from here.
from lltd.fs.destination import TEMP_SUFFIX, UnsafeDestination, check_destination, new_temporary_fd


class AtomicTarget:
    """A temporary path beside ``destination``; see :func:`atomic_output`.

    The writer either writes :attr:`path` by name (a codec, an external binary) or hands its
    bytes to :meth:`write`, which goes through the descriptor the file was created with (no
    second open of it, and no reading it back to hash it)."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        try:
            self.fd, name = new_temporary_fd(destination)
        except (FileNotFoundError, NotADirectoryError):
            # The first file of a folder (asked here rather than by a stat before every file).
            destination.parent.mkdir(parents=True, exist_ok=True)
            self.fd, name = new_temporary_fd(destination)
        self.path = Path(name)
        self.discarded = False  # pragma: no mutate (only its truth is read: None would do)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)

    def discard(self) -> None:
        """Do not publish: the temporary file is removed and ``destination`` is left untouched."""
        self.discarded = True

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


@contextlib.contextmanager
def atomic_output(
    destination: Path, before_publish: Callable[[Path], object] | None = None
) -> Iterator[AtomicTarget]:
    """Yield a temporary file beside ``destination``; rename it into place only on success.

    Readers never see a partial file, and an interrupted writer leaves only a dot-temp file that
    :func:`remove_stale_temporaries` can clear. ``before_publish(temp)`` runs on the complete
    temporary file just before the rename (the provenance record goes on there). A destination
    that exists and is not a regular file is refused, before and again just before the rename.
    """
    check_destination(destination)
    target = AtomicTarget(destination)
    published = False
    try:
        yield target
        if not target.discarded:
            os.fchmod(target.fd, 0o666 & ~_umask())
            if before_publish is not None:
                before_publish(target.path)
            target.close()
            check_destination(destination)
            os.replace(target.path, destination)
            published = True
    finally:
        target.close()
        if not published:
            with contextlib.suppress(FileNotFoundError):
                target.path.unlink()


def write_atomic(destination: Path, write: Callable[[BinaryIO], object]) -> int:
    """Write through ``write(fileobj)`` atomically; return the number of bytes written."""
    with atomic_output(destination) as target:
        with open(target.path, "wb") as handle:
            write(handle)
        return target.path.stat().st_size


def write_bytes_atomic(destination: Path, data: bytes) -> int:
    return write_atomic(destination, lambda handle: handle.write(data))


def copy_atomic(
    source: Path, destination: Path, before_publish: Callable[[Path], object] | None = None
) -> None:
    """Copy ``source`` to ``destination`` through a temporary file, keeping timestamps (and,
    through ``copystat``, extended attributes: a provenance record travels with the copy)."""
    import shutil  # here: compress copies only the files it sets aside

    with atomic_output(destination, before_publish) as target:
        shutil.copyfile(source, target.path)
        shutil.copystat(source, target.path)


def make_durable(path: Path) -> None:
    """fsync a file and its folder, so a power cut cannot undo a rename we then act upon."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left by an interrupted run under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for tmp in folder.rglob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


@functools.cache  # pragma: no mutate (a cache of a value that never changes)
def _umask() -> int:
    """The process umask, read once. Linux shows it in /proc; elsewhere it can only be read by
    setting it, which is done under a lock (compress runs jobs in threads: a second thread must
    never see, or create a file under, the transient 0)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        current = os.umask(0)
        os.umask(current)
        return current


_UMASK_LOCK = threading.Lock()

__all__ = [
    "TEMP_SUFFIX",
    "AtomicTarget",
    "UnsafeDestination",
    "atomic_output",
    "check_destination",
    "copy_atomic",
    "make_durable",
    "remove_stale_temporaries",
    "write_atomic",
    "write_bytes_atomic",
]
