"""The watch daemon's pool (``lltd.watch.pool``), in-process with a recording executor whose
futures the test completes: each report kind exactly once per file (done, changed, released,
retry, dead, stuck) with its reason word for word, the attempts counted across retries, the
slots (two per worker), the idle retirement at exactly ``worker_idle``, and the drain (waited
for, or the workers killed and the temporaries cleared). No worker process is started, except
that ``new_executor``'s settings are read from an executor that never runs anything."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from lltd.batch.engine import die_with_parent
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import LltdError
from lltd.fs.identity import Version
from lltd.jobs.flip import FlipJob
from lltd.watch import pool as pool_module
from lltd.watch.config import FolderConfig, WatchConfig
from lltd.watch.pool import MAX_ATTEMPTS, Pool, Report, new_executor, pool_for
from lltd.watch.worker import Processed, WorkItem, process

SIG = Version(1, 2, 3, 4, 5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Proc:
    def __init__(self) -> None:
        self.killed = 0
        self.joined: list[float] = []

    def kill(self) -> None:
        self.killed += 1

    def join(self, timeout: float) -> None:
        self.joined.append(timeout)


class Executor:
    """What the pool asks of a process pool; each file's future is the test's to complete."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.submitted: list[tuple[object, WorkItem, Future[Processed]]] = []
        self.shutdowns: list[tuple[bool, bool]] = []
        self._processes = {1: Proc(), 2: Proc()}
        self._broken = False
        self.release_shutdown = threading.Event()
        self.release_shutdown.set()

    def submit(self, fn: object, item: WorkItem) -> Future[Processed]:
        future: Future[Processed] = Future()
        self.submitted.append((fn, item, future))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.shutdowns.append((wait, cancel_futures))
        if wait:
            self.release_shutdown.wait(30)


class Setup:
    def __init__(self, jobs: int = 1, **kwargs: object) -> None:
        self.clock = Clock()
        self.reports: list[Report[str]] = []
        self.executors: list[Executor] = []
        self.killed = 0
        self.pool: Pool[str] = Pool(
            jobs,
            self.reports.append,
            clock=self.clock,
            worker_idle=kwargs.pop("worker_idle", 60.0),  # type: ignore[arg-type]
            stop_timeout=kwargs.pop("stop_timeout", 30.0),  # type: ignore[arg-type]
            on_killed=self.on_killed,
            executor=self.new,
        )

    def on_killed(self) -> None:
        self.killed += 1

    def new(self, jobs: int) -> Executor:
        self.executors.append(Executor(jobs))
        return self.executors[-1]

    def submit(self, key: str = "a") -> Future[Processed]:
        assert self.pool.reserve(timeout=0)
        assert self.pool.submit(key, ITEM, SIG)
        return self.executors[-1].submitted[-1][2]


ITEM = WorkItem(
    job=FlipJob(output_dir=Path("/nonexistent/out")),
    task=Task(Path("/nonexistent/in/a.png"), Path("a.png")),
    on_success="move",
    state_dir=Path("/nonexistent/in/.lltd"),
    quarantine_dir=Path("/nonexistent/out/failed"),
)


def processed(disposed: str) -> Processed:
    return Processed(FileResult("a", "b", Outcome.CONVERTED), disposed)


# -- submitting -------------------------------------------------------------------------------


def test_the_executor_starts_with_the_first_file_and_runs_process_on_the_item() -> None:
    made = Setup(jobs=3)
    assert made.executors == [] and len(made.pool) == 0
    made.submit("a")
    made.submit("b")
    [executor] = made.executors
    assert executor.jobs == 3
    assert [(fn, item) for fn, item, _ in executor.submitted] == [(process, ITEM), (process, ITEM)]
    assert len(made.pool) == 2


def test_connect_starts_the_executor_once() -> None:
    made = Setup(jobs=2)
    made.pool.connect()
    made.pool.connect()
    made.submit()
    assert len(made.executors) == 1 and made.executors[0].jobs == 2


def test_each_worker_has_two_slots() -> None:
    made = Setup(jobs=2)
    assert [made.pool.reserve(timeout=0) for _ in range(5)] == [True] * 4 + [False]
    made.pool.unreserve()
    assert made.pool.reserve(timeout=0) is True


