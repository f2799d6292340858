"""Run a per-file job over many tasks: serially, in local processes, or on any other runner.

A job is a picklable callable ``job(task) -> FileResult`` that writes its output atomically and
knows nothing of processes, progress bars or clusters. A runner yields results as they complete;
``run_batch`` restores input order so every runner gives the same report.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from lltd.batch.outcome import FileResult, Outcome, Totals
from lltd.batch.scan import Task
from lltd.common.errors import LltdError, UsageError
from lltd.fs.destination import NAME_MAX

if TYPE_CHECKING:
    from concurrent.futures import Future

Job = Callable[[Task], FileResult]

#: Errors after which no other file can succeed either.
FATAL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
PR_SET_PDEATHSIG = 1


def run_one(job: Job, task: Task) -> FileResult:
    """Run ``job`` on one task; an unexpected exception becomes a one-line failure, not a crash.

    A full disk is not one file's failure: the result asks the runner to stop (atomic writes
    have already removed the partial output)."""
    try:
        return job(task)
    except LltdError as exc:
        reason = str(exc)
    except OSError as exc:
        if exc.errno in FATAL_ERRNOS:
            return FileResult(
                str(task.source), None, Outcome.FAILED, error=FATAL_ERRNOS[exc.errno], stop=True
            )
        if exc.errno == errno.ENAMETOOLONG:
            reason = f"its output's name is longer than the file system takes ({NAME_MAX} bytes)"
        else:
            reason = f"internal error: {type(exc).__name__}: {exc}"
    except Exception as exc:  # the batch must go on whatever one file does
        reason = f"internal error: {type(exc).__name__}: {exc}"
    return fail(job, task, reason)


def fail(job: Job, task: Task, reason: str) -> FileResult:
    """``task`` failed for ``reason`` outside the job's own code (an exception, a worker that
    kept dying on it): the job's own quarantine policy sets it aside, one variant everywhere."""
    policy = getattr(job, "fail", None)
    if callable(policy):
        with contextlib.suppress(Exception):
            return policy(task, reason, getattr(job, "command", ""))  # type: ignore[no-any-return]
    return FileResult(str(task.source), None, Outcome.FAILED, error=reason)


