"""The drop folders: open (IN, its state folder ``IN/.lltd``, OUT), lock, recover after a crash.

``IN/.lltd`` is the daemon's alone (:mod:`lltd.watch.state`), reached without following links
(a writer of IN could plant one) and kept open for the daemon's life; the lock and the journal
are opened through that descriptor.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lltd.batch.engine import Job
from lltd.batch.plan import Planner
from lltd.batch.scan import is_within
from lltd.common.errors import UsageError
from lltd.common.text import printable
from lltd.fs.atomic import TEMP_SUFFIX, remove_stale_temporaries
from lltd.fs.entries import remove_named
from lltd.fs.identity import Version
from lltd.watch.actions import make_job
from lltd.watch.config import FolderConfig
from lltd.watch.handler import Filter
from lltd.watch.journal import Journal
from lltd.watch.lock import FolderLock
from lltd.watch.names import FileNames
from lltd.watch.shared import Claims
from lltd.watch.state import STATE_DIR, open_state

SHARED_TEMP_AGE = 3600.0  # s: older temporaries in a shared folder belong to no live writer


@dataclass
class Folder:
    index: int
    config: FolderConfig
    root: Path
    output: Path
    state_dir: Path
    job: Job
    planner: Planner
    filter: Filter
    lock: FolderLock
    identity: tuple[int, int] = (0, 0)  # pragma: no mutate (open_folder always sets it)
    journal: Journal | None = None  # output names, and what keep mode has done
    state_fd: int = -1  # pragma: no mutate (open_folder always sets it)
    claims: Claims | None = None  # --shared: this daemon's claim folder
    _closed: bool = field(default=False, repr=False)

    @property
    def keeps(self) -> bool:
        return self.config.on_success == "keep"

    def still_there(self) -> bool:
        """IN is the folder we locked (inotify cannot say: our lock file pins the deleted
        folder, so its delete-self event waits until we let go)."""
        try:
            st = os.stat(self.root)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    def journal_key(self, path: Path, sig: Version) -> tuple[str, int, int]:
        return (str(path.relative_to(self.root)), sig.size, sig.mtime_ns)

    def seen(self, path: Path, sig: Version) -> bool:
        """Done before, in keep mode (where the input stays in IN)."""
        return (
            self.keeps
            and self.journal is not None
            and self.journal.seen(self.journal_key(path, sig))
        )

    def output_for(self, path: Path) -> Path:
        """The output name, from the one planner (as a batch run's): a.png then a.jpg (both
        a.png in OUT) makes a.jpg's a.jpg.png, never a replacement. Who holds which name is
        the journal's (or, shared, the markers'), so names survive a restart and NFS."""
        return self.output / self.planner.assign(path.relative_to(self.root).as_posix())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.claims is not None:
            self.claims.stop()
        if self.journal is not None:
            self.journal.close()
        self.lock.release()
        if self.state_fd >= 0:  # pragma: no mutate (0, 1, 2 are stdin/out/err, never ours)
            os.close(self.state_fd)


def open_folder(
    index: int, fc: FolderConfig, *, shared: bool = False, claim_timeout: float = 30.0
) -> Folder:
    """Open, create and lock one drop folder (a :class:`UsageError` if it cannot be)."""
    root = fc.input.resolve()
    if not root.is_dir():
        raise UsageError(f"input folder {printable(fc.input)} does not exist or is not a folder")
    output = fc.output.resolve()
    state_dir = root / STATE_DIR
    try:
        state_fd = open_state(root)  # before anything is written: a refused start touches nothing
    except OSError as exc:
        raise UsageError(f"cannot create {printable(state_dir)}: {exc.strerror}") from None
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        os.close(state_fd)
        raise UsageError(f"cannot create {printable(exc.filename)}: {exc.strerror}") from None
    job = make_job(fc, output)
    lock = FolderLock(state_dir / "lock", root, dir_fd=state_fd, shared=shared)
    try:
        lock.acquire()
    except BaseException:
        os.close(state_fd)
        raise
    exclude = (output,) if is_within(output, root) else ()
    st = os.stat(root)
    planner = Planner.for_folder(job, root)
    filter = Filter(root, lambda name: planner.is_input(name, _exists_under(root)), exclude)
    folder = Folder(
        index, fc, root, output, state_dir, job, planner, filter, lock,
        identity=(st.st_dev, st.st_ino), state_fd=state_fd,
    )  # fmt: skip
    try:
        if shared:  # no database: a stalled daemon must not hold a lock the others wait on
            planner.names = FileNames(root, state_dir)
            folder.claims = Claims(root, state_dir, timeout=claim_timeout)
            folder.claims.start()
        else:
            folder.journal = planner.names = open_journal(state_dir, state_fd)
    except BaseException:
        folder.close()
        raise
    return folder


def _exists_under(root: Path) -> Callable[[PurePosixPath], bool]:
    return lambda relative: os.path.lexists(root / relative)


def open_journal(state_dir: Path, state_fd: int) -> Journal:
    name = "journal.sqlite"
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.lstat(name + suffix, dir_fd=state_fd).st_mode):
                raise UsageError(f"{printable(state_dir / (name + suffix))} is a link: refused")
    # Through our descriptor of the state folder: a link swapped in for it is not followed.
    proc = Path(f"/proc/self/fd/{state_fd}")
    where = proc / name if proc.exists() else state_dir / name
    try:
        return Journal(where)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open {printable(state_dir / name)}: {exc}") from None


def recover(folder: Folder) -> int:
    """A crash leaves at most temporary files, which no one else may publish: remove them
    (by descriptor, no link followed: :func:`lltd.fs.atomic.remove_stale_temporaries`).

    Daemons sharing the folder may be writing theirs right now: only old ones go then."""
    limit = time.time() - SHARED_TEMP_AGE if folder.claims is not None else None
    return sum(remove_stale_temporaries(f, limit) for f in (folder.output, folder.state_dir))


def remove_stale_status(status: Path) -> None:
    """The temporaries of the status file an earlier run left (``.NAME.*.lltd-tmp``), by the
    folder's descriptor: regular files only, each as it was when listed."""
    remove_named(status.parent, f".{status.name}.", TEMP_SUFFIX)
