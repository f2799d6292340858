"""Output names of a shared folder, one marker file each: ``IN/.lltd/names/<output>`` holds the
input it was given to.

Daemons sharing a folder (possibly over NFS) cannot share a database lock safely: a daemon that
stops answering while holding it would stop them all. An exclusive create (a hard link) is
atomic on a local file system and over NFS, needs no lock, and so decides each name once; the
marker is written beside its name and hard-linked into place, so it never appears empty.

It only stores (a :class:`lltd.batch.plan.NameRecord`); the planner decides which name to ask for.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from lltd.fs.destination import temporary_name
from lltd.fs.entries import link_new, open_file, remove_own
from lltd.watch.safedir import open_dir

NAMES = "names"


class FileNames:
    complete = True  # every name given in this folder has its marker

    def __init__(self, root: Path, state_dir: Path) -> None:
        self.root = root
        self.parts = (state_dir.name, NAMES)

    def holder(self, name: str) -> str | None:
        with self._folder(name) as fd:
            owner = _read(fd, PurePosixPath(name).name)
        return None if owner is None else os.fsdecode(owner)

    def claim(self, name: str, input: str) -> str:
        wanted = os.fsencode(input)
        with self._folder(name) as fd:
            base = PurePosixPath(name).name
            owner = wanted if _create(fd, base, wanted) else _read(fd, base)
        # A marker cannot vanish once made; an unreadable one is held by no one we know.
        return os.fsdecode(owner) if owner is not None else ""

    @contextlib.contextmanager
    def _folder(self, name: str) -> Iterator[int]:
        fd = open_dir(self.root, (*self.parts, *PurePosixPath(name).parent.parts))
        try:
            yield fd
        finally:
            os.close(fd)

    def close(self) -> None:
        pass


def _read(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = open_file(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:  # 64 KiB: a name is far shorter, and a huge file planted here must not fill memory
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _create(dir_fd: int, name: str, content: bytes) -> bool:
    """Publish the marker with its content in one step (a hard link fails if the name exists),
    so no daemon ever reads a marker that is there but still empty."""
    temp = temporary_name(name, f"{os.getpid()}.{secrets.token_hex(4)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = open_file(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        try:
            os.write(fd, content)
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        return link_new(dir_fd, temp, name)
    finally:
        remove_own(dir_fd, temp)
