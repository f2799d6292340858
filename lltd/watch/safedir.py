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

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


class UnsafePath(OSError):
    """A component of a path the daemon writes under is a link or not a folder."""


def open_dir(root: Path, parts: Sequence[str], *, create: bool = True, mode: int = 0o777) -> int:
    """An ``O_DIRECTORY`` descriptor of ``root/parts...``, no component of ``parts`` followed
    if it is a link; missing folders are created when ``create``. The caller closes it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        here = root
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafePath(errno.EINVAL, "not a plain folder name", str(here / part))
            here = here / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, mode, dir_fd=fd)
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise UnsafePath(
                        exc.errno, "a link or not a folder: refused", str(here)
                    ) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


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
        try:
            if os.path.islink(here):
                return False
        except OSError:
            return False
    return True
