"""The worker processes and the files in flight: submitting, retrying after a worker died,
retiring idle workers, draining on the way out.

The pool knows nothing of folders, counters or logs beyond what it is given: every file it took
comes back to its owner exactly once through the ``report`` callback, as a :class:`Report`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from lltd.batch.engine import die_with_parent
from lltd.common.errors import LltdError
from lltd.fs.identity import Version
from lltd.watch.config import WatchConfig
from lltd.watch.worker import Processed, WorkItem, process

SHUTDOWN_GRACE = 10.0  # s for the workers to exit once no file is left in flight
MAX_ATTEMPTS = 3  # a file in flight when a worker dies is retried, then set aside as failed

Key = TypeVar("Key", bound=Hashable)

#: done: ``processed`` holds the result; changed: written to meanwhile, settle it again;
#: retry: a worker died on it, queue it again; dead: workers died on it MAX_ATTEMPTS times, the
#: owner fails it (``reason``) by the job's own policy; released: stopping, it stays on disk for
#: the next start; stuck: cannot be finished (``reason``), leave it where it is.
Kind = Literal["done", "changed", "retry", "dead", "released", "stuck"]


@dataclass
class InFlight(Generic[Key]):
    key: Key
    item: WorkItem
    sig: Version
    attempt: int


@dataclass(frozen=True)
class Report(Generic[Key]):
    kind: Kind
    flight: InFlight[Key]
    processed: Processed | None = None
    reason: str = ""
    error: BaseException | None = None


class Pool(Generic[Key]):
    """``jobs`` spawned worker processes, started when there is work and retired when idle.

    ``report`` runs on the executor's management thread (or the caller's, for ``retry`` after a
    death found at submission); it must not block for long.
    """

    def __init__(
        self,
        jobs: int,
        report: Callable[[Report[Key]], None],
        *,
        clock: Callable[[], float],
        worker_idle: float,
        stop_timeout: float,
        on_killed: Callable[[], None] = lambda: None,
        executor: Callable[[int], Any] | None = None,
    ) -> None:
        self.jobs = jobs
        self.report = report
        self.clock = clock
        self.worker_idle = worker_idle
        self.stop_timeout = stop_timeout
        self.on_killed = on_killed  # workers were killed mid-file: clear their temporaries
        self.new_executor = executor or new_executor  # spawned processes, or a Dask cluster
        self._lock = threading.Lock()
        self._executor: Any = None
        self._in_flight: dict[Future[Processed], InFlight[Key]] = {}
        self._slots = threading.Semaphore(jobs * 2)  # keeps each worker's next file ready
        self._attempts: dict[Key, int] = {}
        self._last_activity = clock()
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def connect(self) -> None:
        """Start the executor now (a Dask cluster that cannot be reached fails the start)."""
        with self._lock:
            if self._executor is None:
                self._executor = self.new_executor(self.jobs)

    def reserve(self, timeout: float) -> bool:
        """A free slot (released by :meth:`unreserve` or when the submitted file comes back)."""
        return self._slots.acquire(timeout=timeout)

    def unreserve(self) -> None:
        self._slots.release()

    def submit(self, key: Key, item: WorkItem, sig: Version) -> bool:
        """Start ``item`` in a reserved slot; False once the pool is closed."""
        with self._lock:
            if self._closed:
                return False
            if self._executor is None:
                self._executor = self.new_executor(self.jobs)
            future = self._executor.submit(process, item)
            attempt = self._attempts.get(key, 0) + 1
            self._in_flight[future] = InFlight(key, item, sig, attempt)
        future.add_done_callback(self._finished)
        return True

    def retire_if_idle(self, now: float, queued: int) -> None:
        with self._lock:
            if (
                self._executor is None
                or self._in_flight
                or queued
                or now - self._last_activity < self.worker_idle
            ):
                return
            executor, self._executor = self._executor, None
        executor.shutdown(wait=False)

    def close(self) -> int:
        """Take no more work; return the number of files in flight."""
        with self._lock:
            self._closed = True
            return len(self._in_flight)

    @property
    def closed(self) -> bool:
        return self._closed

    def drain(self) -> int:
        """Wait up to ``stop_timeout`` for the files in flight, then kill the workers; return how
        many files were still in flight (they stay in IN for the next start)."""
        self.close()
        with self._lock:
            executor, self._executor = self._executor, None
            futures = list(self._in_flight)
        if executor is None:
            return 0
        processes = list((getattr(executor, "_processes", None) or {}).values())
        # Taken before the first shutdown, which lets go of it (see _quiet_shutdown).
        manager = getattr(executor, "_executor_manager_thread", None)
        executor.shutdown(wait=False, cancel_futures=True)
        _, not_done = wait_futures(futures, timeout=self.stop_timeout)
        if not_done:
            for proc in processes:
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.join(5)
            self.on_killed()
        # The executor's own shutdown joins its workers: bounded, so that a worker stuck for
        # whatever reason cannot hold the daemon past its stop timeout.
        closer = threading.Thread(target=_quiet_shutdown, args=(executor, manager), daemon=True)
        closer.start()
        closer.join(SHUTDOWN_GRACE)
        if closer.is_alive():
            live = processes + list((getattr(executor, "_processes", None) or {}).values())
            for proc in live:
                with contextlib.suppress(Exception):
                    proc.kill()
            closer.join(SHUTDOWN_GRACE)
        return len(not_done)

    def _finished(self, future: Future[Processed]) -> None:
        with self._lock:
            flight = self._in_flight.pop(future)
            self._last_activity = self.clock()
        self._slots.release()
        try:
            processed = future.result()
        except CancelledError:
            self.report(Report("released", flight))
            return
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory, crashing decoder)
            self._worker_died(flight, exc)
            return
        except Exception as exc:  # the worker could not set the file aside (e.g. permissions)
            if type(exc).__name__ == "KilledWorker":  # Dask: workers died on it, retries spent
                flight.attempt = MAX_ATTEMPTS
                self._worker_died(flight, exc)
                return
            self._attempts.pop(flight.key, None)
            reason = str(exc) if isinstance(exc, LltdError) else f"{type(exc).__name__}: {exc}"
            self.report(Report("stuck", flight, reason=reason))
            return
        self._attempts.pop(flight.key, None)
        if processed.disposed in ("changed", "replaced"):
            self.report(Report("released" if self._closed else "changed", flight, processed))
            return
        self.report(Report("done", flight, processed))

    def _worker_died(self, flight: InFlight[Key], exc: BaseException) -> None:
        with self._lock:
            if self._executor is not None and getattr(self._executor, "_broken", False):
                broken, self._executor = self._executor, None
                broken.shutdown(wait=False)
        if self._closed:
            self.report(Report("released", flight))  # stopping: done at the next start
            return
        if flight.attempt < MAX_ATTEMPTS:
            self._attempts[flight.key] = flight.attempt
            self.report(Report("retry", flight, error=exc))
            return
        self._attempts.pop(flight.key, None)
        reason = f"the worker process died {MAX_ATTEMPTS} times on this file"
        self.report(Report("dead", flight, reason=reason))


def _quiet_shutdown(executor: Any, manager: threading.Thread | None = None) -> None:
    """Join the executor's workers and its manager thread. A second ``shutdown`` does not join
    the manager (the first one, ``wait=False``, forgot it), and a daemon that exited while it
    was still closing its wake-up pipe had the interpreter's exit hook write to that pipe: an
    "Exception ignored ... Bad file descriptor" traceback in the journal."""
    with contextlib.suppress(Exception):
        executor.shutdown(wait=True)
        if manager is not None:
            manager.join()


def new_executor(jobs: int) -> ProcessPoolExecutor:
    # spawn, not fork (the daemon has threads), and not forkserver either: a forkserver's
    # workers outlive a SIGKILLed daemon and would race its successor, while spawned workers
    # are our children and die with us (PR_SET_PDEATHSIG in lltd.batch.engine.die_with_parent).
    context = multiprocessing.get_context("spawn")
    # After a SIGKILL, multiprocessing's resource tracker (inherits this environment) warns
    # about "leaked semaphores" with a Python source line: noise in the journal, not news.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    )


def pool_for(
    config: WatchConfig,
    jobs: int,
    report: Callable[[Report[Key]], None],
    clock: Callable[[], float],
    *,
    on_killed: Callable[[], None],
) -> Pool[Key]:
    """Spawned worker processes, or the workers of ``config.scheduler``'s Dask cluster."""
    if config.scheduler is None:
        return Pool(
            jobs, report, clock=clock, worker_idle=config.worker_idle,
            stop_timeout=config.stop_timeout, on_killed=on_killed,
        )  # fmt: skip
    from lltd.watch.cluster import DaskExecutor

    address = config.scheduler
    # The cluster's workers are not ours to retire or kill: no idle exit, and no cleaning up
    # after files a worker may still be finishing.
    return Pool(
        jobs, report, clock=clock, worker_idle=float("inf"), stop_timeout=config.stop_timeout,
        executor=lambda _jobs: DaskExecutor(address),
    )  # fmt: skip
