"""One folder tree on any fsspec storage (``s3://``, ``gs://``, ``file://``, ``memory://``, a path).

Only what batch runs need: list, stat, fetch to a local file, publish a local file atomically,
delete. A ``Storage`` is a small picklable value: workers rebuild the filesystem from the URL and
take credentials from their own environment, as fsspec does everywhere.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from lltd.batch.marks import Mark, Source, read_mark
from lltd.common.errors import UsageError
from lltd.common.urls import is_url
from lltd.fs.atomic import copy_atomic
from lltd.fs.destination import UnsafeDestination
from lltd.fs.identity import Version

#: Object stores have no extended attributes: an output's provenance record is the object
#: ``.lltd/made/<output name>`` beside the tree (local files keep it on the file itself).
MARKS = ".lltd/made"


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float | None


#: Local files fetched by this process and the version fetched: what delete() may remove.
_FETCHED: dict[str, Version] = {}


def _timestamp(value: Any) -> float | None:
    """Backends name and type modification times differently (float, datetime, ISO string)."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _info(details: dict[str, Any]) -> FileInfo:
    mtime = None
    for key in ("mtime", "LastModified", "updated", "last_modified", "created"):
        mtime = _timestamp(details.get(key))
        if mtime is not None:
            break
    return FileInfo(int(details.get("size") or 0), mtime)


