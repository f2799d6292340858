"""Atomic file writing: a temporary dotfile beside the destination, renamed into place.

Every output lltd writes goes through here, so readers never see a partial file. Kept free of
image libraries so the storage layer and the daemon can use it cheaply.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

# Re-exported: the batch engine, the daemon and the tests import them from here.
from lltd.common.text import printable
from lltd.fs.destination import TEMP_SUFFIX, UnsafeDestination, check_destination
from lltd.fs.identity import Version
from lltd.fs.resolve import DIR_FLAGS, open_beneath
from lltd.fs.tree import Folder, describe

_COPY_CHUNK = 1 << 20


class AtomicTarget:
    """A temporary file in the destination's folder (held open); see :func:`atomic_output`.

    The writer hands its bytes to :meth:`write` (through the descriptor the file was created
    with: no second open of it, and no reading it back to hash it), or writes :attr:`through`
    by name (an external encoder): that name goes through the folder's descriptor
    (``/proc/PID/fd/N/TEMP``) where ``/proc`` is mounted, so a folder renamed or swapped for a
    link meanwhile cannot redirect the write. :attr:`path` is the temporary's ordinary name,
    for messages."""

    def __init__(self, destination: Path, folder: Folder) -> None:
        self.destination = destination
        self.folder = folder
        self.name = destination.name
        self.fd, self.temp = folder.new_temporary(self.name)
        self.path = folder.path / self.temp
        self.through = Path(by_name(folder, self.temp))
        self.discarded = False  # pragma: no mutate (only its truth is read: None would do)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def discard(self) -> None:
        """Do not publish: the temporary file is removed and ``destination`` is left untouched."""
        self.discarded = True

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def by_name(folder: Folder, name: str) -> str:
    """A name for ``name`` in ``folder`` that goes through the folder's descriptor, for writers
    that only take a path (they may be child processes: the PID, not ``self``)."""
    if _proc_fd():
        return f"/proc/{os.getpid()}/fd/{folder.fd}/{name}"
    return os.path.join(folder.path, name)


def by_name_fd(fd: int) -> str | None:
    """A name that reopens the file held by ``fd`` (``/proc/PID/fd/N``) for readers that only
    take a path, or None without ``/proc``."""
    return f"/proc/{os.getpid()}/fd/{fd}" if _proc_fd() else None


@functools.cache  # pragma: no mutate (a fact of the machine)
def _proc_fd() -> bool:
    return os.path.isdir("/proc/self/fd")


def open_parent(destination: Path) -> Folder:
    """The folder of a destination named by path (reports, a library caller's output), made
    when missing."""
    try:
        return Folder.open(destination.parent)
    except (FileNotFoundError, NotADirectoryError):
        # The first file of a folder (asked here rather than by a stat before every file).
        try:
            destination.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:  # a file where a folder should be: say that, as open does
            raise NotADirectoryError(
                errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename
            ) from None
        return Folder.open(destination.parent)


@contextlib.contextmanager
def atomic_output(
    destination: Path,
    before_publish: Callable[[Path], object] | None = None,
    *,
    folder: Folder | None = None,
    replaces: Version | bool = True,
    durable: bool = False,
) -> Iterator[AtomicTarget]:
    """Yield a temporary file in ``destination``'s folder; rename it into place only on success.

    Readers never see a partial file, and an interrupted writer leaves only a dot-temp file that
    :func:`remove_stale_temporaries` can clear. ``before_publish(temp)`` runs on the complete
    temporary file just before the rename (the provenance record goes on there).

    ``folder``: the destination's folder, already open (a tree's; then ``destination`` only
    names it); else it is opened from ``destination``'s path. ``replaces``: what may be at the
    destination (see :meth:`Folder.publish`); a node that is not a regular file never is, and
    is refused before and again at the rename. ``durable``: the content and the folder are
    fsync'd, so the output outlives a power cut that a following deletion (``--r``) does.
    """
    if not destination.name:  # "" or "." names the folder itself, never a file in it
        raise UnsafeDestination(f"refusing to write {printable(destination)}: it is a folder")
    owned = folder is None
    where = open_parent(destination) if folder is None else folder
    try:
        st = where.stat(destination.name)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise UnsafeDestination(f"refusing to write {printable(destination)}: {describe(st)}")
        target = AtomicTarget(destination, where)
        published = False
        try:
            yield target
            if not target.discarded:
                os.fchmod(target.fd, 0o666 & ~_umask())
                if before_publish is not None:
                    before_publish(target.through)
                if durable:
                    os.fsync(target.fd)
                target.close()
                where.publish(target.temp, target.name, replaces)
                published = True
                if durable:
                    os.fsync(where.fd)
        finally:
            target.close()
            if not published:
                where.discard(target.temp)
    finally:
        if owned:
            where.close()


def write_atomic(destination: Path, write: Callable[[BinaryIO], object]) -> int:
    """Write through ``write(fileobj)`` atomically; return the number of bytes written."""
    with atomic_output(destination) as target:
        with os.fdopen(os.dup(target.fd), "wb") as handle:
            write(handle)
        return target.size()


def write_bytes_atomic(destination: Path, data: bytes) -> int:
    return write_atomic(destination, lambda handle: handle.write(data))


def copy_atomic(
    source: Path | int,
    destination: Path,
    before_publish: Callable[[Path], object] | None = None,
    *,
    folder: Folder | None = None,
    replaces: Version | bool = True,
) -> None:
    """Copy ``source`` (a path, or a descriptor open for reading: an input already opened) to
    ``destination`` through a temporary file, keeping timestamps (and, through ``copystat``,
    extended attributes: a provenance record travels with the copy)."""
    import shutil  # here: compress copies only the files it sets aside

    with atomic_output(destination, before_publish, folder=folder, replaces=replaces) as target:
        if isinstance(source, int):
            st = os.fstat(source)
            copy_extents(source, target.fd, st.st_size)
            os.utime(target.fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            shutil.copyfile(source, target.through)
            shutil.copystat(source, target.through)


def copy_extents(source: int, target: int, size: int) -> None:
    """Copy the first ``size`` bytes of ``source`` to ``target`` (both descriptors), holes as
    holes: a sparse upload (``truncate -s 1T x.png`` costs its uploader no disk) must not make
    lltd write its full length. Stops early, short, where ``source`` shrank meanwhile."""
    offset = 0
    while offset < size:
        try:
            data = os.lseek(source, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole from here to the end
                break
            raise
        if data >= size:
            break
        end = min(os.lseek(source, data, os.SEEK_HOLE), size)
        while data < end:
            chunk = os.pread(source, min(_COPY_CHUNK, end - data), data)
            if not chunk:
                return
            written = 0
            while written < len(chunk):
                written += os.pwrite(target, chunk[written:], data + written)
            data += len(chunk)
        offset = end
    os.ftruncate(target, size)  # the trailing hole, if any


def make_durable(path: Path) -> None:
    """fsync a file and its folder, so a power cut cannot undo a rename we then act upon.

    Only a regular file is synced: the name may have been swapped for a link or a FIFO since it
    was written (``O_NOFOLLOW``, and ``O_NONBLOCK`` so that opening a FIFO does not wait)."""
    with contextlib.suppress(OSError):
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        fd = os.open(path, flags)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(folder: Path, older_than: float | None = None) -> int:
    """Delete temporary files left by an interrupted run under ``folder``; return how many.

    Listed without recursion (:func:`lltd.fs.walk.walk`: ``os.fwalk`` recursed once per level,
    and an output tree mirrors an uploader's 1,000-deep folders); each folder holding one is
    opened beneath ``folder`` with no link followed, and only regular files with lltd's
    temporary name are removed by that descriptor; with ``older_than`` (a time), only those last
    modified before it (``lltd watch --shared``: the other daemons may be writing theirs right
    now)."""
    from lltd.fs.walk import walk

    removed = 0
    try:
        root_fd = os.open(folder, DIR_FLAGS)
    except OSError:
        return 0
    try:
        for where, _, names in walk(folder):
            temporaries = [n for n in names if n.startswith(".") and n.endswith(TEMP_SUFFIX)]
            if not temporaries:
                continue
            try:
                dir_fd = open_beneath(root_fd, os.path.relpath(where, folder), DIR_FLAGS)
            except OSError:
                continue  # swapped for a link, or gone, since it was listed
            try:
                removed += _remove_temporaries(dir_fd, temporaries, older_than)
            finally:
                os.close(dir_fd)
    finally:
        os.close(root_fd)
    return removed


def _remove_temporaries(dir_fd: int, names: list[str], older_than: float | None) -> int:
    removed = 0
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and (older_than is None or st.st_mtime < older_than):
                os.unlink(name, dir_fd=dir_fd)
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
    "by_name",
    "by_name_fd",
    "check_destination",
    "copy_atomic",
    "make_durable",
    "open_parent",
    "remove_stale_temporaries",
    "write_atomic",
    "write_bytes_atomic",
]
