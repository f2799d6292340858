"""The dispatcher thread: takes complete files from the intake, makes each a work item (its
output name from the folder's planner, its claim under ``--shared``) and hands it to the pool.

Watchdog's emitter -> queue -> dispatcher split: :mod:`discovery` fills the :class:`Intake`,
this empties it, and the pool reports back to the daemon, never to this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from lltd.batch.scan import Task
from lltd.common.text import printable
from lltd.watch.discovery import Key
from lltd.watch.folders import Folder
from lltd.watch.intake import Intake
from lltd.watch.pool import Pool
from lltd.watch.settle import Settler, signature
from lltd.watch.worker import WorkItem


class Dispatcher:
    def __init__(
        self,
        folders: list[Folder],
        intake: Intake[Key],
        settler: Settler[Key],
        pool: Pool[Key],
        error: Callable[[str], None],
        *,
        fsync: bool,
    ) -> None:
        self.folders = folders
        self.intake = intake
        self.settler = settler
        self.pool = pool
        self.error = error
        self.fsync = fsync
        self.stopped = threading.Event()  # take no more files
        self.drained = threading.Event()  # the pool has drained: the thread may end

    def run(self) -> None:
        try:
            self._loop()
        finally:
            # Workers are spawned from this thread, and PR_SET_PDEATHSIG fires when the thread
            # that spawned them ends: stay until the pool has drained.
            self.drained.wait()

    def _loop(self) -> None:
        while not self.stopped.is_set():
            if not self.pool.reserve(timeout=0.2):
                continue
            key = self.intake.take(timeout=0.2)
            if key is None:
                self.pool.unreserve()
                continue
            try:
                submitted = self._submit(key)
            except Resettle:
                self.retry_later(key)
                self.pool.unreserve()
                continue
            except Exception as exc:  # the dispatcher must not die; the file stays on disk
                self.error(
                    f"cannot start work on {printable(key[1])}: {type(exc).__name__}: "
                    f"{printable(str(exc))}; trying again"
                )
                self.retry_later(key)
                self.pool.unreserve()
                continue
            if not submitted:
                self.intake.release(key)
                self.pool.unreserve()

    def retry_later(self, key: Key) -> None:
        """Back to IN (from our claims, if there) and through settling: a passing failure (a
        journal locked too long by another daemon) must not leave the file to the next rescan."""
        folder, path = self.folders[key[0]], Path(key[1])
        if folder.claims is not None:
            folder.claims.give_back(path.relative_to(folder.root))
        self.settler.track(path, key)

    def _submit(self, key: Key) -> bool:
        folder = self.folders[key[0]]
        path = Path(key[1])
        relative = path.relative_to(folder.root)
        output = folder.output_for(path)  # before the claim: a failure here leaves none behind
        settled = self.intake.settled(key)
        source: Path | None = path
        claimed = folder.claims.held_version(relative) if folder.claims is not None else None
        if claimed is not None:
            source, sig = folder.claims.claimed_path(relative), claimed  # a retry, or taken over
        elif not folder.filter.accepts(path):
            return False  # not ours any more
        else:
            now = signature(path)  # the name itself: a link swapped in is no regular file
            if now is None:
                return False  # gone, or replaced by something that is no upload
            if settled is not None and now != settled:
                raise Resettle  # replaced or written to since it settled
            sig = now
            if folder.claims is not None:
                source = folder.claims.claim(relative, sig)  # None: another daemon was first
                held = folder.claims.held_version(relative)
                if source is None or held is None:
                    return False
                sig = held
        if folder.seen(path, sig):
            return False
        # display: a failure's .error.txt names the file as uploaded, not its claimed copy.
        task = Task(source, relative, output, display=path)
        item = WorkItem(
            job=folder.job,
            task=task,
            on_success=folder.config.on_success,
            state_dir=folder.state_dir,
            quarantine_dir=folder.output / "failed",
            fsync=self.fsync,
            input_root=folder.root,
            output_root=folder.output,
            expect=sig,
            root_identity=folder.identity,
        )
        if self.stopped.is_set():
            return False
        return self.pool.submit(key, item, sig)


class Resettle(Exception):
    """The file is not the version that settled: let it settle again (a link never does)."""
