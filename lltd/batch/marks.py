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

Trust follows ownership: a record is read only from a file the running user owns (root's own
files when running as root). In a sticky or group-writable folder anyone may write a file whose
record names our input; that file is somebody else's, never "our earlier output".
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lltd.common.errors import ImageError

if TYPE_CHECKING:
    from lltd.fs.tree import Input

XATTR = "user.lltd.made"
_CHUNK = 1 << 20  # pragma: no mutate (the read size: any size hashes the same bytes)


class TooLarge(ImageError):
    """An input over ``--max-bytes``: refused, and not copied anywhere (failed/ included)."""

    @classmethod
    def check(cls, size: int, limit: int | None) -> None:
        """Refuse ``size`` bytes when they pass ``limit`` (None: no limit)."""
        if limit is not None and size > limit:
            raise cls(f"{size} bytes, more than --max-bytes ({limit})")


@dataclass(frozen=True)  # pragma: no mutate (immutability guards callers, not results)
class Source:
    """An input as a record names it: enough to tell it from any other file or version."""

    name: str  # relative POSIX path under the input root
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: Path, name: str) -> Source:
        """Read ``path`` (a regular file: a FIFO would block) and describe it."""
        return cls.read(path, name)[0]

    @classmethod
    def read(cls, path: Path, name: str, keep: int = 0) -> tuple[Source, bytes | None]:
        """Describe ``path`` and, when it holds at most ``keep`` bytes, return them too: the
        job then decodes the very bytes the record's SHA-256 names, read once."""
        fd, st = _open_regular(path)
        try:
            digest = hashlib.sha256()
            data = None
            if st.st_size <= keep:
                data = _read_all(fd, st.st_size)
                digest.update(data)
            else:
                while chunk := os.read(fd, _CHUNK):
                    digest.update(chunk)
        finally:
            os.close(fd)
        return cls(name, st.st_size, st.st_mtime_ns, digest.hexdigest()), data

    @classmethod
    def of_input(
        cls, opened: Input, name: str, keep: int = 0, limit: int | None = None
    ) -> tuple[Source, bytes | None]:
        """:meth:`read` from an input already open (:mod:`lltd.fs.tree`): the bytes hashed are
        the bytes decoded, from the one descriptor whose version later decisions compare.

        ``limit`` (``--max-bytes``): :class:`TooLarge` for a file that holds more, decided on
        the descriptor before a byte is read, or once a writer made it grow past it."""
        size = opened.st.st_size
        TooLarge.check(size, limit)
        digest = hashlib.sha256()
        data = None
        read = 0
        if size <= keep:
            data = opened.read_all(limit)
            digest.update(data)
            read = len(data)
        else:
            for chunk in opened.chunks(limit):
                digest.update(chunk)
                read += len(chunk)
        if limit is not None and read > limit:
            raise TooLarge(f"grew past --max-bytes ({limit}) while it was read")
        return cls(name, size, opened.st.st_mtime_ns, digest.hexdigest()), data


@dataclass(frozen=True)  # pragma: no mutate (immutability guards callers, not results)
class Mark:
    command: str
    source: Source
    output_size: int
    output_sha256: str

    def to_bytes(self) -> bytes:
        # Spelled out rather than asdict(): this runs once per output written.
        record = {
            "command": self.command,
            "output_sha256": self.output_sha256,
            "output_size": self.output_size,
            "source": {
                "mtime_ns": self.source.mtime_ns,
                "name": self.source.name,
                "sha256": self.source.sha256,
                "size": self.source.size,
            },
        }
        return json.dumps(record, separators=(",", ":"), sort_keys=True).encode()

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


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor of ``path``, refused unless it is a regular file. O_NONBLOCK:
    opening a FIFO must not wait for a writer. Plain descriptors, not Python file objects:
    these reads run once or twice per image, and a file object adds an isatty ioctl and seeks."""
    # O_NOFOLLOW: a name swapped for a link is refused, never read through (issue 24).
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        # One F_SETFL, not os.set_blocking's read-modify-write: the status flags are known (the
        # descriptor's own are O_RDONLY only), and every input pays for this.
        fcntl.fcntl(fd, fcntl.F_SETFL, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _read_all(fd: int, size: int) -> bytes:
    """Everything up to end of file (one read for a file that did not grow since ``fstat``)."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, _CHUNK))
    return b"".join(chunks)


def sha256_of(path: Path) -> tuple[int, str]:
    fd, _ = _open_regular(path)
    try:
        digest = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def stamp(path: Path | int, command: str, source: Source, content: bytes | None = None) -> Mark:
    """Record on ``path`` (the temporary file about to be published, or its descriptor) that
    ``source`` made it. ``content``: what the caller wrote there itself, so the file need not
    be read back to hash it."""
    if content is not None:
        size, digest = len(content), hashlib.sha256(content).hexdigest()
    else:
        assert not isinstance(path, int), "a descriptor is stamped with its content"
        size, digest = sha256_of(path)
    mark = Mark(command, source, size, digest)
    write_mark(path, mark)
    return mark


def write_mark(path: Path | int, mark: Mark | None) -> None:
    if mark is None:
        return
    with contextlib.suppress(OSError):  # no user xattrs here: the output is redone next time
        if isinstance(path, int):
            os.setxattr(path, XATTR, mark.to_bytes())
        else:
            os.setxattr(path, XATTR, mark.to_bytes(), follow_symlinks=False)


def trusted(st: os.stat_result) -> bool:
    """A record on this file may be believed: the running user owns it."""
    return st.st_uid == os.geteuid()


def read_mark(path: Path) -> Mark | None:
    try:
        if not trusted(os.lstat(path)):
            return None
        data = os.getxattr(path, XATTR, follow_symlinks=False)
    except OSError:
        return None
    return Mark.from_bytes(data)


def read_mark_fd(fd: int) -> Mark | None:
    """The record on an open file, if the running user owns it."""
    try:
        if not trusted(os.fstat(fd)):
            return None
        return Mark.from_bytes(os.getxattr(fd, XATTR))
    except OSError:
        return None


def matches_input(existing: Input, source: Source, command: str) -> bool:
    """:func:`matches` on an output already open by descriptor (its record, size and content
    read from that descriptor)."""
    mark = read_mark_fd(existing.fd)
    if mark is None or mark.command != command or mark.source != source:
        return False
    if existing.st.st_size != mark.output_size:
        return False
    digest = hashlib.sha256()
    for chunk in existing.chunks():
        digest.update(chunk)
    return digest.hexdigest() == mark.output_sha256


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
        st = os.lstat(path)
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
