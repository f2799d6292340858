"""Which input an output was made from: a small record on the output file itself.

A job that writes an output stamps the temporary file, before it is renamed into place, with an
extended attribute (``user.lltd.made``) naming the input (its path relative to the input root,
size, modification time and SHA-256), the command and the output's own size and SHA-256. The
record and the content are published by the same rename, so no crash can separate them, and a
file someone else puts at that name (a new inode) carries no record.

The planner and the jobs trust an existing output only through :func:`reusable`: the record
names this very input, unchanged, and the output is still byte for byte what was written. Any
same-named file without a record is not ours. Object stores keep the record in a sidecar object
(see :mod:`lltd.cluster.storage`); file systems without user extended attributes keep none, so
their outputs are simply redone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

XATTR = "user.lltd.made"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """An input as a record names it: enough to tell it from any other file or version."""

    name: str  # relative POSIX path under the input root
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path, name: str) -> Source:
        """Read ``path`` (a regular file: a FIFO would block) and describe it."""
        with open(path, "rb", opener=_regular_opener) as handle:
            st = os.fstat(handle.fileno())
            digest = hashlib.sha256()
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        return cls(name, st.st_size, st.st_mtime_ns, digest.hexdigest())


@dataclass(frozen=True)
class Mark:
    command: str
    source: Source
    output_size: int
    output_sha256: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Mark | None:
        try:
            raw = json.loads(data)
            return cls(
                str(raw["command"]),
                Source(**raw["source"]),
                int(raw["output_size"]),
                str(raw["output_sha256"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _regular_opener(path: str, flags: int) -> int:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", path)
    os.set_blocking(fd, True)
    return fd


def sha256_of(path: Path) -> tuple[int, str]:
    with open(path, "rb", opener=_regular_opener) as handle:
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def stamp(path: Path, command: str, source: Source) -> Mark:
    """Record on ``path`` (the temporary file about to be published) that ``source`` made it."""
    size, digest = sha256_of(path)
    mark = Mark(command, source, size, digest)
    write_mark(path, mark)
    return mark


def write_mark(path: Path, mark: Mark | None) -> None:
    if mark is None:
        return
    with contextlib.suppress(OSError):  # no user xattrs here: the output is redone next time
        os.setxattr(path, XATTR, mark.to_bytes(), follow_symlinks=False)


def read_mark(path: Path) -> Mark | None:
    try:
        data = os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError:
        return None
    return Mark.from_bytes(data)


def intact(path: Path, mark: Mark) -> bool:
    """``path`` is still exactly the output the record describes (complete, unchanged)."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != mark.output_size:
            return False
        return sha256_of(path) == (mark.output_size, mark.output_sha256)
    except OSError:
        return False


def same_source(mark: Mark, path: Path, name: str) -> bool:
    """The record names ``path`` as it is now (name, size, time, then content)."""
    recorded = mark.source
    if recorded.name != name:
        return False
    try:
        st = os.stat(path)
        if (st.st_size, st.st_mtime_ns) != (recorded.size, recorded.mtime_ns):
            return False
        return Source.of(path, name).sha256 == recorded.sha256
    except OSError:
        return False


def matches(output: Path, source: Source, command: str) -> bool:
    """An earlier run of ``command`` wrote ``output`` from ``source`` as it is now, and the
    output is intact: the only case in which an existing output is reused."""
    mark = read_mark(output)
    return (
        mark is not None
        and mark.command == command
        and mark.source == source
        and intact(output, mark)
    )