def test_a_finished_file_frees_its_slot() -> None:
    made = Setup(jobs=1)
    future = made.submit()
    assert made.pool.reserve(timeout=0) is True  # the second slot
    assert made.pool.reserve(timeout=0) is False
    future.set_result(processed("deleted"))
    assert made.pool.reserve(timeout=0) is True and len(made.pool) == 0


def test_a_closed_pool_takes_nothing_and_says_how_many_are_in_flight() -> None:
    made = Setup()
    made.submit("a")
    assert made.pool.closed is False
    assert made.pool.close() == 1
    assert made.pool.closed is True
    assert made.pool.submit("b", ITEM, SIG) is False
    assert len(made.executors[0].submitted) == 1


def test_a_closed_pool_starts_no_executor() -> None:
    made = Setup()
    made.pool.close()
    assert made.pool.submit("a", ITEM, SIG) is False and made.executors == []


# -- reports -----------------------------------------------------------------------------------


def test_a_processed_file_is_reported_done_once_with_its_flight() -> None:
    made = Setup()
    future = made.submit("a")
    result = processed("moved:/x")
    future.set_result(result)
    [report] = made.reports
    assert (report.kind, report.processed, report.reason, report.error) == (
        "done",
        result,
        "",
        None,
    )
    assert (report.flight.key, report.flight.item, report.flight.sig) == ("a", ITEM, SIG)
    assert report.flight.attempt == 1


@pytest.mark.parametrize("disposed", ["changed", "replaced"])
def test_a_file_changed_or_replaced_meanwhile_is_reported_changed(disposed: str) -> None:
    made = Setup()
    result = processed(disposed)
    made.submit().set_result(result)
    assert [(r.kind, r.processed) for r in made.reports] == [("changed", result)]


def test_a_file_changed_while_stopping_is_released() -> None:
    made = Setup()
    future = made.submit()
    made.pool.close()
    future.set_result(processed("changed"))
    assert [r.kind for r in made.reports] == ["released"]


def test_a_cancelled_file_is_released() -> None:
    made = Setup()
    future = made.submit()
    future.cancel()
    assert [(r.kind, r.processed) for r in made.reports] == [("released", None)]
    assert len(made.pool) == 0


def test_a_worker_death_is_retried_then_the_file_is_dead_after_three_attempts() -> None:
    made = Setup()
    died = BrokenProcessPool("gone")
    for attempt in range(1, MAX_ATTEMPTS):
        made.submit("a").set_exception(died)
        assert made.reports[-1].kind == "retry" and made.reports[-1].error is died
        assert made.reports[-1].flight.attempt == attempt
    made.submit("a").set_exception(died)
    last = made.reports[-1]
    assert (last.kind, last.reason) == ("dead", "the worker process died 3 times on this file")
    assert last.flight.attempt == 3 == MAX_ATTEMPTS
    made.submit("a").set_result(processed("deleted"))  # the count starts again
    assert made.reports[-1].flight.attempt == 1


def test_attempts_are_counted_per_file_and_forgotten_once_done() -> None:
    made = Setup(jobs=2)
    made.submit("a").set_exception(BrokenProcessPool())
    made.submit("a").set_result(processed("deleted"))
    assert made.reports[-1].flight.attempt == 2
    made.submit("b").set_exception(BrokenProcessPool())
    assert made.reports[-1].flight.attempt == 1
    made.submit("a").set_result(processed("deleted"))
    assert made.reports[-1].flight.attempt == 1


def test_a_worker_death_while_stopping_is_released() -> None:
    made = Setup()
    future = made.submit()
    made.pool.close()
    future.set_exception(BrokenProcessPool())
    assert [r.kind for r in made.reports] == ["released"]


def test_a_broken_executor_is_shut_down_and_replaced() -> None:
    made = Setup()
    future = made.submit("a")
    made.executors[0]._broken = True
    future.set_exception(BrokenProcessPool())
    assert made.executors[0].shutdowns == [(False, False)]
    made.submit("a")
    assert len(made.executors) == 2


def test_an_executor_that_cannot_say_it_is_broken_is_kept() -> None:
    made = Setup()
    future = made.submit("a")
    del made.executors[0]._broken  # a Dask cluster's executor has no such flag
    future.set_exception(BrokenProcessPool())
    made.submit("a")
    assert len(made.executors) == 1 and made.executors[0].shutdowns == []


