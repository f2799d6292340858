"""The Dask runner's contracts in-process (lltd.cluster.runner, issue 27): batch sizes, the task
keys, each file run and reported once through a failing batch, the one-line failure, the
journal left empty, the clients it owns closed, the unreachable scheduler's one line.

One in-process cluster (worker threads) serves the module: the jobs here log each call to a file
and read their own task key on the worker, so the batches can be counted exactly.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster, get_worker

import lltd.cluster
from lltd.batch.engine import default_jobs
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.cluster import runner
from lltd.cluster.runner import JOURNAL, DaskRunner, batch_size, run_journaled
from lltd.common.errors import UsageError

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as shared:
        yield shared


class Broken:
    """What a job returns for its victim: no JSON record, so the batch's task itself raises."""

    def to_json(self) -> dict[str, object]:
        raise ValueError("boom\nsecond line")


@dataclass(frozen=True)
class Logged:
    """Logs ``<file> <task key>`` per call; breaks the batch on ``victim``."""

    log: Path
    victim: str = ""

    def __call__(self, task: Task) -> FileResult:
        with self.log.open("a") as out:
            out.write(f"{task.source.name} {get_worker().get_current_task()}\n")
        if task.source.name == self.victim:
            return Broken()  # type: ignore[return-value]
        return FileResult(str(task.source), f"{task.source}.webp", Outcome.CONVERTED, 10, 4)


@dataclass(frozen=True)
class Named(Logged):
    def input_name(self, task: Task) -> str:
        return f"named:{task.relative}"


def tasks(count: int) -> list[Task]:
    return [Task(Path(f"/in/f{n}.png"), Path(f"f{n}.png")) for n in range(count)]


def calls(log: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(" ")) for line in log.read_text().splitlines()]  # type: ignore[misc]


def kinds(log: Path) -> list[str]:
    """Each call's task key less its run id: ``batch-0``, ``file-2``."""
    return sorted(key.split("-", 2)[2] for _, key in calls(log))


def converted(name: str) -> FileResult:
    return FileResult(f"/in/{name}", f"/in/{name}.webp", Outcome.CONVERTED, 10, 4)


def test_batches_are_a_quarter_of_each_thread_s_share_between_one_and_64_files() -> None:
    assert batch_size(0, 2) == 1
    assert batch_size(7, 2) == 1  # 7 // 8
    assert batch_size(16, 2) == 2
    assert batch_size(100, 2) == 12
    assert batch_size(40, 0) == 10  # no thread reported: counted as one
    assert batch_size(256, 1) == 64
    assert batch_size(10_000, 1) == 64


def test_a_result_goes_through_the_journal_record_unchanged() -> None:
    result = FileResult("in/a.png", None, Outcome.FAILED, 3, 0, "bad")
    record = runner._record(7, result)
    assert record == {
        "index": 7,
        "input": "in/a.png",
        "output": None,
        "outcome": "failed",
        "bytes_before": 3,
        "bytes_after": 0,
        "error": "bad",
    }
    assert runner._result(record) == (7, result)
    assert record["index"] == 7  # read, not consumed