@dataclass(frozen=True)
class Storage:
    """The folder ``location`` (a URL or a local path); files are named by POSIX relative paths."""

    location: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def of(cls, location: str | os.PathLike[str]) -> Storage:
        text = str(location)
        if not is_url(text):
            text = str(Path(text).absolute())
        return cls(text.rstrip("/") or "/")

    def __getstate__(self) -> dict[str, Any]:
        # The cached filesystem is rebuilt on the worker: it may hold sockets and locks.
        return {"location": self.location, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "location", state["location"])
        object.__setattr__(self, "options", state["options"])

    @cached_property
    def _fs(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        try:
            fs, root = url_to_fs(self.location, **self.options)
        except (ImportError, ValueError) as exc:  # unknown scheme or its package missing
            raise UsageError(f"cannot open {self.location}: {exc}") from None
        return fs, root.rstrip("/")

    @property
    def fs(self) -> Any:
        return self._fs[0]

    @property
    def is_local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    @property
    def protocol(self) -> str:
        protocol = self.fs.protocol
        return protocol if isinstance(protocol, str) else protocol[0]

    def path(self, relative: str | PurePosixPath = "") -> str:
        """The backend path of ``relative`` (no scheme)."""
        root = self._fs[1]
        relative = str(relative).strip("/")
        return f"{root}/{relative}" if relative and relative != "." else root

    def url(self, relative: str | PurePosixPath) -> str:
        """How reports name a file: the location as the user gave it, plus the relative path."""
        return f"{self.location.rstrip('/')}/{str(relative).strip('/')}"

    def relative_to(self, other: Storage) -> str | None:
        """This folder's path inside ``other`` (``""`` when equal), or None when outside it."""
        if self.protocol != other.protocol:
            return None
        mine, theirs = self.path(), other.path()
        if mine == theirs:
            return ""
        return mine[len(theirs) + 1 :] if mine.startswith(theirs.rstrip("/") + "/") else None

    def is_dir(self) -> bool:
        try:
            return bool(self.fs.isdir(self.path()))
        except OSError:
            return False

    def listing(self) -> dict[str, FileInfo]:
        """Every file below the folder, by relative path."""
        root = self.path()
        found = self.fs.find(root, detail=True)
        prefix = root.rstrip("/") + "/"
        return {
            path[len(prefix) :]: _info(details)
            for path, details in found.items()
            if path.startswith(prefix) and details.get("type", "file") == "file"
        }

    def listing_if_any(self) -> dict[str, FileInfo]:
        """:meth:`listing`, or nothing when the folder does not exist yet."""
        try:
            return self.listing() if self.fs.exists(self.path()) else {}
        except FileNotFoundError:
            return {}

    def read_mark(self, relative: str) -> Mark | None:
        """The provenance record of the file ``relative`` (see :mod:`lltd.batch.marks`)."""
        if self.is_local:
            return read_mark(Path(self.path(relative)))
        try:
            return Mark.from_bytes(self.fs.cat_file(self.path(f"{MARKS}/{relative}")))
        except (FileNotFoundError, OSError):
            return None

    def describe(self, relative: str) -> Source | None:
        """The file as a provenance record names it (reads it all, to hash it)."""
        import hashlib

        info = self.info(relative)
        if info is None:
            return None
        if self.is_local:  # to the nanosecond, as the job recorded it (a float of seconds is not)
            return Source.of(Path(self.path(relative)), relative)
        data = self.fs.cat_file(self.path(relative))
        mtime_ns = int(info.mtime * 1e9) if info.mtime is not None else 0
        return Source(relative, len(data), mtime_ns, hashlib.sha256(data).hexdigest())

    def info(self, relative: str, *, fresh: bool = False) -> FileInfo | None:
        """``fresh``: ask the store, not a listing cached by an earlier call (s3fs answers from
        its parent folder's listing, which may predate the file)."""
        if fresh:
            self.fs.invalidate_cache(self.path(relative))
        try:
            details = self.fs.info(self.path(relative))
        except FileNotFoundError:
            return None
        return _info(details) if details.get("type", "file") == "file" else None

    def fetch(self, relative: str, local: Path, limit: int | None = None) -> None:
        """Copy a file here with its modification time (exact for local files: provenance
        records compare it). ``limit`` (``--max-bytes``): :class:`TooLarge`, and nothing
        copied, for a file that holds more bytes."""
        from lltd.batch.marks import TooLarge

        local.parent.mkdir(parents=True, exist_ok=True)
        if self.is_local:
            # By descriptor (lltd.fs): no link in the tree followed, and the version copied is
            # the version a later delete() may remove, nothing else.
            from lltd.fs.atomic import copy_extents
            from lltd.fs.places import tree_at

            tree = tree_at(Path(self.path()))
            with tree.open_input(relative) as opened:
                TooLarge.check(opened.st.st_size, limit)
                with open(local, "xb") as out:
                    copy_extents(opened.fd, out.fileno(), opened.st.st_size)
                    os.utime(out.fileno(), ns=(opened.st.st_atime_ns, opened.st.st_mtime_ns))
                _FETCHED[self.path(relative)] = opened.version
            return
        info = self.info(relative, fresh=True)
        if info is not None:
            TooLarge.check(info.size, limit)
        self.fs.get_file(self.path(relative), str(local))
        info = self.info(relative)
        if info is not None and info.mtime is not None:
            os.utime(local, (info.mtime, info.mtime))

    def publish(self, local: Path, relative: str) -> None:
        """Make ``local`` the file ``relative`` so that no reader sees part of it: a rename for
        local files, a single put for object stores (whose objects appear only once complete)."""
        destination = self.path(relative)
        if self.is_local:
            from lltd.fs.places import place_of

            # In the tree's descriptor, through no link; copystat carries the provenance record.
            folder, _, owned = place_of(Path(destination), Path(self.path()))
            try:
                copy_atomic(local, Path(destination), folder=folder)
            finally:
                if owned:
                    folder.close()
            return
        self.fs.pipe_file(destination, local.read_bytes())
        mark = read_mark(local)
        if mark is not None:  # after the object: a record never names a missing output
            self.fs.pipe_file(self.path(f"{MARKS}/{relative}"), mark.to_bytes())

    def delete(self, relative: str) -> None:
        """Remove a file the job removed (``--r``'s original, a dropped older output). A local
        file goes only if it is still the version this process fetched (lltd.fs)."""
        if self.is_local:
            self._delete_local(relative)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(relative))
        if not self.is_local:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path(f"{MARKS}/{relative}"))

    def _delete_local(self, relative: str) -> None:
        from lltd.fs.places import place_of

        expected = _FETCHED.pop(self.path(relative), None)
        if expected is None:
            return  # never fetched here: nothing this job decided on
        try:
            where = Path(self.path(relative))
            folder, name, owned = place_of(where, Path(self.path()), create=False)
        except FileNotFoundError:
            return
        try:
            why = folder.remove(name, expected)
        finally:
            if owned:
                folder.close()
        if why is not None and why != "it is gone":
            raise UnsafeDestination(f"{self.url(relative)}: original kept: {why}")

    def remove_tree(self) -> bool:
        if not self.fs.exists(self.path()):
            return False
        self.fs.rm(self.path(), recursive=True)
        return True