def test_a_worker_death_leaves_a_healthy_executor_in_place() -> None:
    made = Setup()
    made.submit("a").set_exception(BrokenProcessPool())
    made.submit("a")
    assert len(made.executors) == 1 and made.executors[0].shutdowns == []


def test_dasks_killed_worker_spends_every_attempt_at_once() -> None:
    class KilledWorker(Exception):
        pass

    made = Setup()
    made.submit().set_exception(KilledWorker("on three workers"))
    [report] = made.reports
    assert report.kind == "dead" and report.flight.attempt == MAX_ATTEMPTS


def test_a_file_that_cannot_be_set_aside_is_stuck_with_the_reason() -> None:
    made = Setup()
    made.submit("a").set_exception(LltdError("refused: a link under /out/failed"))
    made.submit("b").set_exception(PermissionError(13, "Permission denied"))
    assert [(r.kind, r.reason) for r in made.reports] == [
        ("stuck", "refused: a link under /out/failed"),
        ("stuck", "PermissionError: [Errno 13] Permission denied"),
    ]


def test_a_stuck_file_forgets_its_attempts() -> None:
    made = Setup()
    made.submit("a").set_exception(BrokenProcessPool())
    made.submit("a").set_exception(ValueError("x"))
    made.submit("a").set_result(processed("deleted"))
    assert made.reports[-1].flight.attempt == 1


# -- idle workers ----------------------------------------------------------------------------


def test_idle_workers_retire_exactly_worker_idle_after_the_last_activity() -> None:
    made = Setup(worker_idle=10.0)
    made.pool.retire_if_idle(100.0, 0)  # no executor yet: nothing to do
    made.clock.now = 5.0
    future = made.submit()
    made.clock.now = 7.0
    made.pool.retire_if_idle(50.0, 0)  # a file in flight
    future.set_result(processed("deleted"))  # activity at 7
    made.pool.retire_if_idle(16.9, 0)
    made.pool.retire_if_idle(50.0, 1)  # files queued
    assert made.executors[0].shutdowns == []
    made.pool.retire_if_idle(17.0, 0)
    assert made.executors[0].shutdowns == [(False, False)]
    made.submit()
    assert len(made.executors) == 2


def test_a_finished_file_is_activity_even_when_cancelled() -> None:
    made = Setup(worker_idle=10.0)
    made.pool.connect()
    made.clock.now = 8.0
    made.submit().cancel()
    made.pool.retire_if_idle(17.9, 0)
    assert made.executors[0].shutdowns == []
    made.pool.retire_if_idle(18.0, 0)
    assert made.executors[0].shutdowns == [(False, False)]


# -- draining ----------------------------------------------------------------------------------


def test_draining_an_unstarted_pool_is_nothing() -> None:
    made = Setup()
    assert made.pool.drain() == 0 and made.pool.closed


def test_draining_waits_for_the_files_in_flight_then_joins_the_workers() -> None:
    made = Setup()
    future = made.submit()
    threading.Timer(0.05, lambda: future.set_result(processed("deleted"))).start()
    assert made.pool.drain() == 0
    executor = made.executors[0]
    assert executor.shutdowns == [(False, True), (True, False)]
    assert made.killed == 0 and all(p.killed == 0 for p in executor._processes.values())
    assert [r.kind for r in made.reports] == ["done"]
    assert made.pool.submit("b", ITEM, SIG) is False


def test_files_still_in_flight_at_the_timeout_are_counted_and_their_workers_killed() -> None:
    made = Setup(jobs=2, stop_timeout=0.0)
    made.submit("a")
    made.submit("b")
    done = made.submit("c")
    done.set_result(processed("deleted"))
    assert made.pool.drain() == 2
    executor = made.executors[0]
    assert [(p.killed, p.joined) for p in executor._processes.values()] == [(1, [5]), (1, [5])]
    assert made.killed == 1


def test_the_workers_have_10_s_to_exit_once_nothing_is_in_flight() -> None:
    assert pool_module.SHUTDOWN_GRACE == 10.0


