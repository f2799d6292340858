"""Walk an input folder and list the image files to process, in a stable order."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lltd.fs.identity import Version
from lltd.fs.walk import walk

if TYPE_CHECKING:
    from lltd.fs.tree import Input

#: webp-converter's inputs, matched case-insensitively (it took only lower-case .jpg/.png).
COMPRESS_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
#: What flip, defend and watch accept.
IMAGE_EXTENSIONS = COMPRESS_EXTENSIONS | {".webp", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Task:
    """One input file: its path, its path relative to the scanned root, and its output path."""

    source: Path
    relative: Path
    output: Path | None = None
    # The input as its owner named it, where ``source`` is a copy (the watch daemon's claim):
    # what the failure's .error.txt names.
    display: Path | None = None
    # What the output may replace (lltd.fs.tree.Folder.publish): the version of the file the
    # planner judged to be this input's own earlier output, False when the name was free, True
    # for a task nobody planned (any regular file, as before the file layer).
    replaces: Version | bool = True
    # An input its host already opened and checked (the watch daemon: the file that settled):
    # the job reads a duplicate of this descriptor instead of opening the name again.
    opened: Input | None = field(default=None, compare=False, repr=False)


def is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def matches_name(name: str, pattern: str) -> bool:
    """``--ignore-filename-match``: a glob when it has wildcards, else a substring of the name."""
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name


def suffix(name: str) -> str:
    """``PurePath(name).suffix`` of a bare file name, without building a path (the planner
    asks for it of every file)."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def scan(
    root: Path,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    exclude: Iterable[Path] = (),
    unlisted: list[tuple[Path, str]] | None = None,
) -> list[Task]:
    """Image files under ``root`` (recursively, sorted), skipping ``exclude`` folders and dotfiles.

    Symbolic links are never inputs and linked folders are not entered: a link cannot make a
    file appear twice or pull in files from elsewhere. The listing is only a proposal: each
    input is then opened beneath the tree's descriptor with no link followed
    (:meth:`lltd.fs.tree.Folder.open_input`), so a name swapped after this walk is refused
    there, not followed. A folder below ``root`` that cannot be listed (no permission, a path
    longer than the kernel takes) is appended to ``unlisted`` with the reason.
    """
    root = root.resolve()
    wanted = {ext.lower() for ext in extensions}
    excluded = [Path(folder).resolve() for folder in exclude]
    tasks: list[Task] = []

    def not_listed(exc: OSError) -> None:
        if unlisted is not None and exc.filename != str(root):  # the root: the job says why
            unlisted.append((Path(exc.filename), f"folder not scanned: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in walk(root, not_listed):
        here = Path(dirpath)
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not name.startswith(".")
            and not any(is_within(here / name, folder) for folder in excluded)
        )
        # Paths are built once per folder and per kept file: pathlib's parsing was most of
        # planning's 47 ms for 1,000 files, all of it before the first file could start.
        relative_dir = here.relative_to(root)
        for name in sorted(filenames):
            if name.startswith(".") or suffix(name).lower() not in wanted:
                continue
            if os.path.islink(os.path.join(dirpath, name)):
                continue
            tasks.append(Task(source=here / name, relative=relative_dir / name))
    return tasks
