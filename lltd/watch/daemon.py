"""The watch daemon: observers find complete files, a dispatcher feeds a pool of worker
processes, the main thread keeps time (settling, rescans, status, watchdog) and handles signals.

Threads: watchdog's observer threads (events -> :class:`FolderSink`), one dispatcher, one
scanner, the pool's own management thread (completions), and the main thread. Work itself runs
in worker processes started with ``forkserver`` (forking a threaded process is unsafe), only
when there is work, and they exit after ``worker_idle`` seconds without any.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

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

from lltd.atomic import TEMP_SUFFIX, remove_stale_temporaries
from lltd.batch.engine import Job, default_jobs
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task, is_within
from lltd.errors import LltdError, UsageError
from lltd.watch.actions import make_job
from lltd.watch.config import FolderConfig, WatchConfig
from lltd.watch.handler import Filter, WatchHandler
from lltd.watch.intake import Intake
from lltd.watch.journal import Journal
from lltd.watch.lock import FolderLock
from lltd.watch.log import Log
from lltd.watch.notify import Notifier
from lltd.watch.settle import Settler, signature
from lltd.watch.status import Counters, FolderCounts, write_status_file
from lltd.watch.worker import Processed, WorkItem, init_worker, process

STATE_DIR = ".lltd"
TICK = 0.05  # main loop period (s): settle checks, status, watchdog
STATUS_PERIOD = 0.25  # at most one STATUS=/status file write per period while busy
MAX_ATTEMPTS = 3  # a file in flight when a worker dies is retried, then set aside as failed

Key = tuple[int, str]  # (folder index, absolute path): one file, known at most once


@dataclass
class Folder:
    index: int
    config: FolderConfig
    root: Path
    output: Path
    state_dir: Path
    job: Job
    filter: Filter
    lock: FolderLock
    identity: tuple[int, int] = (0, 0)
    journal: Journal | None = None

    def still_there(self) -> bool:
        """IN is the folder we locked (inotify cannot say: our lock file pins the deleted
        folder, so its delete-self event waits until we let go)."""
        try:
            st = os.stat(self.root)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.identity

    def journal_key(self, path: Path, sig: tuple[int, int]) -> tuple[str, int, int]:
        return (str(path.relative_to(self.root)), sig[0], sig[1])


@dataclass
class InFlight:
    key: Key
    item: WorkItem
    sig: tuple[int, int]
    attempt: int


class FolderSink:
    """Where the handler's decisions for one folder go (called on observer threads)."""

    def __init__(self, daemon: Daemon, folder: Folder) -> None:
        self.daemon = daemon
        self.folder = folder

    def _key(self, path: Path) -> Key:
        return (self.folder.index, str(path))

    def complete(self, path: Path) -> None:
        key = self._key(path)
        settler, intake = self.daemon.settler, self.daemon.intake
        if settler.forget(path) is None and not intake.claim(key):
            return  # already queued or in flight
        sig = signature(path)
        if sig is None:
            intake.release(key)
        elif sig[0] == 0:
            settler.track(path, key)  # an empty file is a placeholder until proven otherwise
        else:
            self.daemon.queue_live(key)

    def candidate(self, path: Path) -> None:
        if path in self.daemon.settler or self.daemon.intake.claim(self._key(path)):
            self.daemon.settler.track(path, self._key(path))

    def opened(self, path: Path) -> None:
        self.daemon.settler.opened(path)

    def closed_unwritten(self, path: Path) -> None:
        self.daemon.settler.closed(path)

    def gone(self, path: Path) -> None:
        key = self.daemon.settler.forget(path)
        if key is not None:
            self.daemon.intake.release(key)

    def directory(self, path: Path) -> None:
        self.daemon.request_scan(self.folder, path)


#: What the native observer asks the kernel for. No IN_MODIFY: a write per event would cost
#: more than it tells (settling compares size and mtime, and completion comes from the close).
NATIVE_EVENTS = (
    FileCreatedEvent, DirCreatedEvent, FileMovedEvent, DirMovedEvent, FileDeletedEvent,
    FileOpenedEvent, FileClosedEvent, FileClosedNoWriteEvent,
)  # fmt: skip