def test_every_file_runs_once_in_batches_of_the_size_asked_named_by_run(
    client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    results = dict(DaskRunner(client, batch=2).run(Logged(log), tasks(5)))
    assert results == {n: converted(f"f{n}.png") for n in range(5)}
    assert kinds(log) == ["batch-0", "batch-0", "batch-1", "batch-1", "batch-2"]
    keys = {key for _, key in calls(log)}
    run_ids = {key.split("-")[1] for key in keys}
    assert {key.split("-")[0] for key in keys} == {"lltd"}
    assert len(run_ids) == 1 and len(run_ids.pop()) == 12
    assert client.status == "running"  # a shared client stays open


def test_without_a_batch_size_the_cluster_s_threads_set_it(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    assert sum(client.nthreads().values()) == 2
    results = dict(DaskRunner(client).run(Logged(log), tasks(24)))  # 24 // (2 * 4) = 3 a batch
    assert sorted(results) == list(range(24))
    assert kinds(log) == sorted(f"batch-{n // 3}" for n in range(24))


def test_a_failing_batch_retries_then_its_files_one_by_one_and_the_victim_fails_alone(
    client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    job = Logged(log, victim="f1.png")
    results = dict(DaskRunner(client, batch=3).run(job, tasks(5)))
    error = "cluster error: ValueError: boom"
    assert results == {
        0: converted("f0.png"),
        1: FileResult("/in/f1.png", None, Outcome.FAILED, error=error),
        2: converted("f2.png"),
        3: converted("f3.png"),
        4: converted("f4.png"),
    }
    # f0 journaled before f1 broke: never run again; f1 three times in its batch (a first try
    # and RETRIES) and three alone; f2, never reached in the batch, alone once.
    ran = [name for name, _ in calls(log)]
    assert {name: ran.count(name) for name in set(ran)} == {
        "f0.png": 1,
        "f1.png": 6,
        "f2.png": 1,
        "f3.png": 1,
        "f4.png": 1,
    }
    assert kinds(log) == ["batch-0"] * 4 + ["batch-1"] * 2 + ["file-1"] * 3 + ["file-2"]


def test_a_batch_of_two_whose_first_file_breaks_it_still_converts_the_second(
    client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    results = dict(DaskRunner(client, batch=2).run(Named(log, victim="f0.png"), tasks(2)))
    error = "cluster error: ValueError: boom"
    assert results == {
        0: FileResult("named:f0.png", None, Outcome.FAILED, error=error),
        1: converted("f1.png"),
    }


def test_the_journal_is_emptied_as_each_batch_ends(client: Client, tmp_path: Path) -> None:
    # Under one name on a scheduler others may share (the other tests' runs included): this
    # run's journals, one entry under its own run id, emptied.
    assert JOURNAL == "lltd-journal"
    before = set(client.get_metadata([JOURNAL], default=None) or {})
    list(DaskRunner(client, batch=2).run(Logged(tmp_path / "calls.log"), tasks(3)))
    journals = client.get_metadata([JOURNAL])
    [ours] = set(journals) - before
    assert len(ours) == 12 and journals[ours] is None


def test_a_retried_batch_skips_the_files_its_journal_holds(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    journal = [JOURNAL, "contract", "batch-0"]
    done = runner._record(0, FileResult("earlier", "earlier.webp", Outcome.CONVERTED, 5, 1))
    client.set_metadata(journal, [done])
    chunk = list(enumerate(tasks(3)))
    try:
        records = client.submit(run_journaled, Logged(log), chunk, journal, pure=False).result()
    finally:
        client.set_metadata(journal[:2], None)  # as a run leaves it (other tests share it)
    assert [runner._result(record) for record in records] == [
        (0, FileResult("earlier", "earlier.webp", Outcome.CONVERTED, 5, 1)),
        (1, converted("f1.png")),
        (2, converted("f2.png")),
    ]
    assert [name for name, _ in calls(log)] == ["f1.png", "f2.png"]


def test_a_runner_that_owns_its_client_and_cluster_closes_both_after_the_run(
    tmp_path: Path,
) -> None:
    own = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    client = Client(own)
    runner_ = DaskRunner(client, batch=1, owns_client=True, cluster=own)
    assert dict(runner_.run(Logged(tmp_path / "calls.log"), tasks(1))) == {0: converted("f0.png")}
    assert client.status == "closed"
    assert own.status.name == "closed"
    assert runner_.cluster is None


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_usage_error_naming_it() -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    with pytest.raises(UsageError) as caught:
        lltd.cluster.dask_runner(address)
    assert str(caught.value) == (
        f"cannot reach the Dask scheduler at {address}: [Errno 111] Connection refused"
    )


def test_an_unreachable_tls_scheduler_is_probed_as_tcp_is() -> None:
    address = f"tls://127.0.0.1:{closed_port()}"
    with pytest.raises(UsageError) as caught:
        lltd.cluster.dask_runner(address)
    assert str(caught.value) == (
        f"cannot reach the Dask scheduler at {address}: [Errno 111] Connection refused"
    )


def test_a_silent_scheduler_is_given_up_on_after_the_probes_timeout() -> None:
    """A listener whose backlog is full takes no connection: the kernel drops the SYN, as for
    a firewalled address. The probe gives up (after PROBE_TIMEOUT, 5 s) instead of waiting for
    the kernel's own retries (minutes)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        with (
            socket.create_connection(silent.getsockname()),  # fills the backlog
            pytest.raises(UsageError) as caught,
        ):
            lltd.cluster.dask_runner(address)
    assert str(caught.value) == f"cannot reach the Dask scheduler at {address}: timed out"


def test_a_scheduler_address_gives_a_runner_that_owns_its_new_client(cluster: LocalCluster) -> None:
    tcp = LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    )
    with tcp:
        connected = lltd.cluster.dask_runner(tcp.scheduler_address, batch=5)
        try:
            assert connected.batch == 5 and connected.owns_client and connected.cluster is None
            assert connected.client.scheduler.address == tcp.scheduler_address
        finally:
            connected.close()
        assert connected.client.status == "closed"


def test_local_starts_one_single_threaded_worker_process_per_core() -> None:
    local = lltd.cluster.dask_runner("local", batch=4)
    try:
        workers = local.client.nthreads()
        assert sorted(workers.values()) == [1] * default_jobs()
        assert all(address.startswith("tcp://") for address in workers)  # processes, not threads
        assert local.batch == 4 and local.owns_client
        assert isinstance(local.cluster, LocalCluster)
        assert local.cluster.dashboard_link.split(":")[-1] != "8787/status"
    finally:
        cluster = local.cluster
        local.close()
    assert local.client.status == "closed" and cluster.status.name == "closed"


def test_local_with_jobs_starts_that_many_workers() -> None:
    local = runner.dask_runner("local", 1)
    try:
        assert list(local.client.nthreads().values()) == [1]
    finally:
        local.close()