def die_with_parent(parent: int) -> None:
    """Worker initializer: a worker outliving a SIGKILLed run would keep writing (and hold its
    folder lock) while the user reruns; the kernel kills it when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def run_chunk(job: Job, chunk: Sequence[tuple[int, Task]]) -> list[tuple[int, FileResult]]:
    results = []
    for index, task in chunk:
        results.append((index, run_one(job, task)))
        if results[-1][1].stop:
            break
    return results


class Runner(Protocol):
    def run(self, job: Job, tasks: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        """Yield ``(index into tasks, result)`` as results complete, in any order."""
        ...


class SerialRunner:
    def run(self, job: Job, tasks: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        for index, task in enumerate(tasks):
            yield index, run_one(job, task)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def chunked(items: Sequence[tuple[int, Task]], size: int) -> list[Sequence[tuple[int, Task]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class ProcessRunner:
    """Worker processes, fed small chunks so per-file IPC stays negligible yet progress flows.

    ``fork`` starts workers in milliseconds and is safe here: the batch commands hold no other
    threads (the progress bar refreshes without one). The watch daemon, which has threads, runs
    its own ``spawn`` pool.
    """

    def __init__(self, jobs: int, start_method: str | None = None) -> None:
        # Imported here: a serial or threaded run (compress's default) need not pay for them.
        import multiprocessing

        self.jobs = max(1, jobs)
        methods = multiprocessing.get_all_start_methods()
        self.start_method = start_method or ("fork" if "fork" in methods else methods[0])

    def run(self, job: Job, tasks: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        indexed = list(enumerate(tasks))
        workers = min(self.jobs, len(indexed))
        if workers <= 1:
            yield from SerialRunner().run(job, tasks)
            return
        # About 8 chunks per worker balances uneven files; 32 caps the latency of progress.
        size = max(1, min(32, len(indexed) // (workers * 8)))
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        context = multiprocessing.get_context(self.start_method)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
        try:
            pending: set[Future[list[tuple[int, FileResult]]]] = {
                pool.submit(run_chunk, job, chunk) for chunk in chunked(indexed, size)
            }
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
        finally:
            # Also when the consumer stops early (a full disk): queued chunks never start.
            pool.shutdown(wait=True, cancel_futures=True)


class ThreadRunner:
    """Threads in this process: Pillow releases the GIL while it decodes (zlib, libjpeg) and
    encodes (libwebp), and threads need no fork and no pickling. compress's pillow backend runs
    on it (faster than processes in bench/bench_compress.py); ``LLTD_POOL`` overrides.

    Each worker takes the next task itself and queues its result; the calling thread collects
    them every ``poll_seconds`` rather than once per file. Every wake-up of the calling thread
    takes the GIL from a worker: with an executor future per file, ``compress -j 2`` on 1,000
    small images made 7 to 9 context switches per file; this way, 1.4."""

    def __init__(self, jobs: int, poll_seconds: float = 0.05) -> None:
        self.jobs = max(1, jobs)
        self.poll_seconds = poll_seconds

    def run(self, job: Job, tasks: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        import threading
        from collections import deque

        finished: deque[tuple[int, FileResult]] = deque()
        taken = iter(range(len(tasks)))
        lock = threading.Lock()
        stop, all_done = threading.Event(), threading.Event()
        crashed: list[BaseException] = []
        running = min(self.jobs, max(1, len(tasks)))

        def work() -> None:
            nonlocal running
            try:
                while not stop.is_set():
                    with lock:
                        index = next(taken, None)
                    if index is None:
                        break
                    result = run_one(job, tasks[index])
                    if result.stop:  # a full disk: no other file can succeed
                        stop.set()  # before the caller can see it: no file starts after that
                    finished.append((index, result))
            except BaseException as exc:  # run_one catches Exception; this is the rest
                crashed.append(exc)
                stop.set()
            finally:
                with lock:
                    running -= 1
                    if running == 0:
                        all_done.set()

        workers = [threading.Thread(target=work, name=f"lltd-worker-{n}") for n in range(running)]
        for worker in workers:
            worker.start()
        try:
            while True:
                done = all_done.wait(self.poll_seconds)
                while finished:
                    yield finished.popleft()
                if done:
                    break
            if crashed:
                raise crashed[0]
        finally:
            # Ctrl-C (or a closed generator): no new file starts; the current ones complete.
            stop.set()
            for worker in workers:
                worker.join()


POOL_KINDS = ("processes", "threads")


def local_runner(jobs: int | None, pool: str = "processes") -> Runner:
    """Serial for one job; else ``pool`` (the command's choice), unless ``LLTD_POOL`` says."""
    jobs = default_jobs() if not jobs or jobs < 1 else jobs
    if jobs == 1:
        return SerialRunner()
    kind = os.environ.get("LLTD_POOL", pool)
    if kind not in POOL_KINDS:
        raise UsageError(f"LLTD_POOL must be one of {', '.join(POOL_KINDS)}, got {kind!r}")
    return ThreadRunner(jobs) if kind == "threads" else ProcessRunner(jobs)


def run_batch(
    job: Job,
    tasks: Sequence[Task],
    runner: Runner,
    on_result: Callable[[FileResult], None] | None = None,
) -> tuple[list[FileResult], Totals]:
    """Run every task; return results in input order and the totals."""
    started = time.perf_counter()
    results: list[FileResult | None] = [None] * len(tasks)
    results_iter = runner.run(job, tasks)
    try:
        for index, result in results_iter:
            results[index] = result
            if on_result is not None:
                on_result(result)
            if result.stop:
                break
    finally:
        close = getattr(results_iter, "close", None)
        if close is not None:
            close()
    ordered = [result for result in results if result is not None]
    return ordered, Totals.of(ordered, time.perf_counter() - started)
