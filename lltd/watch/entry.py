"""The file a work item names, opened once by descriptor and acted on through that descriptor.

A name in IN can be re-pointed at any time by whoever uploads: between the moment a file
settled and the moment a worker gets to it, the upload can become a link to a file outside IN, a
FIFO or another file. So the worker never reads, moves or deletes *by name*. It opens IN, walks
down to the file's folder one component at a time with ``O_NOFOLLOW``, checks the file itself
without following it, opens it ``O_NOFOLLOW``, and compares what ``fstat`` says with the version
the file settled with. The job then reads that very descriptor (through ``/proc/PID/fd/N``,
which reopens the open file, not the name), and the disposal renames or unlinks the name in the
folder held open only while it still holds that same node.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from lltd.batch.scan import Task
from lltd.common.errors import LltdError
from lltd.fs.identity import Version
from lltd.watch.safedir import DIR_FLAGS

if TYPE_CHECKING:
    from lltd.watch.worker import WorkItem

FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
HOLD_SUFFIX = ".lltd-hold"


class NotSettled(LltdError):
    """The name no longer holds the file that settled (a link, a FIFO, another version)."""


class Settled:
    """The settled file, open: its folder's descriptor, its name there, its own descriptor."""

    def __init__(self, dir_fd: int, name: str, fd: int, version: Version) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.fd = fd
        self.version = version

    def __enter__(self) -> Settled:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in (self.fd, self.dir_fd):
            os.close(fd)

    def task(self, task: Task) -> Task:
        """``task`` reading this descriptor; failures still name the file as uploaded."""
        source = reader_path(self.fd, task.source)
        return Task(source, task.relative, task.output, display=task.display or task.source)

    def now(self) -> Version:
        return Version.of(os.fstat(self.fd))

    def unchanged(self) -> bool:
        """Nobody wrote to it since it was opened."""
        return self.now() == self.version

    def _named(self, name: str, dir_fd: int) -> bool:
        """``name`` in ``dir_fd`` is this very node, as it is now (a link is a link)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and Version.of(st) == self.now()

    def move_to(self, dir_fd: int, name: str) -> str:
        """Rename the file into ``dir_fd`` as ``name``: "moved", "vanished", or "changed" when
        the name held another node (put back, never kept in our state)."""
        if not self._named(self.name, self.dir_fd):
            return "changed" if _exists(self.name, self.dir_fd) else "vanished"
        try:
            os.rename(self.name, name, src_dir_fd=self.dir_fd, dst_dir_fd=dir_fd)
        except FileNotFoundError:
            return "vanished"
        if self._named(name, dir_fd):
            return "moved"
        # Swapped between the check and the rename: what we moved is somebody else's upload.
        _put_back(dir_fd, name, self.dir_fd, self.name)
        return "changed"

    def remove(self) -> str:
        """Unlink the name only while it is this node: "deleted", "vanished" or "changed".

        Moved aside to a private name first, then checked: the node checked is the node
        unlinked, whatever happens to the name in between."""
        if not self._named(self.name, self.dir_fd):
            return "changed" if _exists(self.name, self.dir_fd) else "vanished"
        hold = f".{self.name}.{os.urandom(6).hex()}{HOLD_SUFFIX}"
        try:
            os.rename(self.name, hold, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except FileNotFoundError:
            return "vanished"
        if self._named(hold, self.dir_fd):
            os.unlink(hold, dir_fd=self.dir_fd)
            return "deleted"
        _put_back(self.dir_fd, hold, self.dir_fd, self.name)
        return "changed"


def open_settled(item: WorkItem) -> Settled:
    """Open the file ``item`` names as the module docstring says. ``FileNotFoundError``: it is
    gone; :class:`NotSettled`: the name holds something else now (nothing of it was read)."""
    root = item.state_dir.parent if item.input_root is None else item.input_root
    relative = item.task.source.relative_to(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if item.root_identity is not None and (st.st_dev, st.st_ino) != item.root_identity:
            raise NotSettled(f"{root} is no longer the folder the daemon opened")
        for part in relative.parent.parts:
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise NotSettled("a folder on its way is a link: not followed") from None
                raise
            os.close(fd)
            fd = child
        file_fd = _open_file(fd, relative.name, item.expect)
    except BaseException:
        os.close(fd)
        raise
    try:
        return Settled(fd, relative.name, file_fd, Version.of(os.fstat(file_fd)))
    except BaseException:
        os.close(file_fd)
        os.close(fd)
        raise


def _open_file(dir_fd: int, name: str, expect: Version | None) -> int:
    # Looked at before it is opened: opening a device or FIFO can have effects of its own.
    _check(os.stat(name, dir_fd=dir_fd, follow_symlinks=False), expect)
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EWOULDBLOCK):
            raise NotSettled("replaced since it settled: not followed") from None
        raise
    try:
        _check(os.fstat(fd), expect)  # the node opened, not the one looked at
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check(st: os.stat_result, expect: Version | None) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise NotSettled("replaced by a symbolic link since it settled: not followed")
    if not stat.S_ISREG(st.st_mode):
        raise NotSettled("replaced by something that is not a regular file since it settled")
    if expect is not None and Version.of(st) != expect:
        raise NotSettled("replaced or written to since it settled")


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _put_back(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Return a node we moved by mistake, unless its name was taken again meanwhile (then it
    stays under the name it has, which the daemon never reads as an input)."""
    if not _exists(dst, dst_fd):
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def reader_path(fd: int, fallback: Path) -> Path:
    """A name that reopens the open file ``fd`` (``/proc/PID/fd/N``: PID, not self, so that an
    encoder the job spawns reaches it too); ``fallback`` where there is no ``/proc``."""
    proc = f"/proc/{os.getpid()}/fd/{fd}"
    return Path(proc) if os.path.exists(proc) else fallback
