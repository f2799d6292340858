"""What a file *is*, as opposed to what it is called: ``(st_dev, st_ino)`` and its version.

Every decision the file layer takes (this is the input that was hashed, this is our own output,
this folder is that folder) is taken on these values, read from a descriptor with ``fstat`` (or
from ``fstatat(..., AT_SYMLINK_NOFOLLOW)`` on a name in a folder held open), and every later
action compares them again. A name can be re-pointed at any time by anyone who may write the
folder; an identity cannot.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class Identity(NamedTuple):
    """Which node: the device and inode number (a link or a bind mount of a folder is that
    folder; a hard link of a file is that file)."""

    dev: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino)


class Version(NamedTuple):
    """Which node *as it was*: the identity plus size, modification and change time (ns).

    A writer that saves a new version in place changes ``mtime``/``ctime`` (and usually the
    size); one that saves by rename changes the inode. Either way the version differs."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Version:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def same_content_as(self, st: os.stat_result) -> bool:
        """The node ``st`` describes is this version, ctime aside: a rename of the node (which
        the layer does itself before a removal) changes its ctime and nothing else."""
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == self[:4]
