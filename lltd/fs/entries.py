"""Single steps on the names of a folder held open by descriptor, for the watch daemon's state
(claims, output-name markers, done/ and failed/ inputs, its lock and heartbeat).

Every step acts on a name relative to a directory descriptor the caller reached without
following links (:func:`lltd.watch.safedir.open_dir`), never on a path it re-resolves; nothing
here follows a link in the name it is given. Errors are plain ``OSError`` and left to the caller,
except where a function says it ignores them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from lltd.fs.identity import Version
from lltd.fs.tree import Folder


def open_file(name: str | Path, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
    """``os.open`` of ``name`` in ``dir_fd`` (the caller's flags: ``O_NOFOLLOW`` among them
    where a planted link must not be followed). The caller closes the descriptor."""
    return os.open(name, flags, mode, dir_fd=dir_fd)


def make_dir(dir_fd: int, name: str, mode: int) -> bool:
    """Make the folder ``name`` in ``dir_fd``; False when something is there already."""
    try:
        os.mkdir(name, mode, dir_fd=dir_fd)
    except FileExistsError:
        return False
    return True


def touch(dir_fd: int, name: str, mode: int = 0o644) -> None:
    """Create ``name`` if missing (never through a link) and set its times to now."""
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, mode, dir_fd=dir_fd))
    os.utime(name, dir_fd=dir_fd, follow_symlinks=False)


def move(src_fd: int, name: str, dst_fd: int, new_name: str | None = None) -> None:
    """Rename ``name`` in ``src_fd`` to ``new_name`` (the same name by default) in ``dst_fd``."""
    os.rename(name, name if new_name is None else new_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def move_verified(src_fd: int, name: str, dst_fd: int, new_name: str, expected: Version) -> str:
    """Move ``name`` as :func:`move` does, then check that the node which arrived is the regular
    file ``expected`` (ctime aside: the rename changed it). "moved"; "vanished" when the rename
    found no ``name``; "changed" when another node arrived (swapped between the caller's check
    and the rename: it is put back when its old name is still free)."""
    try:
        move(src_fd, name, dst_fd, new_name)
    except FileNotFoundError:
        return "vanished"
    st = os.stat(new_name, dir_fd=dst_fd, follow_symlinks=False)
    if stat.S_ISREG(st.st_mode) and expected.same_content_as(st):
        return "moved"
    if not exists(src_fd, name):
        move(dst_fd, new_name, src_fd, name)
    return "changed"


def link_new(dir_fd: int, temp: str, name: str) -> bool:
    """Give the complete file ``temp`` the new name ``name`` too (a hard link: atomic, and never
    replaces anything, locally and over NFS); False when ``name`` exists."""
    try:
        os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    return True


def remove_own(dir_fd: int, name: str) -> None:
    """Unlink a name of ours (a temporary we created, our heartbeat); errors are ignored."""
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def remove_empty_dir(dir_fd: int, name: str) -> None:
    """Remove the folder ``name`` in ``dir_fd`` if it is empty (``OSError`` otherwise)."""
    os.rmdir(name, dir_fd=dir_fd)


def remove_empty_dirs(dir_fd: int) -> None:
    """Remove the empty folders below ``dir_fd``, deepest first (``os.fwalk``: no link followed);
    the others stay."""
    for _dirpath, dirnames, _filenames, fd in os.fwalk(".", dir_fd=dir_fd, topdown=False):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd)  # only empty ones go


def remove_file(path: Path) -> None:
    """Remove the regular file at ``path`` as it is now (a file of ours named by path), through
    its folder's descriptor and :meth:`lltd.fs.tree.Folder.remove`: only that version goes, a
    link or anything else there stays. Errors, and a file that is gone, are ignored."""
    with contextlib.suppress(OSError), Folder.open(path.parent) as folder:
        _remove_version(folder, path.name)


def remove_named(folder: Path, prefix: str, suffix: str) -> None:
    """Remove the regular files of ``folder`` (not below) named ``prefix*suffix``, each as
    :func:`remove_file` does; a folder that cannot be opened or listed has none."""
    with contextlib.suppress(OSError), Folder.open(folder) as held:
        for name in os.listdir(held.fd):
            long_enough = len(name) >= len(prefix) + len(suffix)
            if long_enough and name.startswith(prefix) and name.endswith(suffix):
                with contextlib.suppress(OSError):
                    _remove_version(held, name)


def _remove_version(folder: Folder, name: str) -> None:
    st = folder.stat(name)
    if st is not None and stat.S_ISREG(st.st_mode):
        folder.remove(name, Version.of(st))


def exists(dir_fd: int, name: str) -> bool:
    """Something (a link is something) is called ``name`` in ``dir_fd``."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
