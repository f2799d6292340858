"""The contracts of lltd/watch/cluster.py (issue 27), in-process on a Dask ``LocalCluster`` of
threads: the daemon's executor on a scheduler address (an unreachable one is one line), each
submission new work (no cached result for a file submitted again), the default client left alone,
done futures not kept, and shutdown in the pool's two steps (``wait=False`` keeps the client for
the files in flight; ``wait=True`` cancels what is left and disconnects).

Expected values are literals: a changed message or a lost step must fail here."""

from __future__ import annotations

import operator
import threading

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster
from distributed.client import _get_global_client

from lltd.common.errors import LltdError
from lltd.watch.cluster import DaskExecutor

pytestmark = pytest.mark.dask

#: Holds :func:`held` on the worker (a thread of this process) until the test lets it go.
RELEASE = threading.Event()


CALLS: list[int] = []


def counted(value: int) -> int:
    CALLS.append(value)
    return value


def held(value: int) -> int:
    RELEASE.wait(120)
    return value


@pytest.fixture(scope="module")
def address():
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
    )
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture
def executor(address: str):
    RELEASE.clear()
    made = DaskExecutor(address)
    yield made
    RELEASE.set()
    made.shutdown(wait=True)


def test_an_unreachable_scheduler_is_one_line() -> None:
    with pytest.raises(LltdError) as refused:
        DaskExecutor("tcp://127.0.0.1:9")
    assert str(refused.value) == (
        "cannot reach the Dask scheduler at tcp://127.0.0.1:9: [Errno 111] Connection refused"
    )


def test_the_executor_leaves_the_default_client_alone(executor: DaskExecutor) -> None:
    assert executor.client.status == "running"
    assert _get_global_client() is not executor.client


def test_a_submission_again_is_new_work_not_a_cached_result(executor: DaskExecutor) -> None:
    CALLS.clear()
    first = executor.submit(counted, 4)
    again = executor.submit(counted, 4)
    assert (first.result(timeout=120), again.result(timeout=120)) == (4, 4)
    assert CALLS == [4, 4]  # pure=True would have run it once and shared the result


def test_done_futures_are_not_kept(executor: DaskExecutor) -> None:
    done = executor.submit(operator.add, 1, 2)
    assert done.result(timeout=120) == 3
    running = executor.submit(held, 7)
    assert executor._futures == [running]
    RELEASE.set()
    assert running.result(timeout=120) == 7


def test_shutdown_without_wait_keeps_the_files_in_flight(executor: DaskExecutor) -> None:
    running = executor.submit(held, 5)
    executor.shutdown(wait=False)
    assert executor.client.status == "running"
    RELEASE.set()
    assert running.result(timeout=120) == 5


def test_shutdown_cancels_what_is_left_and_disconnects(executor: DaskExecutor) -> None:
    running = executor.submit(held, 5)
    stopper = threading.Thread(target=executor.shutdown)  # wait=True by default
    stopper.start()
    stopper.join(120)  # never waits for the held file: it is cancelled
    finished = not stopper.is_alive()
    RELEASE.set()
    stopper.join(120)
    assert finished
    assert executor.client.status == "closed"
    assert running.cancelled()


def test_a_client_of_its_own_per_executor(address: str) -> None:
    with Client(address, set_as_default=False) as other:
        made = DaskExecutor(address)
        try:
            assert made.client is not other and made.client.scheduler.address == address
        finally:
            made.shutdown()
