"""What lltd may write over, and the name of its temporaries: os and stat only.

Kept apart from :mod:`lltd.fs.atomic` (which needs tempfile, shutil and threading) so the lean path
of ``lltd cwebp``, paid once per file by shell loops, can apply the same rules for nothing.
"""

from __future__ import annotations

import os
import stat

from lltd.common.errors import LltdError
from lltd.common.text import printable

#: Suffix of every temporary file lltd writes (always a dotfile beside its destination).
TEMP_SUFFIX = ".lltd-tmp"
#: The longest file name Linux file systems take, in bytes.
NAME_MAX = 255


def temporary_name(name: str, token: str) -> str:
    """``.NAME.TOKEN.lltd-tmp``, with NAME cut (by bytes) so the whole fits in NAME_MAX: an
    input may have a name of 250 bytes, and its temporary must still be a name. The token makes
    it unique and the suffix marks it as lltd's; the name is only there for people."""
    room = NAME_MAX - len(f"..{token}{TEMP_SUFFIX}".encode())
    encoded = os.fsencode(name)
    if len(encoded) > room:
        name = os.fsdecode(encoded[:room])
    return f".{name}.{token}{TEMP_SUFFIX}"


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
        raise UnsafeDestination(
            f"refusing to write {printable(destination)}: it exists and is {describe_mode(mode)}"
        )


def describe_mode(mode: int) -> str:
    """ "a FIFO", "a symbolic link", ...: what a node that is not a regular file is."""
    # The default is for systems with other file types (Solaris doors): none on Linux.
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")  # pragma: no mutate


def new_temporary(destination: str | os.PathLike[str]) -> str:
    """Create an empty dotfile beside ``destination`` (see :func:`new_temporary_fd`) and return
    its path. For the lean path of ``lltd cwebp``: tempfile imports random and its hashing, a few
    ms a call."""
    fd, temp = new_temporary_fd(destination)
    os.close(fd)
    return temp


def new_temporary_fd(destination: str | os.PathLike[str]) -> tuple[int, str]:
    """Create an empty dotfile beside ``destination`` (``.NAME.RANDOM.lltd-tmp``, mode 0600,
    O_EXCL and O_NOFOLLOW, as ``tempfile.mkstemp`` makes them) and return a descriptor open for
    writing and its path."""
    folder, name = os.path.split(os.fspath(destination))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        temp = os.path.join(folder, temporary_name(name, os.urandom(6).hex()))
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {printable(destination)}")


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFDIR: "a folder",
}
