"""Walk a folder tree as ``os.walk(top)`` does (top-down, folders pruned in place), without
recursion and without entering a link.

Python 3.11's ``os.walk`` recurses once per level and raises ``RecursionError`` about 1,000
folders down: depth an uploader makes with one loop of ``mkdir d; cd d``, and with it every scan
of the drop folder (the watch daemon's start, each rescan) and every batch run on the tree
failed. This walk keeps its own stack of folders to visit.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator


def walk(
    top: str | os.PathLike[str], onerror: Callable[[OSError], object] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``(folder, subfolders, other names)`` for ``top`` and every folder below it, parents
    first, each folder's subtrees in the order of its (possibly pruned) ``subfolders`` list.

    ``subfolders`` holds real folders only; a link to a folder is listed with the other names
    (never entered). A folder that cannot be listed (gone, no permission, a path longer than
    the kernel takes) is passed to ``onerror`` and skipped, as ``os.walk`` does; so is a folder
    met a second time (a bind mount of a folder inside itself, which ``os.walk`` would walk
    until the path grew too long, every file in it again at each level), and a folder that is
    no longer the one its parent listed: swapped since for a link (anywhere: ``/`` would have
    been walked whole) or for another folder moved there.
    """
    stack: list[tuple[str, tuple[int, int] | None]] = [(os.fspath(top), None)]
    seen: set[tuple[int, int]] = set()
    while stack:
        folder, listed = stack.pop()
        try:
            subfolders, identities, names = _listing(folder, listed, seen, top=not seen)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        yield folder, subfolders, names
        stack.extend(
            (os.path.join(folder, name), identities.get(name)) for name in reversed(subfolders)
        )


def _listing(
    folder: str, listed: tuple[int, int] | None, seen: set[tuple[int, int]], top: bool
) -> tuple[list[str], dict[str, tuple[int, int]], list[str]]:
    """``folder``'s subfolders (with the identity each had in the listing) and other names,
    read through one descriptor: the folder checked is the folder listed."""
    # Only top may be a link (the folder a top given as a link names); below it, no link is
    # followed, and the folder opened must be the one the parent's listing saw.
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if top else os.O_NOFOLLOW)
    fd = os.open(folder, flags)
    try:
        st = os.fstat(fd)
        identity = (st.st_dev, st.st_ino)
        if listed is not None and identity != listed:
            raise OSError(errno.ESTALE, "not the folder listed there (replaced since)", folder)
        if identity in seen:
            raise OSError(errno.ELOOP, "the same folder as one already walked", folder)
        seen.add(identity)
        subfolders: list[str] = []
        identities: dict[str, tuple[int, int]] = {}
        names: list[str] = []
        with os.scandir(fd) as listing:
            for entry in listing:
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_folder = False
                if not is_folder:
                    names.append(entry.name)
                    continue
                subfolders.append(entry.name)
                try:  # a mount point's is the mounted folder's, as fstat will see it
                    below = entry.stat(follow_symlinks=False)
                    identities[entry.name] = (below.st_dev, below.st_ino)
                except OSError:
                    pass  # gone already: its visit fails, or finds what replaced it unlisted
    finally:
        os.close(fd)
    return subfolders, identities, names


#: The most levels a path can cross before the kernel refuses it: PATH_MAX (4096 bytes) over the
#: shortest level, "/" and a one-letter name.
DEEPEST_PATH = 4096 // 2


def allow_recursive_walks() -> None:
    """Let recursive walks by path in this process reach any folder the kernel can name.

    watchdog's observers (inotify's ``os.walk`` when a watch is added or a folder moves in,
    polling's ``DirectorySnapshot.walk``) take one Python frame per level, and give up on a path
    past PATH_MAX by themselves; at Python's default limit of 1,000 frames, an uploader's
    1,000-deep folder killed the watch daemon at every start. Measured here: a 2,043-deep walk
    in a thread with a 1 MiB stack, under this limit, completes.
    """
    needed = DEEPEST_PATH + 1000  # what the callers' own frames above the walk may take
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def deep_descriptors_soft_limit(soft: int, hard: int) -> int:
    """The soft limit on open descriptors :func:`allow_deep_descriptors` sets, from the current
    ``(soft, hard)``: the hard limit, at most 1 << 20, never lower than ``soft``.

    Apart so that every case has a test, those no process here can set up included: a hard
    limit above ``fs.nr_open`` (1 << 20 by default; raising it is machine-wide) and an
    unlimited one (never on Linux; macOS's default).
    """
    from resource import RLIM_INFINITY

    wanted = 1 << 20 if hard == RLIM_INFINITY else min(hard, 1 << 20)
    return soft if soft == RLIM_INFINITY else max(soft, wanted)


def allow_deep_descriptors() -> None:
    """Raise this process's soft limit on open descriptors to its hard limit (at most 1 << 20):
    an emptying by descriptor holds one per level of the tree, and the usual soft limit of
    1,024 is a depth an uploader reaches with one shell loop."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = deep_descriptors_soft_limit(soft, hard)
    if wanted != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
