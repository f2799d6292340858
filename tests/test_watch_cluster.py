"""``lltd watch --scheduler``: the files run on a real Dask cluster (``dask scheduler`` and
``dask worker`` processes on loopback, started and stopped by PID), and a worker or a daemon
SIGKILLed during a burst costs a rerun, never a lost or a duplicated file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_watch_daemon import Watch, png_bytes
from test_watch_shared import check_exactly_once, done_files
from waiting import wait_until

pytest.importorskip("distributed")
pytestmark = pytest.mark.dask


class Cluster:
    """A scheduler on 127.0.0.1 (a free port, read from its scheduler file) and workers."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.file = tmp / "scheduler.json"
        self.log = (tmp / "dask.log").open("w")
        self.scheduler = self._start(
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
            "--no-dashboard", "--scheduler-file", str(self.file),
        )  # fmt: skip
        wait_until(self.file.exists, 60, "the scheduler file")
        wait_until(lambda: self.file.read_text().strip().endswith("}"), 60, "its contents")
        self.address = json.loads(self.file.read_text())["address"]
        self.workers: list[subprocess.Popen[bytes]] = []

    def _start(self, module: str, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], stdout=self.log, stderr=self.log, cwd=self.tmp
        )

    def add_worker(self) -> subprocess.Popen[bytes]:
        worker = self._start(
            "distributed.cli.dask_worker", "--scheduler-file", str(self.file), "--nthreads", "1",
            "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def wait_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(count, timeout=60)

    def busy(self, worker: subprocess.Popen[bytes]) -> bool:
        """The scheduler has given this worker a file that it has not finished."""
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            pids = client.run(os.getpid)  # worker address -> its process id
            address = next((a for a, pid in pids.items() if pid == worker.pid), None)
            return address is not None and bool(client.processing().get(address))

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.log.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def burst(inp: Path, staging: Path, count: int, size: int) -> dict[str, bytes]:
    staging.mkdir(exist_ok=True)
    inputs = {f"c{i:03}.png": png_bytes(i, size) for i in range(count)}
    for name, data in inputs.items():
        (staging / name).write_bytes(data)
    for name in inputs:
        os.rename(staging / name, inp / name)
    return inputs


def test_a_worker_killed_mid_file_loses_and_duplicates_nothing(
    tmp_path: Path, cluster: Cluster
) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    victim, _other = cluster.add_worker(), cluster.add_worker()
    cluster.wait_workers(2)
    watch = Watch(tmp_path, inp, "-o", out, "--scheduler", cluster.address, "-j", "2")
    try:
        watch.wait_ready()
        inputs = burst(inp, tmp_path / "staging", 16, 400)
        wait_until(lambda: len(done_files(inp)) >= 2, 120, "the first files")
        wait_until(lambda: cluster.busy(victim), 60, "the victim on a file")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: len(done_files(inp)) == len(inputs), 180, "every file")
    finally:
        assert watch.stop() == 0, watch.stderr
    check_exactly_once(inp, out, inputs)
    assert "stopped: processed 16, failed 0" in watch.stdout


def test_chaos_shared_daemons_on_a_cluster_lose_a_daemon_and_a_worker(
    tmp_path: Path, cluster: Cluster
) -> None:
    """Two --shared daemons on one folder, both on one cluster: SIGKILL one daemon and one
    worker mid-burst; every input still ends with exactly one output."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    worker, _other = cluster.add_worker(), cluster.add_worker()
    cluster.wait_workers(2)
    args = (inp, "-o", out, "--scheduler", cluster.address, "-j", "2", "--shared",
            "--claim-timeout", "2")  # fmt: skip
    doomed, survivor = Watch(tmp_path, *args), Watch(tmp_path, *args)
    try:
        doomed.wait_ready()
        survivor.wait_ready()
        inputs = burst(inp, tmp_path / "staging", 24, 400)
        wait_until(lambda: "converted:" in doomed.stdout, 120, "the doomed daemon at work")
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(10)
        wait_until(lambda: cluster.busy(worker), 60, "the worker on a file")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        wait_until(lambda: len(done_files(inp)) == len(inputs), 180, "every file")
    finally:
        assert survivor.stop() == 0, survivor.stderr
        doomed.kill()
    check_exactly_once(inp, out, inputs)


def test_an_unreachable_scheduler_fails_the_start_in_one_line(tmp_path: Path, run_lltd) -> None:
    (tmp_path / "in").mkdir()
    result = run_lltd(
        "watch", tmp_path / "in", "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9"
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("lltd: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in result.stderr