def test_workers_that_will_not_shut_down_are_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "SHUTDOWN_GRACE", 0.05)
    made = Setup()
    made.pool.connect()
    executor = made.executors[0]
    executor.release_shutdown.clear()  # its shutdown(wait=True) hangs
    before = set(threading.enumerate())
    assert made.pool.drain() == 0
    # The thread still joining them does not hold the daemon's exit.
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left and all(t.daemon for t in left)
    # Those known before the shutdown and those it still lists: here the same two, twice.
    assert [p.killed for p in executor._processes.values()] == [2, 2]
    executor.release_shutdown.set()


def test_the_executors_manager_thread_is_joined() -> None:
    made = Setup()
    made.pool.connect()
    executor = made.executors[0]
    release = threading.Event()
    manager = threading.Thread(target=release.wait, args=(30,), daemon=True)
    manager.start()
    executor._executor_manager_thread = manager  # type: ignore[attr-defined]
    threading.Timer(0.05, release.set).start()
    made.pool.drain()
    assert not manager.is_alive()


# -- making pools ------------------------------------------------------------------------------


def test_a_local_pool_takes_the_configs_settings(tmp_path: Path) -> None:
    config = WatchConfig(
        (FolderConfig(tmp_path, tmp_path / "out"),), worker_idle=7.5, stop_timeout=12.5
    )
    reports: list[Report[str]] = []

    def killed() -> None:
        pass

    made: Pool[str] = pool_for(config, 3, reports.append, lambda: 4.0, on_killed=killed)
    assert (made.jobs, made.worker_idle, made.stop_timeout) == (3, 7.5, 12.5)
    assert made.report == reports.append and made.on_killed is killed
    assert made.new_executor is new_executor and made.clock() == 4.0


def test_a_cluster_pool_never_retires_or_cleans_up_its_workers(tmp_path: Path) -> None:
    config = WatchConfig(
        (FolderConfig(tmp_path, tmp_path / "out"),), stop_timeout=12.5, scheduler="tcp://x:1"
    )
    made: Pool[str] = pool_for(config, 3, lambda r: None, lambda: 0.0, on_killed=lambda: None)
    assert (made.jobs, made.worker_idle, made.stop_timeout) == (3, float("inf"), 12.5)
    assert made.new_executor is not new_executor
    assert made.on_killed() is None and made.on_killed.__name__ == "<lambda>"


def test_a_cluster_pool_connects_to_the_configured_scheduler(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    import socket

    from lltd.common.errors import LltdError

    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    config = WatchConfig((FolderConfig(tmp_path, tmp_path / "out"),), scheduler=address)
    made: Pool[str] = pool_for(config, 2, lambda r: None, lambda: 0.0, on_killed=lambda: None)
    with pytest.raises(LltdError) as caught:
        made.connect()
    assert str(caught.value).startswith(f"cannot reach the Dask scheduler at {address}: ")


def test_new_executor_spawns_workers_that_die_with_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    executor = new_executor(3)
    try:
        assert executor._max_workers == 3
        assert executor._mp_context.get_start_method() == "spawn"
        assert executor._initializer is die_with_parent
        assert executor._initargs == (os.getpid(),)
        assert os.environ["PYTHONWARNINGS"] == "ignore:resource_tracker:UserWarning"
    finally:
        executor.shutdown()
    monkeypatch.setenv("PYTHONWARNINGS", "error")
    new_executor(1).shutdown()
    assert os.environ["PYTHONWARNINGS"] == "error"


def test_a_report_cannot_be_changed_once_made() -> None:
    import dataclasses

    made = Setup()
    made.submit().set_result(processed("deleted"))
    [report] = made.reports
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.kind = "stuck"  # type: ignore[misc]
    report.flight.attempt = 2  # the flight is the pool's own record, updated in place
    assert report.flight.attempt == 2


def test_a_pool_started_without_work_retires_worker_idle_after_it_was_made() -> None:
    made = Setup(worker_idle=10.0)
    made.clock.now = 3.0
    made.pool.connect()
    made.pool.retire_if_idle(9.9, 0)
    assert made.executors[0].shutdowns == []
    made.pool.retire_if_idle(10.0, 0)  # made at 0.0
    assert made.executors[0].shutdowns == [(False, False)]
