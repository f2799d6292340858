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

Locks are taken on identities, so a folder reached through a link or a bind mount is locked as
itself. What flock cannot say: a run that only *reads* an ancestor of a writer's tree holds
that ancestor shared, as the writer does; the two are not excluded (the reader may find an
original gone, and reports that file as failed; nothing is lost).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
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


def _path_of(fd: int) -> str:
    """An ancestor's name, for the message only."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "a folder that contains it"
