"""What lltd may write over, and the name of its temporaries: os and stat only.

Kept apart from :mod:`lltd.atomic` (which needs tempfile, shutil and threading) so the lean path
of ``lltd cwebp``, paid once per file by shell loops, can apply the same rules for nothing.
"""

from __future__ import annotations

import os
import stat

from lltd.errors import LltdError
from lltd.text import printable

#: Suffix of every temporary file lltd writes (always a dotfile beside its destination).
TEMP_SUFFIX = ".lltd-tmp"


class UnsafeDestination(LltdError):
    """The destination exists and is not a regular file (a FIFO, device, socket, link, folder)."""


def check_destination(destination: str | os.PathLike[str]) -> None:
    """Refuse to replace anything but a regular file (or nothing).

    ``lstat``: a link is judged itself, never its target. The check runs again just before the
    rename; what remains is the window between that ``lstat`` and ``rename``, in which only
    someone who may already write the folder could swap the node (the rename then replaces
    their node, and writes through nothing).
    """
    try:
        mode = os.lstat(destination).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        # The default is for systems with other file types (Solaris doors): none on Linux.
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")  # pragma: no mutate
        raise UnsafeDestination(
            f"refusing to write {printable(destination)}: it exists and is {kind}"
        )


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a folder",
}
