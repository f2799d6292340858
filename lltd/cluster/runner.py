"""A :class:`lltd.batch.engine.Runner` on a ``dask.distributed`` cluster.

Files go out in batches sized for the cluster; each batch's results stream back as it completes.
A worker that dies mid-batch costs a retry of that batch: dask reschedules it, and the retry
skips the files the first attempt finished, whose results it reads from a per-batch journal
in the scheduler's metadata. So every file is processed once and reported once, as in a local
run (outputs are written atomically, so the file that was in flight is complete or absent).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from lltd.batch.engine import Job, chunked, default_jobs, run_one
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import UsageError

#: Batches per worker thread: enough to balance uneven files, few enough to keep overhead low.
BATCHES_PER_THREAD = 4
#: The most files in one batch: bounds the work a dead worker costs and the wait for progress.
MAX_BATCH = 64
#: Retries of a batch whose task raised (transient storage errors); worker deaths are counted
#: separately by dask (``distributed.scheduler.allowed-failures``).
RETRIES = 2
#: Scheduler metadata under which each run keeps its batch journals while it runs.
JOURNAL = "lltd-journal"

Record = dict[str, Any]  # a FileResult's JSON record plus its "index" in the task list


def _record(index: int, result: FileResult) -> Record:
    # The journal travels through the scheduler as msgpack: plain values only.
    return {"index": index, **result.to_json()}


def _result(record: Record) -> tuple[int, FileResult]:
    fields = {key: value for key, value in record.items() if key != "index"}
    fields["outcome"] = Outcome(fields["outcome"])
    return record["index"], FileResult(**fields)


def run_journaled(job: Job, chunk: Sequence[tuple[int, Task]], journal: list[str]) -> list[Record]:
    """Run one batch on a worker, journaling each file's result before starting the next."""
    from distributed import get_client

    client = get_client()
    done: list[Record] = list(client.get_metadata(journal, default=None) or [])
    finished = {record["index"] for record in done}  # non-empty only when an earlier attempt died
    for index, task in chunk:
        if index in finished:
            continue
        done.append(_record(index, run_one(job, task)))
        client.set_metadata(journal, done)  # a round trip: it is on the scheduler when it returns
    return done


def batch_size(files: int, threads: int) -> int:
    return max(1, min(MAX_BATCH, files // (max(1, threads) * BATCHES_PER_THREAD)))


class DaskRunner:
    """Run jobs on the cluster behind ``client``.

    With ``owns_client`` (the CLI's runner) the client, and ``cluster`` if this runner started
    one, close after the run; tests pass a shared client and reuse it.
    """

    def __init__(
        self,
        client: Any,
        *,
        batch: int | None = None,
        owns_client: bool = False,
        cluster: Any = None,
    ) -> None:
        self.client = client
        self.batch = batch
        self.owns_client = owns_client
        self.cluster = cluster

    def run(self, job: Job, tasks: Sequence[Task]) -> Iterator[tuple[int, FileResult]]:
        from distributed import as_completed

        run_id = uuid.uuid4().hex[:12]
        batches: dict[Any, tuple[list[str], Sequence[tuple[int, Task]]]] = {}

        def submit(name: str, chunk: Sequence[tuple[int, Task]]) -> Any:
            journal = [JOURNAL, run_id, name]
            future = self.client.submit(
                run_journaled, job, chunk, journal, retries=RETRIES, pure=False,
                key=f"lltd-{run_id}-{name}",
            )  # fmt: skip
            batches[future] = (journal, chunk)
            return future

        try:
            indexed = list(enumerate(tasks))
            size = self.batch or batch_size(len(indexed), sum(self.client.nthreads().values()))
            pending = as_completed(
                [submit(f"batch-{n}", chunk) for n, chunk in enumerate(chunked(indexed, size))]
            )
            for future in pending:
                journal, chunk = batches.pop(future)
                try:
                    records = future.result()
                except Exception as exc:  # every attempt died or raised
                    records = list(self.client.get_metadata(journal, default=None) or [])
                    finished = {record["index"] for record in records}
                    rest = [item for item in chunk if item[0] not in finished]
                    if len(chunk) > 1:
                        # Retry the unfinished files one by one, so a file that kills every
                        # worker it touches fails alone rather than taking its batch along.
                        for index, task in rest:
                            pending.add(submit(f"file-{index}", [(index, task)]))
                    else:
                        records += [_failure(job, item, exc) for item in rest]
                future.release()
                self.client.set_metadata(journal, None)
                for record in records:
                    yield _result(record)
        finally:
            with contextlib.suppress(Exception):  # the cluster may be gone; nothing to keep then
                self.client.set_metadata([JOURNAL, run_id], None)
            if self.owns_client:
                self.close()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def _failure(job: Job, item: tuple[int, Task], exc: Exception) -> Record:
    index, task = item
    name = getattr(job, "input_name", lambda task: str(task.source))(task)
    reason = f"cluster error: {type(exc).__name__}: {exc}".splitlines()[0]
    return _record(index, FileResult(name, None, Outcome.FAILED, error=reason))


#: Seconds to wait for a TCP connection to the scheduler before saying it is unreachable.
PROBE_TIMEOUT = 5.0


def _probe(scheduler: str) -> None:
    """Fail fast on a refused or silent tcp/tls address: distributed's own client retries for
    ``distributed.comm.timeouts.connect`` (30 s) before it gives up."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(scheduler)
    if scheme in ("tcp", "tls"):
        with socket.create_connection(parse_host_port(location), timeout=PROBE_TIMEOUT):
            pass


def dask_runner(scheduler: str, jobs: int = 0, *, batch: int | None = None) -> DaskRunner:
    """Connect to the scheduler at ``scheduler``, or with ``"local"`` start a LocalCluster of
    ``jobs`` single-threaded worker processes (0: one per core)."""
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=jobs or default_jobs(),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
        )
        return DaskRunner(Client(cluster), batch=batch, owns_client=True, cluster=cluster)
    try:
        _probe(scheduler)
        client = Client(scheduler)  # waits distributed.comm.timeouts.connect (30 s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return DaskRunner(client, batch=batch, owns_client=True)
