"""Finding complete files: the observers (watchdog's emitters), the scans, and the queue
overflow alarm. Everything found goes to the :class:`Intake` (queued) or the :class:`Settler`
(waiting for its size and mtime to settle); the dispatcher takes it from there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)
from watchdog.observers.api import BaseObserver

from lltd.common.errors import LltdError
from lltd.common.text import printable
from lltd.fs.identity import Version
from lltd.fs.walk import walk
from lltd.watch.folders import Folder
from lltd.watch.handler import WatchHandler
from lltd.watch.intake import Intake
from lltd.watch.settle import Settler, signature

Key = tuple[int, str]  # (folder index, absolute path): one file, known at most once

#: What the native observer asks the kernel for. No IN_MODIFY: a write per event would cost
#: more than it tells (settling compares size and mtime, and completion comes from the close).
NATIVE_EVENTS = (
    FileCreatedEvent, DirCreatedEvent, FileMovedEvent, DirMovedEvent, FileDeletedEvent,
    FileOpenedEvent, FileClosedEvent, FileClosedNoWriteEvent,
)  # fmt: skip


class Discovery(Protocol):
    """What the sinks need of the daemon."""

    settler: Settler[Key]
    intake: Intake[Key]

    def queue_live(self, key: Key, version: Version) -> None: ...

    def request_scan(self, folder: Folder, directory: Path) -> None: ...


class FolderSink:
    """Where the handler's decisions for one folder go (called on observer threads)."""

    def __init__(self, daemon: Discovery, folder: Folder, settle_rule: str = "close") -> None:
        self.daemon = daemon
        self.folder = folder
        # "quiet": a close is no completion (uploaders that reopen the file per chunk); every
        # file settles, and a file someone has open is not settled.
        self.closes_complete = settle_rule == "close"

    def _key(self, path: Path) -> Key:
        return (self.folder.index, str(path))

    def complete(self, path: Path) -> None:
        if not self.closes_complete:
            self.daemon.settler.closed(path)
            self.candidate(path)
            return
        key = self._key(path)
        settler, intake = self.daemon.settler, self.daemon.intake
        if settler.forget(path) is None and not intake.claim(key):
            return  # already queued or in flight
        sig = signature(path)
        if sig is None:
            intake.release(key)
        elif sig.size == 0:
            settler.track(path, key)  # an empty file is a placeholder until proven otherwise
        else:
            self.daemon.queue_live(key, sig)

    def moved_in(self, path: Path) -> None:
        """Renamed into place: complete whatever the rule (a rename is how writers publish)."""
        rule, self.closes_complete = self.closes_complete, True
        try:
            self.complete(path)
        finally:
            self.closes_complete = rule

    def candidate(self, path: Path) -> None:
        if path in self.daemon.settler or self.daemon.intake.claim(self._key(path)):
            self.daemon.settler.track(path, self._key(path))

    def opened(self, path: Path) -> None:
        if not self.closes_complete:
            self.candidate(path)  # a reopened file is being written again: restart its period
        self.daemon.settler.opened(path)

    def closed_unwritten(self, path: Path) -> None:
        self.daemon.settler.closed(path)

    def gone(self, path: Path) -> None:
        key = self.daemon.settler.forget(path)
        if key is not None:
            self.daemon.intake.release(key)

    def directory(self, path: Path) -> None:
        self.daemon.request_scan(self.folder, path)


