"""Where a task's files are, as folders held open: one descriptor per tree and process.

A batch plans in one process and converts in others (a process pool forks or spawns them), and
descriptors do not travel in a pickled task. Each process therefore opens each tree root once,
by the path the user gave, and reaches everything below it by descriptor
(:mod:`lltd.fs.tree`). The planner's own process keeps its roots open for the whole run (it
holds the locks on them), so a forked worker inherits the very folders that were planned.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from lltd.fs.tree import Folder

_open: dict[str, tuple[int, Folder]] = {}


def tree_at(root: Path, *, create: bool = False) -> Folder:
    """The folder ``root``, opened once in this process (and kept open: it is a run's tree);
    made first when missing and ``create`` (a library caller's output folder)."""
    key = os.fspath(root)
    found = _open.get(key)
    if found is not None and found[0] == os.getpid():
        return found[1]
    if create:
        root.mkdir(parents=True, exist_ok=True)
    folder = Folder.open(root)
    _open[key] = (os.getpid(), folder)
    return folder


def split_task(source: Path, relative: Path | PurePosixPath) -> tuple[Path, str]:
    """The tree root and the name below it of a task's input: ``source`` ends with
    ``relative`` for every planned task; otherwise (a copy elsewhere) its own folder."""
    parts = relative.parts
    if parts and source.parts[-len(parts) :] == parts and len(source.parts) > len(parts):
        return Path(*source.parts[: -len(parts)]), "/".join(parts)
    return source.parent, source.name


def place_of(path: Path, root: Path | None, *, create: bool = True) -> tuple[Folder, str, bool]:
    """The folder that holds ``path`` (made when missing and ``create``) and its name there:
    beneath the tree ``root`` by descriptor when ``path`` lies in it, else the folder its path
    names. The flag says whether the caller owns (must close) the folder."""
    if root is not None:
        try:
            below = path.relative_to(root)
        except ValueError:
            below = None
        if below is not None and below.parts:
            tree = tree_at(root, create=create)
            parent = below.parent.as_posix()
            if parent == ".":
                return tree, below.name, False
            return tree.child(parent, create=create), below.name, True
    if not create:
        return Folder.open(path.parent), path.name, True
    from lltd.fs.atomic import open_parent

    return open_parent(path), path.name, True
