"""Folders under IN and OUT reached without following links.

Whoever can write IN can plant a symbolic link where the daemon will write (``IN/.lltd/done``,
a subfolder of an OUT that lies inside IN): every folder the daemon writes into is therefore
reached one component at a time from a root the administrator named, each with ``O_NOFOLLOW``,
and created there when missing. A link, or anything that is not a folder, is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from lltd.fs.resolve import DIR_FLAGS, Escape
from lltd.fs.tree import Folder

__all__ = ["DIR_FLAGS", "UnsafePath", "ensure_dirs", "is_link_free", "open_dir", "opened_dir"]


class UnsafePath(OSError):
    """A component of a path the daemon writes under is a link or not a folder."""


def open_dir(root: Path, parts: Sequence[str], *, create: bool = True) -> int:
    """An ``O_DIRECTORY`` descriptor of ``root/parts...`` reached by the file layer
    (:meth:`lltd.fs.tree.Folder.child`: no component of ``parts`` followed if it is a link);
    missing folders are created when ``create``. The caller closes it."""
    for part in parts:
        if part in ("", ".", "..") or "/" in part:
            raise UnsafePath(errno.EINVAL, "not a plain folder name", str(root.joinpath(*parts)))
    with Folder.open(root) as top:
        try:
            below = top.child("/".join(parts), create=create)
        except Escape:
            raise UnsafePath(
                errno.ELOOP, "a link or not a folder: refused", str(root.joinpath(*parts))
            ) from None
        except OSError as exc:
            if exc.errno in (errno.ENOTDIR, errno.EMLINK):
                raise UnsafePath(
                    exc.errno, "a link or not a folder: refused", str(root.joinpath(*parts))
                ) from None
            raise
    return below.fd  # handed over: the caller closes it (a Folder has no finaliser)


@contextlib.contextmanager
def opened_dir(root: Path, parts: Sequence[str], *, create: bool = True) -> Iterator[int]:
    fd = open_dir(root, parts, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def ensure_dirs(root: Path, relative: Path) -> None:
    """Create ``root/relative`` (a folder) without following links; refuse if one is in the way."""
    with opened_dir(root, relative.parts):
        pass


def is_link_free(root: Path, relative: Path) -> bool:
    """No component of ``relative`` below ``root`` is a link (checked with lstat, step by step)."""
    here = root
    for part in relative.parts:
        here = here / part
        if os.path.islink(here):  # False for a missing name (islink handles OSError itself)
            return False
    return True