def native_observer() -> BaseObserver:
    """inotify where there is inotify, with "full" events: a file renamed into IN from another
    folder is then a move (complete at once), not a creation that has to settle."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux: the platform's native observer
        from watchdog.observers import Observer

        return Observer()
    quiet_duplicate_watches()
    return InotifyObserver(generate_full_events=True)


#: watchdog's warning when a folder it already watches is watched again (harmless: the same
#: callback replaces itself).
DUPLICATE_WATCH_WARNING = r"Callback with id .* already exists for watch"


def quiet_duplicate_watches() -> None:
    """Make watchdog's duplicate-watch warning cost what one line costs, and silence it.

    A folder tree made level by level faster than inotify's thread reads its events (an
    uploader's ``mkdir d; cd d`` loop, or this daemon's own ``.lltd/done`` tree mirroring one)
    has each new folder's watch added twice: once by the walk below its parent, once by its own
    creation event. watchdog 7 then warns with ``repr`` of the watch, which spells every path
    the whole folder watches: 1,100 levels made 427 warnings and 677 MB of text (50 s in which
    the daemon read no event and could not stop), 3.4 GB on the daemon's stderr. The watch's
    own short form is one path; the warning says nothing a user can act on.
    """
    import warnings

    from watchdog.observers import inotify_c

    watch = getattr(inotify_c, "Watch", None)  # watchdog >= 7 (older ones never warned)
    if watch is not None and callable(getattr(watch, "short_str", None)):
        watch.__repr__ = watch.short_str
    warnings.filterwarnings("ignore", DUPLICATE_WATCH_WARNING, RuntimeWarning)


def start_observer(
    folder: Folder, sink: FolderSink, polling: bool, settle_s: float
) -> BaseObserver:
    if polling:
        from watchdog.observers.polling import PollingObserver

        observer: BaseObserver = PollingObserver(timeout=max(0.1, min(1.0, settle_s / 2)))
    else:
        observer = native_observer()
    handler = WatchHandler(folder.filter, sink, polling=polling)
    try:
        observer.schedule(
            handler, str(folder.root), recursive=True,
            event_filter=None if polling else list(NATIVE_EVENTS),
        )  # fmt: skip
        observer.daemon = True
        observer.start()
    except OSError as exc:
        hint = "" if polling else " (raise fs.inotify.max_user_watches, or use --polling)"
        raise LltdError(
            f"cannot watch {printable(folder.root)}: {exc.strerror or exc}{hint}"
        ) from None
    return observer


def watching(observer: BaseObserver) -> bool:
    """The observer and its emitter (which stops when the folder itself is deleted) run."""
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


class OverflowAlarm(logging.Handler):
    """Calls ``on_overflow`` when the kernel's inotify queue overflowed (events were lost).

    watchdog learns it from an ``IN_Q_OVERFLOW`` event in ``inotify_c``, repairs its own
    watches and says so only in a log record, so that record is the signal.
    """

    LOGGER = "watchdog.observers"

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "queue overflow" in record.getMessage().lower():
            self.on_overflow()

    def install(self) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.addHandler(self)
        logger.propagate = False  # our own line replaces watchdog's on stderr

    def remove(self) -> None:
        logging.getLogger(self.LOGGER).removeHandler(self)


class Scanner:
    """Walks folders on request (start-up, new folders, rescans, overflows) on its own thread.

    A request for a folder's whole tree absorbs the requests queued behind it for that folder.
    """

    def __init__(self, daemon: Discovery, settle_s: float, warn: Callable[[str], None]) -> None:
        self.daemon = daemon
        self.settle_s = settle_s
        self.warn = warn
        self._pending: list[tuple[Folder, Path]] = []
        self._cond = threading.Condition()
        self._stopped = False

    def request(self, folder: Folder, directory: Path) -> None:
        with self._cond:
            if (folder, folder.root) in self._pending:
                return  # a full scan of this folder is already on its way
            self._pending.append((folder, directory))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopped or bool(self._pending))
                if self._stopped:
                    return
                folder, directory = self._pending.pop(0)
            try:
                self.scan(folder, directory)
            except OSError as exc:
                self.warn(f"cannot scan {directory}: {exc}")

    def scan(self, folder: Folder, directory: Path) -> None:
        """Queue the complete files under ``directory``; recent ones settle first."""
        intake, settler = self.daemon.intake, self.daemon.settler
        wall_now = time.time()

        def not_listed(exc: OSError) -> None:
            self.warn(f"cannot scan {printable(exc.filename)}: {exc.strerror or exc}")

        for dirpath, dirnames, filenames in walk(directory, not_listed):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if folder.filter.accepts_directory(here / d))
            for name in sorted(filenames):
                path = here / name
                if not folder.filter.accepts(path):
                    continue
                sig = signature(path)
                if sig is None or folder.seen(path, sig):
                    continue
                key = (folder.index, str(path))
                if not intake.claim(key):
                    continue
                if wall_now - sig.mtime_ns / 1e9 >= self.settle_s:
                    intake.put_backlog(key, sig)
                else:
                    settler.track(path, key)


def take_over_orphans(
    folders: list[Folder], intake: Intake[Key], warn: Callable[[str], None]
) -> None:
    """--shared: say we are alive, and queue the claims of daemons that are not."""
    for folder in folders:
        if folder.claims is None:
            continue
        try:
            for other, taken in folder.claims.tend():
                warn(
                    f"took over {len(taken)} file(s) claimed by {printable(other)}, "
                    "which stopped answering"
                )
                for relative in taken:
                    key = (folder.index, str(folder.root / relative))
                    if intake.claim(key):
                        intake.put_backlog(key)
        except OSError as exc:
            warn(f"cannot tend the claims under {printable(folder.root)}: {exc}")
