"""How two trees relate, decided from directory identities, never from their names.

A folder reached through a symbolic link, a bind mount or another spelling of its path is the
same folder: its ``(st_dev, st_ino)`` says so. Ancestors are found by opening ``..`` from the
folder's own descriptor, one level at a time, up to the root (whose ``..`` is itself), so a
renamed or re-linked parent path cannot mislead the answer.
"""

from __future__ import annotations

import enum
import os

from lltd.fs.identity import Identity
from lltd.fs.resolve import DIR_FLAGS
from lltd.fs.tree import Folder


class Relation(enum.Enum):
    APART = "apart"
    SAME = "same"
    INSIDE = "inside"  # the first tree lies inside the second
    CONTAINS = "contains"  # the first tree contains the second

    @property
    def overlaps(self) -> bool:
        return self is not Relation.APART


def ancestors(folder: Folder, *, keep: bool = False) -> list[tuple[Identity, int]]:
    """The folder's ancestors, nearest first, as ``(identity, fd)`` (fd -1 unless ``keep``:
    the caller then owns the descriptors, e.g. to lock them)."""
    found: list[tuple[Identity, int]] = []
    seen = {folder.identity}
    fd = folder.fd
    while True:
        parent = os.open("..", DIR_FLAGS, dir_fd=fd)
        if fd != folder.fd and not keep:
            os.close(fd)
        identity = Identity.of(os.fstat(parent))
        if identity in seen:  # the root: its ".." is itself
            os.close(parent)
            return found
        seen.add(identity)
        found.append((identity, parent if keep else -1))
        fd = parent


def relation(first: Folder, second: Folder) -> Relation:
    """Whether ``first`` is ``second``, lies inside it, contains it, or neither."""
    if first.identity == second.identity:
        return Relation.SAME
    if any(identity == second.identity for identity, _ in ancestors(first)):
        return Relation.INSIDE
    if any(identity == first.identity for identity, _ in ancestors(second)):
        return Relation.CONTAINS
    return Relation.APART


def path_below(inner: Folder, outer: Folder) -> str | None:
    """The relative name by which ``outer`` reaches ``inner`` ("" when they are one folder), read
    from the directories themselves (each level's entry whose inode is the child), or None when
    ``inner`` is not inside ``outer``."""
    if inner.identity == outer.identity:
        return ""
    names: list[str] = []
    child = inner.identity
    fd = inner.fd
    try:
        while True:
            parent = os.open("..", DIR_FLAGS, dir_fd=fd)
            if fd != inner.fd:
                os.close(fd)
            fd = parent
            here = Identity.of(os.fstat(fd))
            if here == child:  # the root, and outer was not met
                return None
            name = _entry_of(fd, child)
            if name is None:
                return None
            names.append(name)
            if here == outer.identity:
                return "/".join(reversed(names))
            child = here
    finally:
        if fd != inner.fd:
            os.close(fd)


def _entry_of(dir_fd: int, child: Identity) -> str | None:
    # Not entry.inode(): for a mount point it is the covered folder's inode, not the mounted one.
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                if Identity.of(st) == child:
                    return entry.name
    return None
