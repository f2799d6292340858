"""Several daemons on one drop folder (``--shared``): each file is claimed by one of them with an
atomic rename into that daemon's claim folder, ``IN/.lltd/claims/<host>-<pid>/<relative>``.

Only one rename of a file can succeed, on a local file system and over NFS alike, so a file is
processed by the daemon that moved it. Each daemon touches ``.alive`` in its claim folder every
few seconds; when another daemon sees that file unchanged for ``claim_timeout`` seconds (by its
own clock: hosts' clocks may disagree), or gone, or sees a claim folder of its own host whose
process is dead, it takes the files over, again one rename each. A daemon killed mid-file thus
leaves its claims to the others; its output, if already written, is replaced by an identical
one, so every input still has exactly one output.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lltd.fs.entries import (
    exists,
    move,
    move_verified,
    remove_empty_dir,
    remove_empty_dirs,
    remove_own,
    touch,
)
from lltd.fs.identity import Version
from lltd.watch.safedir import UnsafePath, open_dir

CLAIMS = "claims"
ALIVE = ".alive"


def daemon_id() -> str:
    host = socket.gethostname().replace("/", "_").replace("-", "_") or "host"
    return f"{host}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claims:
    def __init__(
        self,
        root: Path,
        state_dir: Path,
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        me: str | None = None,
    ) -> None:
        self.root = root
        self.claims = state_dir / CLAIMS
        self.me = me or daemon_id()
        self.mine = self.claims / self.me
        self.timeout = timeout
        self.clock = clock
        self._seen: dict[str, tuple[int | None, float]] = {}  # other -> (alive mtime, since)
        self._parts = (state_dir.name, CLAIMS)

    def start(self) -> None:
        self.heartbeat()

    def heartbeat(self) -> None:
        fd = open_dir(self.root, (*self._parts, self.me))
        try:
            touch(fd, ALIVE)
        finally:
            os.close(fd)

    def claimed_path(self, relative: Path) -> Path:
        return self.mine / relative

    def _mine(self, relative: Path, *, create: bool = False) -> int:
        """Our claim folder for ``relative``'s folder, reached without following links."""
        return open_dir(self.root, (*self._parts, self.me, *relative.parent.parts), create=create)

    def held_version(self, relative: Path) -> Version | None:
        """The version of the regular file we hold for ``relative`` (a retry, a takeover)."""
        try:
            fd = self._mine(relative)
        except OSError:
            return None
        try:
            return _regular(fd, relative.name)
        finally:
            os.close(fd)

    def claim(self, relative: Path, settled: Version | None = None) -> Path | None:
        """Move ``IN/relative`` into our claim folder, by descriptor, while it is a regular file
        (the version that ``settled``, when given); None if another daemon was first, or the
        name holds something else now. A file we claimed earlier (a retry, a takeover) is ours
        already. Its version there: :meth:`held_version` (a rename changes only the ctime)."""
        if self.held_version(relative) is not None:
            return self.mine / relative
        try:
            src = open_dir(self.root, relative.parent.parts, create=False)
        except OSError:
            return None
        try:
            now = _regular(src, relative.name)
            if now is None or (settled is not None and now != settled):
                return None
            dst = self._mine(relative, create=True)
            try:
                if exists(dst, relative.name):
                    return None  # not a regular file of ours: never replaced
                # Same node, same content, or put back (swapped between the check and the
                # rename: not the upload that settled).
                if move_verified(src, relative.name, dst, relative.name, now) != "moved":
                    return None
                return self.mine / relative
            finally:
                os.close(dst)
        except (FileNotFoundError, UnsafePath):
            return None
        finally:
            os.close(src)

    def give_back(self, relative: Path) -> bool:
        """Return a claimed file to IN (it changed while processed, or we are stopping)."""
        try:
            src = self._mine(relative)
        except OSError:
            return False
        try:
            dst = open_dir(self.root, relative.parent.parts, create=False)
        except OSError:
            os.close(src)
            return False
        try:
            if exists(dst, relative.name) or not exists(src, relative.name):
                return False  # a new upload took the name: the claim stays for a takeover
            move(src, relative.name, dst)
        except OSError:
            return False
        finally:
            os.close(src)
            os.close(dst)
        return True

    def held(self) -> Iterator[Path]:
        """Relative paths of the files in our claim folder."""
        try:
            fd = open_dir(self.root, (*self._parts, self.me), create=False)
        except OSError:
            return
        try:
            yield from _files(fd)
        finally:
            os.close(fd)

    def orphans(self) -> list[str]:
        """Claim folders whose daemon is gone (see the module docstring)."""
        now = self.clock()
        dead: list[str] = []
        try:
            claims = open_dir(self.root, self._parts, create=False)
        except OSError:
            return []
        try:
            with os.scandir(claims) as entries:
                # A link planted among the claim folders is nobody's claim: never followed.
                others = [
                    e.name for e in entries if e.name != self.me and e.is_dir(follow_symlinks=False)
                ]
            host = self.me.rpartition("-")[0]
            for other in others:
                other_host, _, pid = other.rpartition("-")
                if other_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                    dead.append(other)
                    continue
                try:
                    alive = os.stat(f"{other}/{ALIVE}", dir_fd=claims, follow_symlinks=False)
                    mtime: int | None = alive.st_mtime_ns
                except FileNotFoundError:
                    mtime = None
                except OSError:
                    continue
                previous = self._seen.get(other)
                if previous is None or previous[0] != mtime:
                    self._seen[other] = (mtime, now)
                elif now - previous[1] >= self.timeout:
                    dead.append(other)
        finally:
            os.close(claims)
        return dead

    def tend(self) -> list[tuple[str, list[Path]]]:
        """Say we are alive; take over the claims of the daemons that are not."""
        self.heartbeat()
        taken = [(other, self.take_over(other)) for other in self.orphans()]
        return [(other, files) for other, files in taken if files]

    def take_over(self, other: str) -> list[Path]:
        """Move ``other``'s claims into ours, one rename each; return their relative paths.
        Only regular files are taken, and nothing under the claim folders is followed: a link
        planted there (as a folder or a file) stays where it is, and nothing outside IN moves."""
        taken: list[Path] = []
        try:
            source = open_dir(self.root, (*self._parts, other), create=False)
        except OSError:
            self._seen.pop(other, None)
            return taken
        try:
            for relative in list(_files(source)):
                try:
                    src = open_dir(
                        self.root, (*self._parts, other, *relative.parent.parts), create=False
                    )
                except OSError:
                    continue
                try:
                    if _regular(src, relative.name) is None:
                        continue
                    dst = self._mine(relative, create=True)
                    try:
                        if exists(dst, relative.name):
                            continue
                        move(src, relative.name, dst)
                    finally:
                        os.close(dst)
                except OSError:
                    continue  # another daemon took it first
                finally:
                    os.close(src)
                taken.append(relative)
            remove_empty_dirs(source)
        finally:
            os.close(source)
        with contextlib.suppress(OSError):
            fd = open_dir(self.root, self._parts, create=False)
            try:
                remove_empty_dir(fd, other)
            finally:
                os.close(fd)
        self._seen.pop(other, None)
        return taken

    def stop(self) -> int:
        """Give every claim back to IN and remove our folder; return how many stayed."""
        stayed = sum(1 for relative in list(self.held()) if not self.give_back(relative))
        with contextlib.suppress(OSError):
            fd = open_dir(self.root, (*self._parts, self.me), create=False)
            try:
                remove_own(fd, ALIVE)
                remove_empty_dirs(fd)
            finally:
                os.close(fd)
            parent = open_dir(self.root, self._parts, create=False)
            try:
                remove_empty_dir(parent, self.me)
            finally:
                os.close(parent)
        return stayed


def _regular(dir_fd: int, name: str) -> Version | None:
    """The version of the regular file ``name`` in ``dir_fd`` itself (a link is no file)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return Version.of(st) if stat.S_ISREG(st.st_mode) else None


def _files(dir_fd: int) -> Iterator[Path]:
    """Regular files below the folder ``dir_fd`` (relative), links never followed."""
    for dirpath, _dirnames, filenames, fd in os.fwalk(".", dir_fd=dir_fd):
        here = Path(dirpath)
        for name in filenames:
            if (here == Path(".") and name == ALIVE) or name.startswith("."):
                continue
            if _regular(fd, name) is not None:
                yield (here / name)
