"""Folders and inputs by descriptor: the only way lltd opens, renames or removes inside a tree.

* :class:`Folder` is a directory held open. Everything below it is reached relative to its
  descriptor (:func:`lltd.fs.resolve.open_beneath`: no link followed, no ``..`` out); the path
  it was opened by is kept for messages and for writers that need a name (an external encoder).
* :class:`Input` is a regular file opened once, ``fstat``'d, with its :class:`Version`; it is
  hashed and decoded from that descriptor, and the folder it was opened in stays open, so a
  later :meth:`Folder.remove` acts on the very folder, and only on the very version.
* Outputs are created ``O_EXCL`` in their folder (:meth:`Folder.new_temporary`) and published
  with :meth:`Folder.publish`: ``linkat`` (or ``renameat2(RENAME_NOREPLACE)`` where the file
  system has no hard links) where nothing may be replaced,
  ``RENAME_EXCHANGE`` then a check of what came out where one known version may be replaced
  (put back if it was anything else).
* :meth:`Folder.remove` re-checks the version on the name, moves the node to a private name in
  the same folder, checks *that* node, and only then unlinks it; a node that is not the version
  decided upon is put back.

Each step first calls :func:`lltd.fs.seam.reached`: the tests' fault-injection seam.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from lltd.common.errors import LltdError
from lltd.common.text import printable
from lltd.fs import seam
from lltd.fs.destination import UnsafeDestination, describe_mode, temporary_name
from lltd.fs.identity import Identity, Version
from lltd.fs.resolve import (
    DIR_FLAGS,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    Escape,
    open_beneath,
    renameat2,
    split,
)

#: A node set aside by :meth:`Folder.remove` that could not be put back under its name.
HOLD_SUFFIX = ".lltd-hold"
_CHUNK = 1 << 20


class Occupied(UnsafeDestination):
    """The destination is not what was decided on: it appeared, changed, or is no regular file."""


class NotRegular(LltdError):
    """The input is a FIFO, device, socket, folder or link."""


class Folder:
    """A directory held open by descriptor (see the module docstring)."""

    __slots__ = ("_identity", "fd", "path")

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self._identity: Identity | None = None

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Folder:
        """Open a folder the user named (links in *that* name are the user's choice)."""
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), Path(path))

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = Identity.of(os.fstat(self.fd))
        return self._identity

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reaching entries -----------------------------------------------------------------

    def child(self, relative: str, *, create: bool = False) -> Folder:
        """The folder ``relative`` beneath this one (made, 0777 & ~umask, when ``create``)."""
        if not split(relative):
            return Folder(os.dup(self.fd), self.path)
        if not create:
            return Folder(open_beneath(self.fd, relative, DIR_FLAGS), self.path / relative)
        fd = os.dup(self.fd)
        try:
            for part in split(relative):
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                child = open_beneath(fd, part, DIR_FLAGS)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return Folder(fd, self.path / relative)

    def stat(self, name: str) -> os.stat_result | None:
        """The node at ``name`` itself (a link is a link), or None when there is none."""
        parent, last = _parent_and_name(name)
        try:
            if not parent:
                return os.stat(last, dir_fd=self.fd, follow_symlinks=False)
            with self.child(parent) as folder:
                return os.stat(last, dir_fd=folder.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError, Escape):
            return None

    def open_input(self, relative: str) -> Input:
        """Open the regular file ``relative`` beneath this folder, once, for reading."""
        parent, name = _parent_and_name(relative)
        folder = self.child(parent) if parent else Folder(os.dup(self.fd), self.path)
        try:
            seam.reached("open", folder.fd, name)
            # O_NONBLOCK: opening a FIFO must not wait for a writer; cleared below.
            fd = open_beneath(folder.fd, name, os.O_RDONLY | os.O_NONBLOCK)
        except BaseException:
            folder.close()
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotRegular(f"{printable(relative)}: not a regular file")
            os.set_blocking(fd, True)
            seam.reached("read", folder.fd, name)
        except BaseException:
            os.close(fd)
            folder.close()
            raise
        return Input(fd, st, folder, name)

    # --- writing ----------------------------------------------------------------------------

    def new_temporary(self, name: str) -> tuple[int, str]:
        """Create ``.NAME.RANDOM.lltd-tmp`` in this folder (O_EXCL, O_NOFOLLOW, 0600); return a
        descriptor open for writing and the temporary's name."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(100):
            temp = temporary_name(name, os.urandom(6).hex())
            try:
                return os.open(temp, flags, 0o600, dir_fd=self.fd), temp
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temporary name beside {printable(self.path / name)}")

    def publish(self, temp: str, name: str, replaces: Version | bool = False) -> None:
        """Rename the complete temporary ``temp`` to ``name`` in this folder.

        ``replaces``: False, nothing may be there (RENAME_NOREPLACE); a :class:`Version`, only
        that file may be replaced (anything else raises :class:`Occupied` and is left as it
        is); True, any regular file may (reports and other outputs outside the trees' rules).
        """
        seam.reached("publish", self.fd, name)
        st = _lstat(self.fd, name)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise Occupied(f"refusing to write {printable(self.path / name)}: {describe(st)}")
        if replaces is True:
            os.rename(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        elif replaces is False or st is None:
            self._rename_noreplace(temp, name)
        elif Version.of(st) != replaces:
            raise Occupied(
                f"{printable(self.path / name)} changed since it was planned; it was kept"
            )
        else:
            self._exchange(temp, name, replaces)

    def _rename_noreplace(self, temp: str, name: str) -> None:
        # link() fails on an existing name, atomically, as renameat2(RENAME_NOREPLACE) does,
        # without ctypes (compress's start-up); then the temporary name goes.
        try:
            os.link(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
        except FileExistsError:
            raise Occupied(
                f"{printable(self.path / name)} appeared during the run; it was kept"
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
                raise
            self._renameat2_noreplace(temp, name)  # a file system without hard links
            return
        os.unlink(temp, dir_fd=self.fd)

    def _renameat2_noreplace(self, temp: str, name: str) -> None:
        try:
            renameat2(self.fd, temp, self.fd, name, RENAME_NOREPLACE)
        except FileExistsError:
            raise Occupied(
                f"{printable(self.path / name)} appeared during the run; it was kept"
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise
            # Neither (vfat over FUSE, say): the check just made, then a plain rename.
            if _lstat(self.fd, name) is not None:
                raise Occupied(
                    f"{printable(self.path / name)} appeared during the run; it was kept"
                ) from None
            os.rename(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def _exchange(self, temp: str, name: str, replaces: Version) -> None:
        try:
            renameat2(self.fd, temp, self.fd, name, RENAME_EXCHANGE)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise
            os.rename(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)  # checked just above
            return
        old = _lstat(self.fd, temp)  # what the exchange took out of ``name``
        if old is not None and replaces.same_content_as(old):
            os.unlink(temp, dir_fd=self.fd)
            return
        renameat2(self.fd, temp, self.fd, name, RENAME_EXCHANGE)  # theirs goes back
        raise Occupied(f"{printable(self.path / name)} changed during the run; it was kept")

    def discard(self, temp: str) -> None:
        """Remove a temporary of ours (never anything else: callers pass what they created)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=self.fd)

    def clear(self) -> None:
        """Remove everything in this folder (``--c``), by descriptor: what goes is what this
        folder holds, whatever its path names meanwhile; links are removed, never followed.

        Without recursion (``shutil.rmtree`` recursed once per level, and an output tree
        mirrors an uploader's 1,000-deep folders): a stack of the folders being emptied, each
        held open, entered relative to the one above it."""
        from lltd.fs.walk import allow_deep_descriptors

        allow_deep_descriptors()
        stack: list[tuple[int, str]] = [(os.dup(self.fd), "")]
        try:
            while stack:
                fd, name = stack[-1]
                with os.scandir(fd) as listing:
                    entries = list(listing)
                below = next((e.name for e in entries if e.is_dir(follow_symlinks=False)), None)
                if below is not None:
                    stack.append((os.open(below, DIR_FLAGS, dir_fd=fd), below))
                    continue
                for entry in entries:
                    os.unlink(entry.name, dir_fd=fd)
                os.close(stack.pop()[0])
                if stack:
                    os.rmdir(name, dir_fd=stack[-1][0])
        finally:
            for fd, _ in stack:
                os.close(fd)

    def remove(self, name: str, expected: Version) -> str | None:
        """Unlink ``name`` only if it is ``expected``; None when removed, else why it was kept."""
        seam.reached("remove", self.fd, name)
        st = _lstat(self.fd, name)
        if st is None:
            return "it is gone"
        if not stat.S_ISREG(st.st_mode) or Version.of(st) != expected:
            return "it changed since it was converted"
        # Moved aside first, then checked: the node checked is the node unlinked, whatever
        # happens to the name meanwhile.
        hold = f".{name}.{os.urandom(6).hex()}{HOLD_SUFFIX}"
        try:
            os.rename(name, hold, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileNotFoundError:
            return "it is gone"
        held = _lstat(self.fd, hold)
        if held is not None and stat.S_ISREG(held.st_mode) and expected.same_content_as(held):
            os.unlink(hold, dir_fd=self.fd)
            return None
        try:
            self._rename_noreplace(hold, name)
        except (Occupied, OSError):
            return f"it changed since it was converted (set aside as {printable(hold)})"
        return "it changed since it was converted"


class Input:
    """A regular file open for reading, with the version it had when opened."""

    __slots__ = ("fd", "folder", "name", "st", "version")

    def __init__(self, fd: int, st: os.stat_result, folder: Folder, name: str) -> None:
        self.fd = fd
        self.st = st
        self.version = Version.of(st)
        self.folder = folder  # the folder it was opened in, held open for a later removal
        self.name = name

    def read_all(self, limit: int | None = None) -> bytes:
        """Everything up to end of file (one read for a file that did not grow since fstat);
        with ``limit``, at most ``limit + 1`` bytes: a writer appending meanwhile cannot make
        the reader hold more than that, and the caller sees that it went past."""
        return b"".join(self.chunks(limit, first=self.st.st_size + 1))

    def chunks(self, limit: int | None = None, *, first: int = _CHUNK):  # type: ignore[no-untyped-def]
        """The content in 1 MiB pieces (``first`` bytes the first time), from the start; with
        ``limit``, at most ``limit + 1`` bytes in all (see :meth:`read_all`)."""
        offset, size = 0, first
        while True:
            if limit is not None:
                size = min(size, limit + 1 - offset)
                if size <= 0:
                    return
            chunk = os.pread(self.fd, size, offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk
            size = _CHUNK

    def dup(self) -> Input:
        """Another handle on this open file and its folder, closed on its own: a host that
        opened and checked the input (the watch daemon) hands it to a job this way
        (:attr:`lltd.batch.scan.Task.opened`), and the job reads that very file."""
        folder = Folder(os.dup(self.folder.fd), self.folder.path)
        try:
            return Input(os.dup(self.fd), self.st, folder, self.name)
        except BaseException:
            folder.close()
            raise

    def unchanged(self) -> bool:
        """The descriptor's file still has the version it was opened with (no writer since)."""
        return Version.of(os.fstat(self.fd)) == self.version

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        self.folder.close()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(st: os.stat_result) -> str:
    return f"it exists and is {describe_mode(st.st_mode)}"


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _parent_and_name(relative: str) -> tuple[str, str]:
    parts = split(relative)
    if not parts:
        raise Escape(errno.EINVAL, "no file name", relative)
    return "/".join(parts[:-1]), parts[-1]
