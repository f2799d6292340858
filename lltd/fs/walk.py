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
    until the path grew too long, every file in it again at each level).
    """
    stack = [os.fspath(top)]
    seen: set[tuple[int, int]] = set()
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)  # what scandir lists: the folder a top given as a link names
            if (st.st_dev, st.st_ino) in seen:
                raise OSError(errno.ELOOP, "the same folder as one already walked", folder)
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        subfolders: list[str] = []
        names: list[str] = []
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            (subfolders if is_folder else names).append(entry.name)
        yield folder, subfolders, names
        stack.extend(os.path.join(folder, name) for name in reversed(subfolders))


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
