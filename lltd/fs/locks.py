"""Run locks that follow tree identity: overlapping trees exclude each other.

A ``flock`` on the directory's own descriptor writes nothing into the user's folder, and the
kernel drops it when the process dies (SIGKILL included). A run that writes (replaces, deletes)
into a tree holds an exclusive lock on that tree; every tree a run touches, and every ancestor
of it up to ``/``, is locked shared. So:

* a writer on T and any run on T itself, or on a folder inside T (which locks T shared as its
  ancestor), exclude each other;
* a writer on T and a writer on an ancestor A of T (A exclusive, T's run locks A shared)
  exclude each other;
* two runs that only read one folder run together, and so do runs on unrelated trees.

flock has only two modes, so it cannot tell a run that *reads* an ancestor A from a writer's
shared lock on A. Open-file-description record locks (``F_OFD_SETLK``, byte-range and
independent of flock, also dropped when the process dies) carry that on the same folders: a
reader marks its tree (byte 0), a writer marks every ancestor of its tree (byte 1), and each
then looks for the other's mark (``F_OFD_GETLK``). Each marks before it looks, so of two runs
starting together at least one sees the other. Locks are taken on identities, so a folder
reached through a link or a bind mount is locked as itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from collections.abc import Iterator

from lltd.common.errors import UsageError
from lltd.common.text import printable
from lltd.fs.identity import Identity
from lltd.fs.relation import ancestors
from lltd.fs.resolve import DIR_FLAGS
from lltd.fs.tree import Folder


@contextlib.contextmanager
def tree_locks(writes: Folder, reads: Folder | None = None) -> Iterator[None]:
    """Hold the locks of a run that writes ``writes`` and reads ``reads`` (see the module)."""
    wanted: dict[Identity, tuple[int, int, Folder | None]] = {}  # identity -> (kind, fd, name)
    held: list[int] = []
    try:
        for tree, kind in ((writes, fcntl.LOCK_EX), (reads, fcntl.LOCK_SH)):
            if tree is None:
                continue
            if tree.identity not in wanted or kind == fcntl.LOCK_EX:
                # A new open file description: a dup would share (and convert) any flock
                # another holder of ``tree`` has.
                fd = os.open(".", DIR_FLAGS, dir_fd=tree.fd)
                held.append(fd)
                wanted[tree.identity] = (kind, fd, tree)
            for identity, fd in ancestors(tree, keep=True):
                held.append(fd)
                wanted.setdefault(identity, (fcntl.LOCK_SH, fd, None))
        for kind, fd, tree in wanted.values():
            _lock(fd, kind, tree)
        _marks(writes, reads, wanted)
        yield
    finally:
        for fd in held:
            os.close(fd)  # closing drops the flock


def _lock(fd: int, kind: int, tree: Folder | None) -> None:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        where = tree.path if tree is not None else _path_of(fd)
        raise UsageError(
            f"another lltd run is using {printable(where)}; wait for it to finish"
        ) from None
    except OSError:  # a file system without flock: run unlocked rather than not at all
        pass


_FLOCK_LAYOUT = "hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid
READER, WRITER_BELOW = 0, 1  # the bytes a mark locks


def _marks(
    writes: Folder, reads: Folder | None, wanted: dict[Identity, tuple[int, int, Folder | None]]
) -> None:
    """The reader/writer-below marks (see the module docstring), on the descriptors the flocks
    use: one open file description per folder, so a run never conflicts with itself."""
    above = [wanted[identity][1] for identity, _ in ancestors(writes)]
    reader = None
    if reads is not None and reads.identity != writes.identity:
        reader = wanted[reads.identity][1]
    try:
        if reader is not None:
            _record(reader, READER)
        for fd in above:
            _record(fd, WRITER_BELOW)
        if reader is not None and _held(reader, WRITER_BELOW):
            raise UsageError(
                f"another lltd run is writing inside {printable(reads.path)}; wait for it to finish"
            )
        for fd in above:
            if _held(fd, READER):
                raise UsageError(
                    f"another lltd run is reading {printable(_path_of(fd))}, which contains "
                    f"{printable(writes.path)}; wait for it to finish"
                )
    except OSError:  # no OFD locks here (another kernel, a network file system): flock only
        return


def _record(fd: int, byte: int) -> None:
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK_LAYOUT, fcntl.F_RDLCK, 0, byte, 1, 0))


def _held(fd: int, byte: int) -> bool:
    """Another open file description holds a mark on ``byte`` of this folder."""
    query = struct.pack(_FLOCK_LAYOUT, fcntl.F_WRLCK, 0, byte, 1, 0)
    return struct.unpack(_FLOCK_LAYOUT, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0] != (
        fcntl.F_UNLCK
    )


def _path_of(fd: int) -> str:
    """An ancestor's name, for the message only."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "a folder that contains it"
