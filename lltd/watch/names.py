"""Output names of a shared folder, one marker file each: ``IN/.lltd/names/<output>`` holds the
input it was given to.

Daemons sharing a folder (possibly over NFS) cannot share a database lock safely: a daemon that
stops answering while holding it would stop them all. An exclusive create (a hard link) is
atomic on a local file system and over NFS, needs no lock, and so decides each name once; the
marker is written beside its name and hard-linked into place, so it never appears empty.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from lltd.atomic import TEMP_SUFFIX
from lltd.watch.safedir import open_dir

NAMES = "names"


class FileNames:
    def __init__(self, root: Path, state_dir: Path) -> None:
        self.root = root
        self.parts = (state_dir.name, NAMES)

    def assign_output(
        self, input: str, candidates: Iterable[str], exists: Callable[[str], bool]
    ) -> str:
        """As :meth:`lltd.watch.journal.Journal.assign_output`."""
        wanted = os.fsencode(input)
        for candidate in candidates:
            relative = Path(candidate)
            fd = open_dir(self.root, (*self.parts, *relative.parent.parts))
            try:
                owner = _read(fd, relative.name)
                if owner is not None:
                    if owner == wanted:
                        return candidate
                    continue
                if exists(candidate):
                    continue
                if _create(fd, relative.name, wanted):
                    return candidate
                if _read(fd, relative.name) == wanted:
                    return candidate  # the same input, named by another daemon just now
            finally:
                os.close(fd)
        raise RuntimeError("no free output name")  # candidates are an endless series

    def close(self) -> None:
        pass


def _read(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _create(dir_fd: int, name: str, content: bytes) -> bool:
    """Publish the marker with its content in one step (a hard link fails if the name exists),
    so no daemon ever reads a marker that is there but still empty."""
    temp = f".{name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        try:
            os.write(fd, content)
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
