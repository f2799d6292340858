"""``lltd.batch.engine`` in-process (issue 27): each error a job can raise as its one-line
failure (a full disk and a full quota stop the batch), the job's own quarantine policy for
them, a worker that dies with its parent, a chunk ending at a stop, the runner each ``-j`` and
``LLTD_POOL`` gives, and ``run_batch`` stopping and closing its runner at a fatal result."""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lltd.batch import engine
from lltd.batch.engine import (
    FATAL_ERRNOS,
    POOL_KINDS,
    PR_SET_PDEATHSIG,
    ProcessRunner,
    SerialRunner,
    ThreadRunner,
    default_jobs,
    die_with_parent,
    fail,
    local_runner,
    run_batch,
    run_chunk,
    run_one,
)
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import UsageError

TASK = Task(Path("/in/a.png"), Path("a.png"))


def raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def job(task: Task) -> FileResult:
        raise exc

    return job


def test_the_fatal_errors_and_prctls_request_number() -> None:
    assert FATAL_ERRNOS == {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
    }
    assert PR_SET_PDEATHSIG == 1
    assert POOL_KINDS == ("processes", "threads")


@pytest.mark.parametrize("number", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_or_quota_fails_the_file_and_stops_the_batch(number: int) -> None:
    result = run_one(raising(OSError(number, os.strerror(number))), TASK)
    assert result == FileResult(
        "/in/a.png", None, Outcome.FAILED, error=FATAL_ERRNOS[number], stop=True
    )


def test_a_name_too_long_says_what_the_file_system_takes() -> None:
    result = run_one(raising(OSError(errno.ENAMETOOLONG, "File name too long")), TASK)
    assert result == FileResult(
        "/in/a.png",
        None,
        Outcome.FAILED,
        error="its output's name is longer than the file system takes (255 bytes)",
    )
    assert result.stop is False


def test_any_other_error_is_an_internal_error_naming_its_type_and_the_batch_goes_on() -> None:
    result = run_one(raising(FileNotFoundError(errno.ENOENT, "No such file", "x")), TASK)
    assert result.error == "internal error: FileNotFoundError: [Errno 2] No such file: 'x'"
    assert result.stop is False
    result = run_one(raising(OSError("no errno")), TASK)
    assert result.error == "internal error: OSError: no errno"
    result = run_one(raising(ZeroDivisionError("division by zero")), TASK)
    assert result.error == "internal error: ZeroDivisionError: division by zero"


def test_an_lltd_error_is_its_own_words() -> None:
    from lltd.common.errors import ImageError

    result = run_one(raising(ImageError("not an image")), TASK)
    assert result == FileResult("/in/a.png", None, Outcome.FAILED, error="not an image")


class Quarantining:
    """A job with its own failure policy (as the batch jobs' ``fail``)."""

    command = "flip"

    def __init__(self) -> None:
        self.calls: list[tuple[Task, str, str]] = []

    def __call__(self, task: Task) -> FileResult:
        raise KeyError("surprise")

    def fail(self, task: Task, reason: str, command: str) -> FileResult:
        self.calls.append((task, reason, command))
        return FileResult(str(task.source), "/out/failed/a.png", Outcome.FAILED, 7, 7, reason)


def test_a_failure_goes_through_the_jobs_own_policy_with_its_command() -> None:
    job = Quarantining()
    result = run_one(job, TASK)
    assert result == FileResult(
        "/in/a.png",
        "/out/failed/a.png",
        Outcome.FAILED,
        7,
        7,
        "internal error: KeyError: 'surprise'",
    )
    assert job.calls == [(TASK, "internal error: KeyError: 'surprise'", "flip")]


def test_a_policy_without_a_command_gets_an_empty_one_and_a_failing_policy_is_skipped() -> None:
    calls: list[str] = []

    class Bare:
        def fail(self, task: Task, reason: str, command: str) -> FileResult:
            calls.append(command)
            return FileResult("policy", None, Outcome.FAILED, error=reason)

    assert fail(Bare(), TASK, "why").input == "policy"  # type: ignore[arg-type]
    assert calls == [""]

    class Broken:
        def fail(self, task: Task, reason: str, command: str) -> FileResult:
            raise OSError("the quarantine folder is gone")

    assert fail(Broken(), TASK, "why") == FileResult(  # type: ignore[arg-type]
        "/in/a.png", None, Outcome.FAILED, error="why"
    )

    class NotCallable:
        fail = "a field, not a policy"

    assert fail(NotCallable(), TASK, "why") == FileResult(  # type: ignore[arg-type]
        "/in/a.png", None, Outcome.FAILED, error="why"
    )


def in_child(body) -> int:  # type: ignore[no-untyped-def]
    """Run ``body`` in a forked child; its exit status (body's return value, or 1 if it exits)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 70
        try:
            code = body()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_worker_ignores_ctrl_c_and_asks_the_kernel_to_kill_it_with_its_parent() -> None:
    def body() -> int:
        die_with_parent(os.getppid())
        signal_number = ctypes.c_int(-1)
        PR_GET_PDEATHSIG = 2
        ctypes.CDLL(None, use_errno=True).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal_number))
        ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        return 10 + (signal_number.value == signal.SIGKILL) + 2 * ignored

    assert in_child(body) == 13


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    def body() -> int:
        die_with_parent(os.getppid() + 1)  # not our parent: as if it had died before
        return 0

    assert in_child(body) == 1


def echo(task: Task) -> FileResult:
    return FileResult(str(task.source), None, Outcome.CONVERTED, stop=task.source.stem == "s")


def tasks(*stems: str) -> list[Task]:
    return [Task(Path(f"/in/{stem}.png"), Path(f"{stem}.png")) for stem in stems]


def test_a_chunk_runs_in_order_and_ends_at_a_stop() -> None:
    chunk = list(enumerate(tasks("a", "b", "s", "c")))
    got = run_chunk(echo, chunk)
    assert [(index, Path(result.input).stem) for index, result in got] == [
        (0, "a"), (1, "b"), (2, "s"),
    ]  # fmt: skip
    assert [index for index, _ in run_chunk(echo, chunk[:2])] == [0, 1]


def test_the_runners_count_at_least_one_worker_and_fork_where_they_can() -> None:
    assert ProcessRunner(0).jobs == 1 and ProcessRunner(-2).jobs == 1 and ProcessRunner(5).jobs == 5
    assert ProcessRunner(2).start_method == "fork"
    assert ProcessRunner(2, "spawn").start_method == "spawn"
    assert ThreadRunner(0).jobs == 1 and ThreadRunner(4).jobs == 4
    assert ThreadRunner(2).poll_seconds == 0.05


@pytest.mark.parametrize(("count", "size"), [(1000, 32), (100, 6), (17, 1), (10, 1)])
def test_a_process_pool_hands_out_about_8_chunks_per_worker_of_at_most_32_files(
    count: int, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = engine.chunked

    def recording(items, chunk):  # type: ignore[no-untyped-def]
        sizes.append(chunk)
        return real(items, chunk)

    monkeypatch.setattr(engine, "chunked", recording)
    got = dict(ProcessRunner(2).run(echo, tasks(*[str(n) for n in range(count)])))
    assert sizes == [size]
    assert sorted(got) == list(range(count))


def recorded(task: Task) -> FileResult:
    """Leaves a file named after the task in its folder (module level: workers unpickle it);
    every task but the first waits until the caller has seen the first's stop."""
    (task.source.parent / task.source.stem).touch()
    stop = task.source.stem == "0"
    if not stop:
        seen = task.source.parent.parent / "seen"
        for _ in range(6000):  # at most a minute: the caller marks it at once
            if seen.exists():
                break
            time.sleep(0.01)
        time.sleep(0.02)  # not synchronisation: a chunk lasts longer than closing the pool
    return FileResult(str(task.source), None, Outcome.FAILED, error="full", stop=stop)


def test_a_process_pool_stopped_early_starts_no_queued_chunk_and_leaves_no_worker(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    work = [Task(folder / f"{n}.png", Path(f"{n}.png")) for n in range(400)]

    def seen(result: FileResult) -> None:
        if result.stop:
            (tmp_path / "seen").touch()

    results, _ = run_batch(recorded, work, ProcessRunner(2), seen)
    assert multiprocessing.active_children() == []  # joined before run_batch returns
    assert results[0].stop
    started = len(list(folder.iterdir()))
    # Chunks of 25: the stopping chunk's one file, the two chunks the workers then held and the
    # three in the pool's call queue (already running to it); all 376 others had they run.
    assert started <= 1 + 25 * 10


def where(task: Task) -> FileResult:
    return FileResult(str(task.source), multiprocessing.current_process().name, Outcome.CONVERTED)


def test_a_process_pool_starts_its_workers_the_way_it_was_told() -> None:
    got = dict(ProcessRunner(2, "spawn").run(where, tasks("a", "b")))
    assert {result.output.split("-")[0] for result in got.values()} == {"SpawnProcess"}  # type: ignore[union-attr]
    got = dict(ProcessRunner(2).run(where, tasks("a", "b")))
    assert {result.output.split("-")[0] for result in got.values()} == {"ForkProcess"}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("methods", "chosen"),
    [
        (["fork", "spawn", "forkserver"], "fork"),
        (["spawn", "fork"], "fork"),  # fork wherever the system has it
        (["spawn", "forkserver"], "spawn"),  # else the system's default, listed first
    ],
)
def test_a_process_pool_forks_where_it_can_else_starts_the_systems_way(
    methods: list[str], chosen: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: methods)
    assert ProcessRunner(2).start_method == chosen
    assert ProcessRunner(2, "forkserver").start_method == "forkserver"


@pytest.mark.parametrize(("count", "threads"), [(0, 1), (1, 1), (3, 3), (9, 4)])
def test_a_thread_pool_starts_no_more_workers_than_files_and_at_least_one(
    count: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    started: list[str] = []

    class Counted(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    monkeypatch.setattr(threading, "Thread", Counted)
    got = list(ThreadRunner(4).run(echo, tasks(*[str(n) for n in range(count)])))
    assert len(got) == count
    assert started == [f"lltd-worker-{n}" for n in range(threads)]


def test_a_callback_that_raises_stops_the_workers_before_the_caller_sees_it() -> None:
    """Ctrl-C in the progress callback: the runner is closed in ``run_batch`` itself, not when
    the traceback that holds its frame is freed (the workers would go on taking files)."""
    import threading

    ran: list[int] = []

    def job(task: Task) -> FileResult:
        ran.append(int(task.source.stem))
        time.sleep(0.02)  # not synchronisation: 500 files keep the workers busy for seconds
        return echo(task)

    def interrupted(result: FileResult) -> None:
        raise KeyboardInterrupt

    # Kept, as a handler printing it keeps it: its traceback holds run_batch's frame.
    with pytest.raises(KeyboardInterrupt) as caught:
        run_batch(job, tasks(*[str(n) for n in range(500)]), ThreadRunner(2), interrupted)
    workers = [t for t in threading.enumerate() if t.name.startswith("lltd-worker")]
    assert workers == [] and len(ran) < 500
    assert caught.traceback


def test_run_batch_times_the_run_itself() -> None:
    before = time.perf_counter()
    _, totals = run_batch(echo, tasks("a", "b"), SerialRunner())
    assert 0 <= totals.seconds <= time.perf_counter() - before


def test_default_jobs_is_this_processs_own_affinity() -> None:
    """``taskset -c 0 lltd ...``: one core allowed, one job (in a child: the suite keeps its)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: every affinity set is the same")

    def body() -> int:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        return 20 + default_jobs()

    assert in_child(body) == 21


def test_default_jobs_without_affinity_is_the_cpu_count_or_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert default_jobs() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_jobs() == 1


@pytest.mark.parametrize(
    ("jobs", "pool", "env", "kind", "count"),
    [
        (1, "threads", None, SerialRunner, None),
        (1, "processes", "fibers", SerialRunner, None),  # one job needs no pool at all
        (2, "processes", None, ProcessRunner, 2),
        (2, "threads", None, ThreadRunner, 2),
        (3, "processes", "threads", ThreadRunner, 3),
        (3, "threads", "processes", ProcessRunner, 3),
    ],
)
def test_the_local_runner_for_each_job_count_pool_and_lltd_pool(
    jobs: int, pool: str, env: str | None, kind: type, count: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    if env is None:
        monkeypatch.delenv("LLTD_POOL", raising=False)
    else:
        monkeypatch.setenv("LLTD_POOL", env)
    runner = local_runner(jobs, pool)
    assert type(runner) is kind
    if count is not None:
        assert runner.jobs == count  # type: ignore[attr-defined]


def test_the_pool_defaults_to_processes_and_no_jobs_means_every_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLTD_POOL", raising=False)
    monkeypatch.setattr(engine, "default_jobs", lambda: 5)
    for jobs in (None, 0, -1):
        runner = local_runner(jobs)
        assert type(runner) is ProcessRunner and runner.jobs == 5
    monkeypatch.setattr(engine, "default_jobs", lambda: 1)
    assert type(local_runner(0)) is SerialRunner


def test_an_unknown_lltd_pool_is_one_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLTD_POOL", "fibers")
    with pytest.raises(UsageError) as refused:
        local_runner(2)
    assert str(refused.value) == "LLTD_POOL must be one of processes, threads, got 'fibers'"


class Recording:
    """A runner that hands out results one by one and records how far it was read."""

    def __init__(self) -> None:
        self.handed: list[int] = []
        self.closed = False

    def run(self, job, work: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:  # type: ignore[no-untyped-def]
        try:
            for index in reversed(range(len(work))):
                self.handed.append(index)
                yield index, job(work[index])
        finally:
            self.closed = True


def test_run_batch_stops_at_a_fatal_result_and_closes_its_runner() -> None:
    runner = Recording()
    seen: list[str] = []
    results, totals = run_batch(
        echo, tasks("a", "s", "b", "c"), runner, lambda r: seen.append(Path(r.input).stem)
    )
    assert runner.handed == [3, 2, 1] and runner.closed
    assert seen == ["c", "b", "s"]
    assert [Path(r.input).stem for r in results] == ["s", "b", "c"]  # input order, none missing
    assert totals.scanned == 3 and totals.counts[Outcome.CONVERTED] == 3


def test_run_batch_without_a_callback_runs_every_task() -> None:
    runner = Recording()
    results, totals = run_batch(echo, tasks("a", "b"), runner)
    assert [Path(r.input).stem for r in results] == ["a", "b"] and runner.closed
    assert totals.scanned == 2


def test_run_batch_takes_a_runner_yielding_a_plain_list() -> None:
    class Listing:
        def run(self, job, work):  # type: ignore[no-untyped-def]
            return [(1, job(work[1])), (0, job(work[0]))]

    results, _ = run_batch(echo, tasks("a", "b"), Listing())
    assert [Path(r.input).stem for r in results] == ["a", "b"]
