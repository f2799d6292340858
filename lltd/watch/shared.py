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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from lltd.watch.safedir import UnsafePath, ensure_dirs, open_dir

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
            alive = os.open(ALIVE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644, dir_fd=fd)
            os.close(alive)
            os.utime(ALIVE, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def claimed_path(self, relative: Path) -> Path:
        return self.mine / relative

    def claim(self, relative: Path) -> Path | None:
        """Move ``IN/relative`` into our claim folder; None if another daemon was first (or the
        file is gone). A file we claimed earlier (a retry, a takeover) is ours already."""
        target = self.mine / relative
        if os.path.lexists(target):
            return target
        try:
            ensure_dirs(self.root, Path(*self._parts, self.me, *relative.parent.parts))
            os.rename(self.root / relative, target)
        except FileNotFoundError:
            return None
        except UnsafePath:
            return None
        return target

    def give_back(self, relative: Path) -> bool:
        """Return a claimed file to IN (it changed while processed, or we are stopping)."""
        source, target = self.mine / relative, self.root / relative
        if os.path.lexists(target):
            return False  # a new upload took the name meanwhile: the claim stays for a takeover
        try:
            os.rename(source, target)
        except OSError:
            return False
        return True

    def held(self) -> Iterator[Path]:
        """Relative paths of the files in our claim folder."""
        yield from _files(self.mine)

    def orphans(self) -> list[str]:
        """Claim folders whose daemon is gone (see the module docstring)."""
        now = self.clock()
        dead: list[str] = []
        try:
            others = [e.name for e in os.scandir(self.claims) if e.name != self.me]
        except OSError:
            return []
        host = self.me.rpartition("-")[0]
        for other in others:
            other_host, _, pid = other.rpartition("-")
            if other_host == host and pid.isdigit() and not _pid_alive(int(pid)):
                dead.append(other)
                continue
            try:
                mtime: int | None = os.stat(self.claims / other / ALIVE).st_mtime_ns
            except FileNotFoundError:
                mtime = None
            except OSError:
                continue
            previous = self._seen.get(other)
            if previous is None or previous[0] != mtime:
                self._seen[other] = (mtime, now)
            elif now - previous[1] >= self.timeout:
                dead.append(other)
        return dead

    def tend(self) -> list[tuple[str, list[Path]]]:
        """Say we are alive; take over the claims of the daemons that are not."""
        self.heartbeat()
        taken = [(other, self.take_over(other)) for other in self.orphans()]
        return [(other, files) for other, files in taken if files]

    def take_over(self, other: str) -> list[Path]:
        """Move ``other``'s claims into ours, one rename each; return their relative paths."""
        source_root = self.claims / other
        taken: list[Path] = []
        for relative in list(_files(source_root)):
            target = self.mine / relative
            try:
                ensure_dirs(self.root, Path(*self._parts, self.me, *relative.parent.parts))
                if os.path.lexists(target):
                    continue
                os.rename(source_root / relative, target)
            except OSError:
                continue  # another daemon took it first
            taken.append(relative)
        _remove_empty(source_root)
        self._seen.pop(other, None)
        return taken

    def stop(self) -> int:
        """Give every claim back to IN and remove our folder; return how many stayed."""
        stayed = sum(1 for relative in list(self.held()) if not self.give_back(relative))
        with contextlib.suppress(OSError):
            (self.mine / ALIVE).unlink()
        _remove_empty(self.mine)
        return stayed


def _files(folder: Path) -> Iterator[Path]:
    for dirpath, _dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in filenames:
            if here == folder and name == ALIVE:
                continue
            if name.startswith("."):
                continue
            yield (here / name).relative_to(folder)


def _remove_empty(folder: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(folder, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)  # only empty ones go