def native_observer() -> BaseObserver:
    """inotify where there is inotify, with "full" events: a file renamed into IN from another
    folder is then a move (complete at once), not a creation that has to settle."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # not Linux: the platform's native observer
        from watchdog.observers import Observer

        return Observer()
    return InotifyObserver(generate_full_events=True)


def watching(observer: BaseObserver) -> bool:
    """The observer and its emitter (which stops when the folder itself is deleted) run."""
    return observer.is_alive() and all(emitter.is_alive() for emitter in observer.emitters)


class Daemon:
    def __init__(
        self,
        config: WatchConfig,
        *,
        notifier: Notifier | None = None,
        log: Log | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier.from_environment()
        self.log = log or Log(config.quiet)
        self.clock = clock
        self.jobs = config.jobs or default_jobs()
        self.settle_s = config.settle_ms / 1000
        self.intake: Intake[Key] = Intake(config.queue_size)
        self.settler: Settler[Key] = Settler(self.settle_s, clock=clock)
        self.folders: list[Folder] = []
        self.counters = Counters(
            folders=[FolderCounts(str(f.input), str(f.output)) for f in config.folders]
        )
        self._stop = threading.Event()
        self._stop_dispatch = threading.Event()
        self._drained = threading.Event()
        self._observers: list[BaseObserver] = []
        self._scan_requests: queue.Queue[tuple[Folder, Path] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        # The pool and what is in flight, under one lock.
        self._pool_lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight: dict[Future[Processed], InFlight] = {}
        self._slots = threading.Semaphore(self.jobs * 2)  # keeps each worker's next file ready
        self._attempts: dict[Key, int] = {}
        self._last_activity = clock()
        self._status_dirty = True
        self._status_written = 0.0
        self._fatal: str | None = None

    # -- life cycle -------------------------------------------------------------------------

    def run(self, *, install_signals: bool = True) -> int:
        """Watch until SIGTERM/SIGINT (or :meth:`stop`); return the exit status."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self._stop.set())
        try:
            self._open_folders()
            self._start_observers()
            for folder in self.folders:
                self._scan(folder, folder.root)
            self._start_thread("dispatcher", self._dispatch)
            self._start_thread("scanner", self._scanner)
            self.counters.state = "running"
            self._refresh_counts()
            self.log.info(
                f"watching {len(self.folders)} folder(s) with {self.jobs} worker(s): "
                f"{self.counters.line()}"
            )
            self._publish_status(self.clock(), force=True)  # the status file exists at READY=1
            self.notifier.ready(self.counters.line())
            self._main_loop()
        finally:
            self._shutdown()
        return 1 if self._fatal else 0

    def stop(self) -> None:
        self._stop.set()

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"lltd-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _open_folders(self) -> None:
        for index, fc in enumerate(self.config.folders):
            root = fc.input.resolve()
            if not root.is_dir():
                raise UsageError(f"input folder {fc.input} does not exist or is not a folder")
            output = fc.output.resolve()
            state_dir = root / STATE_DIR
            try:
                state_dir.mkdir(exist_ok=True)
                output.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(f"cannot create {exc.filename}: {exc.strerror}") from None
            job, extensions = make_job(fc, output)
            lock = FolderLock(state_dir / "lock", root)
            lock.acquire()
            exclude = (output,) if is_within(output, root) else ()
            folder = Folder(
                index, fc, root, output, state_dir, job, Filter(root, extensions, exclude), lock
            )
            st = os.stat(root)
            folder.identity = (st.st_dev, st.st_ino)
            self.folders.append(folder)
            self.counters.folders[index] = FolderCounts(str(root), str(output))
            if fc.on_success == "keep":
                try:
                    folder.journal = Journal(state_dir / "journal.sqlite")
                except sqlite3.Error as exc:
                    raise UsageError(f"cannot open {state_dir / 'journal.sqlite'}: {exc}") from None
            # Recovery: a crash leaves at most temporary files, which no one else may publish.
            removed = remove_stale_temporaries(output) + remove_stale_temporaries(state_dir)
            if removed:
                self.log.info(f"removed {removed} stale temporary file(s) under {output}")
        if self.config.status_file is not None:
            status = self.config.status_file
            for stale in status.parent.glob(f".{status.name}.*{TEMP_SUFFIX}"):
                with contextlib.suppress(OSError):
                    stale.unlink()

    def _start_observers(self) -> None:
        if self.config.polling:
            from watchdog.observers.polling import PollingObserver

            interval = max(0.1, min(1.0, self.settle_s / 2))
            make: Callable[[], BaseObserver] = lambda: PollingObserver(timeout=interval)  # noqa: E731
        else:
            make = native_observer
        for folder in self.folders:
            observer = make()
            handler = WatchHandler(
                folder.filter, FolderSink(self, folder), polling=self.config.polling
            )
            try:
                observer.schedule(
                    handler, str(folder.root), recursive=True,
                    event_filter=None if self.config.polling else list(NATIVE_EVENTS),
                )  # fmt: skip
                observer.daemon = True
                observer.start()
            except OSError as exc:
                hint = (
                    ""
                    if self.config.polling
                    else (" (raise fs.inotify.max_user_watches, or use --polling)")
                )
                raise LltdError(
                    f"cannot watch {folder.root}: {exc.strerror or exc}{hint}"
                ) from None
            self._observers.append(observer)

    def _main_loop(self) -> None:
        interval = self.notifier.watchdog_interval
        next_ping = self.clock()
        next_rescan = self.clock() + self.config.rescan if self.config.rescan else None
        while not self._stop.wait(TICK):
            now = self.clock()
            self._promote_settled()
            if next_rescan is not None and now >= next_rescan:
                for folder in self.folders:
                    self.request_scan(folder, folder.root)
                next_rescan = now + self.config.rescan
            self._retire_idle_pool(now)
            self._publish_status(now)
            if interval is not None and now >= next_ping:
                if self._healthy():
                    self.notifier.watchdog()
                next_ping = now + interval
            for folder, observer in zip(self.folders, self._observers, strict=True):
                if not watching(observer) or not folder.still_there():
                    self._fatal = f"stopped watching {folder.root}: the folder is gone"
            if self._fatal:
                self.log.error(self._fatal)  # exit status 1: systemd restarts us (on-failure)
                break

    def _healthy(self) -> bool:
        """The keep-alive vouches for the threads that do the work."""
        return all(t.is_alive() for t in self._threads) and all(map(watching, self._observers))

    def _shutdown(self) -> None:
        if self.counters.state == "running":
            self.counters.state = "stopping"
            in_flight = len(self._in_flight)
            self.notifier.stopping(f"stopping: {in_flight} in flight; {self.counters.line()}")
            self.log.info(
                f"stopping: finishing {in_flight} file(s) in flight "
                f"(up to {self.config.stop_timeout:g} s)"
            )
        for observer in self._observers:
            observer.stop()
        self._stop_dispatch.set()
        self._scan_requests.put(None)
        for left in self.intake.close():
            self.intake.release(left)  # still on disk: the next start picks them up
        for observer in self._observers:
            with contextlib.suppress(RuntimeError):
                observer.join(timeout=5)
        try:
            self._drain_pool()
        finally:
            self._drained.set()
        for thread in self._threads:
            thread.join(timeout=5)
        started = self.counters.state != "starting"
        self.counters.state = "stopped"
        if started:  # a daemon refused at start-up must not touch the running one's status file
            self._refresh_counts()
            self._publish_status(self.clock(), force=True)
        for folder in self.folders:
            if folder.journal is not None:
                folder.journal.close()
            folder.lock.release()
        if started:
            self.log.info(f"stopped: {self.counters.line()}")
        self.notifier.close()

    def _drain_pool(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
            futures = list(self._in_flight)
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        _, not_done = wait_futures(futures, timeout=self.config.stop_timeout)
        if not_done:
            self.log.warning(
                f"{len(not_done)} file(s) still in flight after {self.config.stop_timeout:g} s: "
                "stopping the workers; those files stay in place and are done at the next start"
            )
            for proc in processes:
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.join(5)
            # The killed workers' temporary files: no one else may publish in our folders.
            for folder in self.folders:
                remove_stale_temporaries(folder.output)
        with contextlib.suppress(Exception):
            pool.shutdown(wait=True)

    # -- discovery ---------------------------------------------------------------------------

    def queue_live(self, key: Key) -> None:
        """Queue a claimed arrival, blocking the observer while the queue is full."""
        while not self._stop.is_set():
            if self.intake.put_live(key, timeout=0.5):
                return
        self.intake.release(key)

    def request_scan(self, folder: Folder, directory: Path) -> None:
        self._scan_requests.put((folder, directory))

    def _scanner(self) -> None:
        while True:
            request = self._scan_requests.get()
            if request is None or self._stop.is_set():
                return
            folder, directory = request
            try:
                self._scan(folder, directory)
            except OSError as exc:
                self.log.warning(f"cannot scan {directory}: {exc}")

    def _scan(self, folder: Folder, directory: Path) -> None:
        """Queue the complete files under ``directory``; recent ones settle first."""
        wall_now = time.time()
        for dirpath, dirnames, filenames in os.walk(directory):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if folder.filter.accepts_directory(here / d))
            for name in sorted(filenames):
                path = here / name
                if not folder.filter.accepts(path):
                    continue
                sig = signature(path)
                if sig is None:
                    continue
                if folder.journal is not None and folder.journal.seen(
                    folder.journal_key(path, sig)
                ):
                    continue
                key = (folder.index, str(path))
                if not self.intake.claim(key):
                    continue
                if wall_now - sig[1] / 1e9 >= self.settle_s:
                    self.intake.put_backlog(key)
                else:
                    self.settler.track(path, key)

    def _promote_settled(self) -> None:
        settled, vanished = self.settler.due()
        for _, key in vanished:
            self.intake.release(key)
        for path, key in settled:
            if not self.intake.put_live(key, timeout=0):
                self.settler.track(path, key)  # queue full: try again after another settle

    # -- dispatch ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._dispatch_loop()
        finally:
            # Workers are spawned from this thread, and PR_SET_PDEATHSIG fires when the thread
            # that spawned them ends: stay until the pool has drained.
            self._drained.wait()

    def _dispatch_loop(self) -> None:
        while not self._stop_dispatch.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            key = self.intake.take(timeout=0.2)
            if key is None:
                self._slots.release()
                continue
            try:
                submitted = self._submit(key)
            except Exception as exc:  # the dispatcher must not die; the file stays on disk
                self.log.error(f"cannot start work on {key[1]}: {type(exc).__name__}: {exc}")
                submitted = False
            if not submitted:
                self.intake.release(key)
                self._slots.release()

    def _submit(self, key: Key) -> bool:
        folder = self.folders[key[0]]
        path = Path(key[1])
        sig = signature(path)
        if sig is None or not folder.filter.accepts(path):
            return False  # gone (renamed, deleted, done) or not ours any more
        if folder.journal is not None and folder.journal.seen(folder.journal_key(path, sig)):
            return False
        fc = folder.config
        item = WorkItem(
            job=folder.job,
            task=Task(source=path, relative=path.relative_to(folder.root)),
            on_success=fc.on_success,
            state_dir=folder.state_dir,
            quarantine_dir=folder.output / "failed",
            fsync=self.config.fsync,
        )
        with self._pool_lock:
            if self._stop_dispatch.is_set():
                return False
            if self._pool is None:
                self._pool = self._new_pool()
            future = self._pool.submit(process, item)
            attempt = self._attempts.get(key, 0) + 1
            self._in_flight[future] = InFlight(key, item, sig, attempt)
            self._last_activity = self.clock()
        future.add_done_callback(self._finished)
        return True

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork (this process has threads), and not forkserver either: a forkserver's
        # workers outlive a SIGKILLed daemon and would race its successor, while spawned workers
        # are our children and die with us (PR_SET_PDEATHSIG in init_worker).
        context = multiprocessing.get_context("spawn")
        # After a SIGKILL, multiprocessing's resource tracker (inherits this environment) warns
        # about "leaked semaphores" with a Python source line: noise in the journal, not news.
        os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
        return ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=context,
            initializer=init_worker,
            initargs=(os.getpid(),),
        )

    def _retire_idle_pool(self, now: float) -> None:
        with self._pool_lock:
            if (
                self._pool is not None
                and not self._in_flight
                and now - self._last_activity >= self.config.worker_idle
                and self.intake.queued() == 0
            ):
                pool, self._pool = self._pool, None
            else:
                return
        pool.shutdown(wait=False)

    def _finished(self, future: Future[Processed]) -> None:
        """A file is done (runs on the pool's management thread)."""
        with self._pool_lock:
            flight = self._in_flight.pop(future)
            self._last_activity = self.clock()
        self._slots.release()
        key, folder = flight.key, self.folders[flight.key[0]]
        try:
            processed = future.result()
        except CancelledError:
            self.intake.release(key)
            return
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory, crashing decoder)
            self._worker_died(flight, exc)
            return
        except Exception as exc:  # the worker could not set the file aside (e.g. permissions)
            self._stuck(flight, f"{type(exc).__name__}: {exc}")
            return
        self._attempts.pop(key, None)
        if processed.disposed == "changed":
            if self._stop_dispatch.is_set():
                self.intake.release(key)  # still in IN: the next start does it
            else:
                self.log.warning(f"{key[1]} changed while being processed: again once settled")
                self.settler.track(Path(key[1]), key)  # still claimed: back through settling
            return
        self._account(folder, flight, processed)
        self.intake.release(key)

    def _account(self, folder: Folder, flight: InFlight, processed: Processed) -> None:
        result = processed.result
        if processed.disposed == "vanished" and result.output is None:
            return  # renamed or deleted before a worker got to it: not ours any more
        failed = result.outcome is Outcome.FAILED
        if folder.journal is not None:
            folder.journal.record(
                folder.journal_key(flight.item.task.source, flight.sig),
                result.outcome.value,
                result.output,
            )
        self.counters.count(folder.index, failed, result.error)
        self._status_dirty = True
        if failed:
            where = f" (set aside in {result.output})" if result.output else ""
            self.log.error(f"failed: {result.input}: {result.error}{where}")
        else:
            self.log.file(f"{result.outcome.value}: {result.input} -> {result.output}")

    def _worker_died(self, flight: InFlight, exc: BaseException) -> None:
        with self._pool_lock:
            if self._pool is not None and getattr(self._pool, "_broken", False):
                broken, self._pool = self._pool, None
                broken.shutdown(wait=False)
        key = flight.key
        if self._stop_dispatch.is_set():
            self.intake.release(key)  # stopping: the file is done at the next start
            return
        if flight.attempt < MAX_ATTEMPTS:
            self._attempts[key] = flight.attempt
            self.log.warning(f"a worker died while on {key[1]} ({type(exc).__name__}); retrying")
            self.intake.put_backlog(key)
            return
        self._attempts.pop(key, None)
        from lltd.watch.worker import dispose, ensure_quarantined

        reason = f"the worker process died {MAX_ATTEMPTS} times on this file"
        item = flight.item
        result = ensure_quarantined(
            item, FileResult(str(item.task.source), None, Outcome.FAILED, error=reason)
        )
        folder = self.folders[key[0]]
        try:
            disposed = dispose(item, result)
        except OSError as exc:
            self._stuck(flight, f"cannot set the input aside: {exc.strerror or exc}")
            return
        self._account(folder, flight, Processed(result, disposed))
        self.intake.release(key)

    def _stuck(self, flight: InFlight, reason: str) -> None:
        """A file that cannot be finished (its input cannot be moved, say): one line, counted
        as failed, and left where it is. It stays claimed, so rescans do not redo it in a loop;
        the next start tries again."""
        self._attempts.pop(flight.key, None)
        self.counters.count(flight.key[0], True, reason)
        self._status_dirty = True
        self.log.error(f"failed: {flight.item.task.source}: {reason}; left in place")

    # -- status ------------------------------------------------------------------------------

    def _refresh_counts(self) -> None:
        counters = self.counters
        queued, settling = self.intake.queued(), len(self.settler)
        in_flight = len(self._in_flight)
        if (queued, settling, in_flight) != (
            counters.queued,
            counters.settling,
            counters.in_flight,
        ):
            counters.queued, counters.settling, counters.in_flight = queued, settling, in_flight
            self._status_dirty = True

    def _publish_status(self, now: float, *, force: bool = False) -> None:
        self._refresh_counts()
        if not force and (not self._status_dirty or now - self._status_written < STATUS_PERIOD):
            return
        self._status_dirty = False
        self._status_written = now
        self.notifier.status(self.counters.line())
        if self.config.status_file is not None:
            try:
                write_status_file(self.config.status_file, self.counters)
            except OSError as exc:
                self.log.warning(f"cannot write {self.config.status_file}: {exc.strerror}")
