"""Drop folders on object storage (``lltd watch s3://bucket/in -o s3://bucket/out``, any fsspec
URL): no events to watch, so the daemon polls the listing.

An object is complete once two listings at least ``settle`` apart show it with the same size
and time (object stores publish an object only once its upload is complete, so that is the
first listing that follows). Each file then runs through :class:`lltd.cluster.remote.RemoteJob`,
the batch path's wrapper that fetches the input into a private temporary folder, runs the local
job there and publishes what it wrote (``OUT/failed/`` and its ``.error.txt`` included), with
the same rules as a local run. Only after that is the input disposed of: moved to
``IN/.lltd/done/`` or deleted. A crash in between means the file is done again and its output
replaced by an identical one. One daemon per object-storage folder: there is no lock to take.

Inputs and output names come from the one planner, fed each poll's listing (as ``plan_remote``
is): ``a.png`` then ``a.jpg`` gives ``a.webp`` and ``a.jpg.webp``. Names in flight are held in
memory; once a file is done, the provenance record published beside its output holds it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from lltd.batch.engine import default_jobs
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.plan import PlanNames, Planner
from lltd.batch.scan import Task
from lltd.common.errors import UsageError
from lltd.common.text import printable
from lltd.watch.config import FolderConfig, WatchConfig
from lltd.watch.log import Log
from lltd.watch.notify import Notifier
from lltd.watch.status import Counters, FolderCounts, Publisher
from lltd.watch.stopping import StopRequest

if TYPE_CHECKING:
    from lltd.cluster.storage import FileInfo, Storage
    from lltd.watch.metrics import Metrics

DONE_PREFIX = ".lltd/done"
POLL_MIN = 0.2  # s: the listing is the only signal, but an object store bills each one


class ObjectWatcher:
    def __init__(
        self, config: WatchConfig, *, notifier: Notifier | None = None, log: Log | None = None
    ) -> None:
        if len(config.folders) != 1:
            raise UsageError("an object-storage drop folder is watched alone: one IN -o OUT")
        self.config = config
        self.folder: FolderConfig = config.folders[0]
        if self.folder.on_success == "keep":
            raise UsageError(
                f"{self.folder.input}: object-storage drop folders take --on-success move or "
                "delete (keep needs a journal beside the inputs)"
            )
        self.notifier = notifier or Notifier.from_environment()
        self.log = log or Log(config.quiet)
        self.jobs = config.jobs or default_jobs()
        self.counters = Counters(
            folders=[FolderCounts(str(self.folder.input), str(self.folder.output))]
        )
        self.publisher = Publisher(
            self.counters, self.notifier.status, config.status_file, self.log.warning
        )
        self.poll = max(POLL_MIN, config.settle_ms / 1000)
        self._stop = StopRequest()
        self._seen: dict[str, tuple[int, float | None]] = {}
        self._in_flight: dict[str, Future[FileResult]] = {}
        self._lock = threading.Lock()
        self.names = PlanNames()  # output names of files in flight
        self._finished: list[str] = []  # their names, to let go before the next listing

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, install_signals: bool = True) -> int:
        if install_signals:
            self._stop.install()
        from lltd.cluster.remote import REMOTE_OUT, RemoteJob
        from lltd.cluster.storage import Storage
        from lltd.watch.actions import make_job

        self.source = Storage.of(str(self.folder.input))
        self.destination = Storage.of(str(self.folder.output))
        if not self.source.is_dir():
            raise UsageError(f"input folder {printable(self.source.location)} does not exist")
        job = make_job(self.folder, REMOTE_OUT)
        self.remote = RemoteJob(job, self.source, self.destination)
        self.job = job
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="lltd-object")
        metrics = self._serve_metrics()
        self.counters.state = "running"
        self.log.info(
            f"watching {printable(self.source.location)} (polling every {self.poll:g} s) "
            f"with {self.jobs} worker(s): {self.counters.line()}"
        )
        self.publisher.publish(time.monotonic(), force=True)
        self.notifier.ready(self.counters.line())
        try:
            while not self._stop.is_set():
                try:
                    self._poll(pool)
                except OSError as exc:  # a passing network error: the next poll tries again
                    self.log.warning(f"cannot list {printable(self.source.location)}: {exc}")
                self.counters.rescans += 1
                self.counters.set_gauges(0, 0, len(self._seen), len(self._in_flight))
                self.publisher.publish(time.monotonic())
                self._stop.wait(self.poll)
        finally:
            self.counters.state = "stopping"
            self.notifier.stopping(self.counters.line())
            pool.shutdown(wait=True, cancel_futures=True)
            if metrics is not None:
                metrics.close()
            self.counters.state = "stopped"
            self.counters.set_gauges(0, 0, 0, 0)
            self.publisher.publish(time.monotonic(), force=True)
            self.log.info(f"stopped: {self.counters.line()}")
            self.notifier.close()
        return 0

    def _serve_metrics(self) -> Metrics | None:
        """``--metrics-port`` as for a local folder (every counter but the close-to-output
        latency: an object's upload has no close to measure from)."""
        if self.config.metrics_port is None:
            return None
        from lltd.watch.metrics import start_metrics

        metrics = start_metrics(
            str(self.config.metrics_port), self.counters, self.jobs, self._in_flight.__len__
        )
        self.log.info(f"serving Prometheus metrics on {metrics.url}")
        return metrics

    def _accepts(self, name: str, planner: Planner, listing: dict[str, FileInfo]) -> bool:
        # Dot folders and dot files the planner refuses itself, and partial names (.part, ~...)
        # by their extension.
        inside = self.destination.relative_to(self.source)
        if inside and (name == inside or name.startswith(inside + "/")):
            return False
        return planner.is_input(name, lambda path: path.as_posix() in listing)

    def _planner(self, listing: dict[str, FileInfo]) -> Planner:
        from lltd.cluster.remote import storage_tree

        with self._lock:
            done, self._finished = self._finished, []
        for output in done:  # published with its record, which holds the name from now on
            self.names.held.pop(output, None)
        if self.destination == self.source:
            written: Mapping[str, FileInfo] = listing
        else:
            written = LazyListing(self.destination)  # listed only when a name is wanted
        tree = storage_tree(self.source, self.destination, listing, written)
        return Planner(self.job, tree, names=self.names)  # type: ignore[arg-type]

    def _poll(self, pool: ThreadPoolExecutor) -> None:
        listing = self.source.listing()
        planner = self._planner(listing)
        seen: dict[str, tuple[int, float | None]] = {}
        for name, info in sorted(listing.items()):
            if not self._accepts(name, planner, listing):
                continue
            state = (info.size, info.mtime)
            with self._lock:
                busy = name in self._in_flight
            if busy:
                continue
            if self._seen.get(name) == state and info.size > 0:
                try:
                    output = planner.assign(name)
                except UsageError as exc:
                    self.log.error(f"{printable(self.source.url(name))}: {exc}; left in place")
                    continue
                with self._lock:
                    self._in_flight[name] = pool.submit(self._process, name, state, output)
            else:
                seen[name] = state  # new or changed: complete once a later listing agrees
        self._seen = seen

    def _process(self, name: str, state: tuple[int, float | None], output: str) -> FileResult:
        from lltd.cluster.remote import REMOTE_IN, REMOTE_OUT

        try:
            relative = Path(name)
            result = self.remote(Task(REMOTE_IN / relative, relative, REMOTE_OUT / output))
            current = self.source.info(name, fresh=True)
            if current is None or (current.size, current.mtime) != state:
                self.log.warning(f"{printable(name)} changed while processed: again")
                return result
            self._dispose(name, result)
            self._account(name, result)
            return result
        except Exception as exc:  # one file's trouble (the network, say) must not stop us
            self.log.error(
                f"failed: {printable(self.source.url(name))}: {type(exc).__name__}: "
                f"{printable(str(exc))}; left in place"
            )
            return FileResult(name, None, Outcome.FAILED, error=str(exc))
        finally:
            with self._lock:
                self._in_flight.pop(name, None)
                self._finished.append(output)

    def _dispose(self, name: str, result: FileResult) -> None:
        failed = result.outcome is Outcome.FAILED
        if failed and result.output is None:
            return  # not even set aside: it stays for a later poll
        if self.folder.on_success == "delete":
            self.source.delete(name)
            return
        prefix = ".lltd/failed" if failed else DONE_PREFIX
        fs, destination = self.source.fs, self.source.path(f"{prefix}/{name}")
        if self.source.is_local:  # file://: a rename needs its folder (object stores have none)
            fs.makedirs(destination.rpartition("/")[0], exist_ok=True)
        fs.mv(self.source.path(name), destination)

    def _account(self, name: str, result: FileResult) -> None:
        failed = result.outcome is Outcome.FAILED
        source = self.source.url(name)
        self.counters.count(0, failed, result.error, result.outcome.value, source=source)
        if failed:
            where = f" (set aside in {printable(result.output)})" if result.output else ""
            self.log.error(
                f"failed: {printable(result.input)}: {printable(result.error or '')}{where}"
            )
        else:
            self.log.file(
                f"{result.outcome.value}: {printable(result.input)} -> "
                f"{printable(result.output or '')}"
            )


class LazyListing(Mapping[str, "FileInfo"]):
    """A storage's listing, taken on first use."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @functools.cached_property
    def items_(self) -> dict[str, FileInfo]:
        return self.storage.listing_if_any()

    def __getitem__(self, name: str) -> FileInfo:
        return self.items_[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.items_)

    def __len__(self) -> int:
        return len(self.items_)
