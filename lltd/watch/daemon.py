"""The watch daemon proper: life cycle, main loop, dispatcher, accounting and status.

After watchdog's emitter -> queue -> dispatcher split: :mod:`discovery` finds complete files
(observer threads, one scanner thread), :mod:`intake` and :mod:`settle` hold them, the
:mod:`dispatch` thread hands them to :mod:`pool`, whose worker processes (``spawn``ed, see
:func:`lltd.watch.pool.new_executor`) do the work and report back here through a callback, on
the executor's management thread. The main thread keeps time (settling, rescans, status, watchdog)
and handles signals. :mod:`folders` opens, locks and recovers the drop folders.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.observers.api import BaseObserver

from lltd.batch.engine import default_jobs
from lltd.batch.outcome import Outcome
from lltd.common.text import printable
from lltd.fs.identity import Version
from lltd.fs.walk import allow_deep_descriptors, allow_recursive_walks
from lltd.watch.config import WatchConfig
from lltd.watch.discovery import (
    FolderSink,
    Key,
    OverflowAlarm,
    Scanner,
    start_observer,
    take_over_orphans,
    watching,
)
from lltd.watch.dispatch import Dispatcher
from lltd.watch.folders import Folder, open_folder, recover, remove_stale_status
from lltd.watch.intake import Intake
from lltd.watch.log import Log
from lltd.watch.notify import Notifier
from lltd.watch.pool import Pool, Report, pool_for
from lltd.watch.settle import Settler, signature
from lltd.watch.status import Counters, FolderCounts, Publisher, Summary
from lltd.watch.stopping import StopRequest
from lltd.watch.worker import WorkItem, earlier_attempt, give_up

if TYPE_CHECKING:
    from lltd.watch.metrics import Metrics

TICK = 0.05  # main loop period (s): settle checks, status, watchdog
STATUS_PERIOD = 0.25  # at most one STATUS=/status file write per period while busy


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
            folders=[FolderCounts(str(f.input), str(f.output)) for f in config.folders],
            queue_size=self.intake.capacity,
        )
        self.pool: Pool[Key] = pool_for(
            config, self.jobs, self._report, clock, on_killed=self._clear_temporaries
        )
        self.scanner = Scanner(self, self.settle_s, self.log.warning)
        self.overflow = OverflowAlarm(self._overflowed)
        self.dispatcher = Dispatcher(
            self.folders, self.intake, self.settler, self.pool, self.log.error, fsync=config.fsync
        )
        self._stop = StopRequest()
        self._observers: list[BaseObserver] = []
        self._threads: list[threading.Thread] = []
        self.publisher = Publisher(
            self.counters, self.notifier.status, config.status_file, self.log.warning, STATUS_PERIOD
        )
        self._fatal: str | None = None
        self.metrics: Metrics | None = None
        # A periodic line for the log (none with --quiet), beside the per-file lines.
        self.summary = None if config.quiet else Summary(self.counters, self.log.info)

    # -- life cycle -------------------------------------------------------------------------

    def run(self, *, install_signals: bool = True) -> int:
        """Watch until SIGTERM/SIGINT (or :meth:`stop`); return the exit status."""
        if install_signals:
            self._stop.install()
        try:
            self._open_folders()
            self._serve_metrics()
            if self.config.scheduler is not None:
                self.pool.connect()
            self.overflow.install()
            # watchdog walks IN recursively, and --shared's claims (os.fwalk) hold a descriptor
            # per level: uploaders choose the depth.
            allow_recursive_walks()
            allow_deep_descriptors()
            self._start_observers()
            self._take_over()
            for folder in self.folders:
                self.scanner.scan(folder, folder.root)
            self._start_thread("dispatcher", self.dispatcher.run)
            self._start_thread("scanner", self.scanner.run)
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
            folder = open_folder(
                index, fc, shared=self.config.shared, claim_timeout=self.config.claim_timeout
            )
            self.folders.append(folder)
            self.counters.folders[index] = FolderCounts(str(folder.root), str(folder.output))
            removed = recover(folder)
            if removed:
                self.log.info(
                    f"removed {removed} stale temporary file(s) under {printable(folder.output)}"
                )
        if self.config.status_file is not None:
            remove_stale_status(self.config.status_file)

    def _serve_metrics(self) -> None:
        if self.config.metrics_port is not None:
            from lltd.watch.metrics import start_metrics

            self.metrics = start_metrics(
                str(self.config.metrics_port), self.counters, self.jobs, self.pool.__len__
            )
            self.log.info(f"serving Prometheus metrics on {self.metrics.url}")

    def _start_observers(self) -> None:
        for folder in self.folders:
            sink = FolderSink(self, folder, self.config.settle_rule)
            self._observers.append(start_observer(folder, sink, self.config.polling, self.settle_s))

    def _main_loop(self) -> None:
        interval = self.notifier.watchdog_interval
        next_ping = self.clock()
        next_rescan = self.clock() + self.config.rescan if self.config.rescan else None
        next_claims = self.clock()
        while not self._stop.wait(TICK):
            now = self.clock()
            self._promote_settled()
            if self.config.shared and now >= next_claims:
                self._take_over()
                next_claims = now + min(2.0, self.config.claim_timeout / 4)
            if next_rescan is not None and now >= next_rescan:
                self._rescan_all()
                next_rescan = now + self.config.rescan
            self.pool.retire_if_idle(now, self.intake.queued())
            self._publish_status(now)
            if self.summary is not None:
                self.summary.tick(now)
            if interval is not None and now >= next_ping:
                if self._healthy():
                    self.notifier.watchdog()
                next_ping = now + interval
            for folder, observer in zip(self.folders, self._observers, strict=True):
                if not watching(observer) or not folder.still_there():
                    self._fatal = f"stopped watching {printable(folder.root)}: the folder is gone"
            if self._fatal:
                self.log.error(self._fatal)  # exit status 1: systemd restarts us (on-failure)
                break

    def _healthy(self) -> bool:
        """The keep-alive vouches for the threads that do the work."""
        return all(t.is_alive() for t in self._threads) and all(map(watching, self._observers))

    def _shutdown(self) -> None:
        if self.counters.state == "running":
            self.counters.state = "stopping"
            in_flight = len(self.pool)
            self.notifier.stopping(f"stopping: {in_flight} in flight; {self.counters.line()}")
            self.log.info(
                f"stopping: finishing {in_flight} file(s) in flight "
                f"(up to {self.config.stop_timeout:g} s)"
            )
        for observer in self._observers:
            observer.stop()
        self.dispatcher.stopped.set()
        self.pool.close()
        self.scanner.stop()
        for left in self.intake.close():
            self.intake.release(left)  # still on disk: the next start picks them up
        for observer in self._observers:
            with contextlib.suppress(RuntimeError):
                observer.join(timeout=5)
        self.overflow.remove()
        try:
            left = self.pool.drain()
            if left:
                self.log.warning(
                    f"{left} file(s) still in flight after {self.config.stop_timeout:g} s: "
                    "stopped the workers; those files stay in place and are done at the next start"
                )
        finally:
            self.dispatcher.drained.set()
        for thread in self._threads:
            thread.join(timeout=5)
        started = self.counters.state != "starting"
        self.counters.state = "stopped"
        if started:  # a daemon refused at start-up must not touch the running one's status file
            self._refresh_counts()
            self._publish_status(self.clock(), force=True)
        for folder in self.folders:
            folder.close()
        if self.metrics is not None:
            self.metrics.close()
        if started:
            self.log.info(f"stopped: {self.counters.line()}")
        self.notifier.close()

    def _clear_temporaries(self) -> None:
        """Killed workers' temporary files: no one else may publish in our folders."""
        for folder in self.folders:
            recover(folder)

    def _take_over(self) -> None:
        """--shared: say we are alive, and queue the claims of daemons that are not."""
        take_over_orphans(self.folders, self.intake, self.log.warning)

    # -- discovery ---------------------------------------------------------------------------

    def queue_live(self, key: Key, version: Version) -> None:
        """Queue a claimed arrival, blocking the observer while the queue is full."""
        while not self._stop.is_set():
            if self.intake.put_live(key, timeout=0.5, version=version):
                return
        self.intake.release(key)

    def request_scan(self, folder: Folder, directory: Path) -> None:
        self.scanner.request(folder, directory)

    def _rescan_all(self) -> None:
        self.counters.rescans += 1
        for folder in self.folders:
            self.request_scan(folder, folder.root)

    def _overflowed(self) -> None:
        """Events were lost: what they announced is on disk, so look now, not at the next
        periodic rescan."""
        self.counters.overflows += 1
        self.log.warning("the kernel's inotify event queue overflowed: rescanning now")
        self._rescan_all()

    def _promote_settled(self) -> None:
        settled, vanished = self.settler.due()
        for _, key in vanished:
            self.intake.release(key)
        for path, key in settled:
            version = signature(path)  # what settled: the dispatcher and worker compare it
            if version is None:
                self.intake.release(key)
            elif not self.intake.put_live(key, timeout=0, version=version):
                self.settler.track(path, key)  # queue full: try again after another settle

    # -- accounting --------------------------------------------------------------------------

    def _report(self, report: Report[Key]) -> None:
        """A file the pool took is back (runs on the executor's management thread)."""
        flight, key = report.flight, report.flight.key
        if report.kind == "dead":  # the job's own quarantine policy fails it, as any failure
            try:
                report = Report("done", flight, give_up(flight.item, report.reason))
            except OSError as err:
                reason = f"cannot set the input aside: {err.strerror or err}"
                report = Report("stuck", flight, reason=reason)
        if report.kind == "released":
            self.intake.release(key)  # still in IN: the next start does it
        elif report.kind == "changed":
            processed = report.processed
            if processed is not None and processed.disposed == "replaced":
                why = processed.result.error or "replaced"
                self.log.warning(f"{printable(key[1])}: {printable(why)}; looked at again")
            else:
                self.log.warning(
                    f"{printable(key[1])} changed while being processed: again once settled"
                )
            self.dispatcher.retry_later(key)  # back through settling
        elif report.kind == "retry":
            name = type(report.error).__name__
            self.log.warning(f"a worker died while on {printable(key[1])} ({name}); retrying")
            self.intake.put_backlog(key)
        elif report.kind == "stuck":
            # Counted as failed and left where it is, still claimed so that rescans do not redo
            # it in a loop; the next start tries again.
            self.counters.count(key[0], True, report.reason, source=key[1])
            self.log.error(
                f"failed: {printable(flight.item.task.source)}: "
                f"{printable(report.reason)}; left in place"
            )
        else:
            assert report.processed is not None
            self._account(self.folders[key[0]], key, flight.item, flight.sig, report)
            self.intake.release(key)

    def _account(
        self, folder: Folder, key: Key, item: WorkItem, sig: Version, report: Report[Key]
    ) -> None:
        assert report.processed is not None
        result, disposed = report.processed.result, report.processed.disposed
        if disposed == "vanished" and result.output is None:
            result = earlier_attempt(item, sig)
            if result is None:
                return  # renamed or deleted before a worker got to it: not ours any more
        failed = result.outcome is Outcome.FAILED
        if folder.keeps and folder.journal is not None:
            folder.journal.record(
                folder.journal_key(item.task.source, sig), result.outcome.value, result.output
            )
        self.counters.count(folder.index, failed, result.error, result.outcome.value, source=key[1])
        if self.metrics is not None:
            self.metrics.observe_latency(time.time() - sig.mtime_ns / 1e9)  # mtime: the last write
        if failed:
            where = f" (set aside in {printable(result.output)})" if result.output else ""
            self.log.error(f"failed: {printable(key[1])}: {printable(result.error or '')}{where}")
        else:
            self.log.file(
                f"{result.outcome.value}: {printable(key[1])} -> {printable(result.output or '')}"
            )

    # -- status ------------------------------------------------------------------------------

    def _refresh_counts(self) -> None:
        self.counters.set_gauges(*self.intake.split(), len(self.settler), len(self.pool))

    def _publish_status(self, now: float, *, force: bool = False) -> None:
        self._refresh_counts()
        self.publisher.publish(now, force=force)
