"""The runners of lltd/batch/engine.py in-process: every task runs once, results come back in input
order whatever order the workers finish in, and one file's crash is one failed result."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from lltd.batch.engine import (
    ProcessRunner,
    SerialRunner,
    ThreadRunner,
    chunked,
    default_jobs,
    local_runner,
    run_batch,
    run_one,
)
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import ImageError


def tasks(count: int) -> list[Task]:
    return [Task(Path(f"/in/{index:03d}.png"), Path(f"{index:03d}.png")) for index in range(count)]


def echo_job(task: Task) -> FileResult:
    """Module level so worker processes can unpickle it; records which process ran the task."""
    size = int(task.source.stem)
    return FileResult(str(task.source), f"pid {os.getpid()}", Outcome.CONVERTED, size, 1)


def fussy_job(task: Task) -> FileResult:
    number = int(task.source.stem)
    if number == 1:
        raise ImageError("not an image, or a format Pillow cannot read")
    if number == 2:
        raise KeyError("surprise")
    return echo_job(task)


def test_run_one_turns_exceptions_into_one_failed_result() -> None:
    ok, bad, crash = (run_one(fussy_job, task) for task in tasks(3))
    assert ok.outcome is Outcome.CONVERTED and ok.error is None
    assert bad == FileResult(
        "/in/001.png", None, Outcome.FAILED, error="not an image, or a format Pillow cannot read"
    )
    assert crash.outcome is Outcome.FAILED and crash.output is None
    assert crash.error == "internal error: KeyError: 'surprise'"


def test_chunked_covers_every_item_once_in_order() -> None:
    items = list(enumerate(tasks(10)))
    chunks = chunked(items, 3)
    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert [item for chunk in chunks for item in chunk] == items
    assert chunked([], 4) == []


def test_serial_runner_yields_every_index_in_order() -> None:
    got = list(SerialRunner().run(echo_job, tasks(5)))
    assert [index for index, _ in got] == [0, 1, 2, 3, 4]
    assert [result.input for _, result in got] == [task.source.as_posix() for task in tasks(5)]


def test_process_runner_runs_every_task_once_in_worker_processes() -> None:
    work = tasks(40)
    got = list(ProcessRunner(2).run(fussy_job, work))
    assert sorted(index for index, _ in got) == list(range(40))
    by_index = dict(got)
    assert [by_index[i].input for i in range(40)] == [str(task.source) for task in work]
    assert by_index[1].error and by_index[2].error.startswith("internal error: KeyError")
    workers = {r.output for r in by_index.values() if r.output}
    assert f"pid {os.getpid()}" not in workers  # the work ran in other processes
    assert 1 <= len(workers) <= 2


def test_process_runner_with_one_task_or_one_job_stays_in_this_process() -> None:
    for runner, count in ((ProcessRunner(4), 1), (ProcessRunner(1), 5), (ProcessRunner(0), 3)):
        got = list(runner.run(echo_job, tasks(count)))
        assert [index for index, _ in got] == list(range(count))
        assert {result.output for _, result in got} == {f"pid {os.getpid()}"}


def test_local_runner_defaults_to_every_core_it_may_use() -> None:
    assert default_jobs() == len(os.sched_getaffinity(0))
    for jobs in (None, 0, -3):
        runner = local_runner(jobs)
        if default_jobs() == 1:
            assert isinstance(runner, SerialRunner)
        else:
            assert isinstance(runner, ProcessRunner) and runner.jobs == default_jobs()
    assert isinstance(local_runner(1), SerialRunner)
    three = local_runner(3)
    assert isinstance(three, ProcessRunner) and three.jobs == 3


class ReversedRunner:
    """A runner whose results complete in the opposite order, like a slow first file."""

    def run(self, job, work: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        for index in reversed(range(len(work))):
            yield index, run_one(job, work[index])


@pytest.mark.parametrize(
    "runner", [ReversedRunner(), SerialRunner(), ProcessRunner(2), ThreadRunner(3)]
)
def test_run_batch_reports_in_input_order_and_calls_back_once_per_file(runner) -> None:
    work = tasks(12)
    seen: list[str] = []
    results, totals = run_batch(fussy_job, work, runner, lambda result: seen.append(result.input))
    assert [result.input for result in results] == [str(task.source) for task in work]
    assert sorted(seen) == sorted(str(task.source) for task in work)
    assert totals.scanned == 12
    assert totals.counts[Outcome.FAILED] == 2 and totals.counts[Outcome.CONVERTED] == 10
    assert totals.bytes_before == sum(range(12)) - 1 - 2
    assert totals.seconds >= 0


def test_thread_runner_runs_every_task_once_in_its_worker_threads() -> None:
    work = tasks(60)
    # Files 0, 3 and 4 (converted ones: 1 and 2 fail) wait for each other: a worker holding one
    # cannot take another, so three workers hold them at once, however the machine schedules
    # the threads (a sleep per file only made that likely).
    meet = threading.Barrier(3, timeout=120)

    def thread_job(task: Task) -> FileResult:
        """fussy_job, naming the thread that ran the task."""
        if int(task.source.stem) in (0, 3, 4):
            meet.wait()
        result = fussy_job(task)
        return FileResult(result.input, threading.current_thread().name, result.outcome)

    got = list(ThreadRunner(3, poll_seconds=0.001).run(thread_job, work))
    assert sorted(index for index, _ in got) == list(range(60))
    by_index = dict(got)
    assert [by_index[i].input for i in range(60)] == [str(task.source) for task in work]
    assert by_index[1].outcome is Outcome.FAILED and by_index[2].outcome is Outcome.FAILED
    names = {result.output for result in by_index.values() if result.output}
    assert threading.current_thread().name not in names
    assert names == {"lltd-worker-0", "lltd-worker-1", "lltd-worker-2"}
    assert not [t for t in threading.enumerate() if t.name.startswith("lltd-worker")]


def test_thread_runner_with_no_tasks_yields_nothing() -> None:
    assert list(ThreadRunner(4).run(echo_job, [])) == []


def test_thread_runner_starts_no_file_after_a_fatal_result() -> None:
    """A full disk: the workers finish the file in hand and take no other. Files after 5 are
    held until the caller has the fatal result, so the other worker holds one (6) when it
    comes, and none may start after it, however the threads are scheduled."""
    seen = threading.Event()
    started: list[int] = []

    def full_disk_at_five(task: Task) -> FileResult:
        number = int(task.source.stem)
        started.append(number)
        if number > 5:
            seen.wait(120)
        return FileResult(str(task.source), None, Outcome.FAILED, error="full", stop=number == 5)

    for index, result in ThreadRunner(2, poll_seconds=0.001).run(full_disk_at_five, tasks(200)):
        if result.stop:
            assert index == 5
            seen.set()
    assert sorted(started) in (list(range(6)), list(range(7)))


def test_thread_runner_stops_taking_files_when_the_caller_stops_reading() -> None:
    ran: list[int] = []

    def job(task: Task) -> FileResult:
        ran.append(int(task.source.stem))
        # Not synchronisation: the workers would need the caller stalled for 5 s (500 x 20 ms /
        # 2 workers) to take every file before it closes, even on a loaded machine.
        time.sleep(0.02)
        return echo_job(task)

    results = ThreadRunner(2, poll_seconds=0.001).run(job, tasks(500))
    next(results)
    results.close()  # what run_batch does after a fatal result, or on Ctrl-C
    count = len(ran)
    time.sleep(0.05)
    assert len(ran) == count < 500  # the workers were joined and took nothing more
    assert not [t for t in threading.enumerate() if t.name.startswith("lltd-worker")]


def test_thread_runner_reraises_what_a_worker_dies_of() -> None:
    """run_one turns an Exception into a failed file; anything else (SystemExit from a job)
    must not leave the caller waiting for results that never come."""

    def job(task: Task) -> FileResult:
        if task.source.stem == "003":
            raise SystemExit("a job that exits")
        return echo_job(task)

    with pytest.raises(SystemExit, match="a job that exits"):
        list(ThreadRunner(2).run(job, tasks(10)))
