"""Scale-out on a real Dask ``LocalCluster``: the same outcomes and bytes as the local engine, over
local folders, ``file://`` and ``memory://`` URLs, and a worker that dies mid-run.

Two clusters: worker processes (2 workers) for local folders and ``file://``, where each worker
is its own process as on a real cluster; and in-process worker threads for ``memory://``, whose
store lives in one process's memory, so only threads share it (a process cluster would give
each worker a private, empty ``memory://``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import tree_digests

pytest.importorskip("distributed")
pytest.importorskip("fsspec")

import fsspec
from distributed import Client, LocalCluster

from lltd.batch.engine import Job, SerialRunner
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun, execute
from lltd.batch.scan import Task
from lltd.cluster.remote import plan_remote
from lltd.cluster.runner import DaskRunner
from lltd.codecs import EncodeOptions
from lltd.imageio import TEMP_SUFFIX
from lltd.jobs.compress import CompressJob, plan_compress
from lltd.jobs.defend import DefendJob, plan_defend
from lltd.jobs.flip import FlipJob, plan_flip

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def processes():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def threads():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def corpus(sample_dir: Path) -> Path:
    """The sample images (RGBA, grayscale, JPEG, a subfolder, odd names) plus a corrupt file."""
    (sample_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return sample_dir


def compress_job(out: Path | str) -> CompressJob:
    return CompressJob(output_dir=out, options=EncodeOptions(quality=60), ignore_transparency=True)  # type: ignore[arg-type]


PLANS = {
    "compress": (compress_job, plan_compress),
    "flip": (lambda out: FlipJob(output_dir=out), plan_flip),
    "defend": (lambda out: DefendJob(output_dir=out), plan_defend),
}


def summary(results: list[FileResult], source: str, out: str) -> list[tuple]:
    """What must match between runs: each file's names (below its roots), outcome and sizes."""

    def rel(name: str | None) -> str | None:
        return None if name is None else name.replace(out, "OUT").replace(source, "IN")

    return [
        (rel(r.input), rel(r.output), r.outcome.value, r.bytes_before, r.bytes_after, rel(r.error))
        for r in results
    ]


def run_local(command: str, source: Path, out: Path):
    make_job, planner = PLANS[command]
    batch = planner(source, make_job(out))
    batch.quiet = True
    return execute(batch, SerialRunner())


@pytest.mark.parametrize("command", ["compress", "flip", "defend"])
def test_process_cluster_matches_local_engine_on_local_folders(
    processes, corpus, tmp_path, command
):
    local, _ = run_local(command, corpus, tmp_path / "local")
    make_job, planner = PLANS[command]
    batch = planner(corpus, make_job(tmp_path / "dask"))
    batch.quiet = True
    results, totals = execute(batch, DaskRunner(processes, batch=3))

    outcomes = {r.outcome for r in results}
    assert Outcome.FAILED in outcomes and Outcome.CONVERTED in outcomes
    if command == "compress":
        assert Outcome.TRANSPARENCY in outcomes
    assert summary(results, str(corpus), str(tmp_path / "dask")) == summary(
        local, str(corpus), str(tmp_path / "local")
    )
    assert tree_digests(tmp_path / "dask") == tree_digests(tmp_path / "local")
    assert totals.scanned == len(local) == len(set(r.input for r in results))


def test_cli_on_a_scheduler_address_and_file_urls_matches_a_local_run(
    processes, corpus, tmp_path, run_lltd
):
    address = processes.scheduler.address
    local = run_lltd(
        "compress", corpus, "-q", "60", "-o", tmp_path / "local", "--json", tmp_path / "local.json"
    )
    remote = run_lltd(
        "compress",
        f"file://{corpus}",
        "-q",
        "60",
        "-o",
        f"file://{tmp_path}/remote",
        "--scheduler",
        address,
        "--json",
        tmp_path / "remote.json",
    )
    assert local.returncode == remote.returncode == 1, remote.stderr  # the corrupt file
    assert "Traceback" not in remote.stderr
    assert f"lltd: failed: file://{corpus}/broken.png" in remote.stderr
    assert tree_digests(tmp_path / "remote") == tree_digests(tmp_path / "local")
    mine, theirs = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("remote", "local"))
    assert [f["outcome"] for f in mine["files"]] == [f["outcome"] for f in theirs["files"]]
    assert mine["files"][0]["input"].startswith("file://")
    assert {k: v for k, v in mine["totals"].items() if k != "seconds"} == {
        k: v for k, v in theirs["totals"].items() if k != "seconds"
    }

    # LLTD_SCHEDULER does the same as --scheduler; a second run finds everything done.
    again = run_lltd(
        "compress",
        corpus,
        "-q",
        "60",
        "-o",
        tmp_path / "remote",
        "--json",
        tmp_path / "again.json",
        env={"LLTD_SCHEDULER": address},
    )
    assert again.returncode == 1, again.stderr
    totals = json.loads((tmp_path / "again.json").read_text())["totals"]
    assert totals["already_converted"] == theirs["totals"]["converted"] > 0


def test_unreachable_scheduler_is_a_one_line_usage_error(corpus, tmp_path, run_lltd):
    result = run_lltd("flip", corpus, "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "lltd: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert not (tmp_path / "out").exists()


def upload(local: Path, url: str) -> None:
    fs, root = fsspec.core.url_to_fs(url)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())


def memory_digests(url: str) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url)
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


@pytest.mark.parametrize("command", ["compress", "defend"])
def test_memory_urls_on_a_cluster_match_local_folders(threads, corpus, tmp_path, command):
    base = f"memory://lltd-test-{command}"
    upload(corpus, f"{base}/in")
    local, _ = run_local(command, corpus, tmp_path / "local")
    make_job, _ = PLANS[command]

    batch = plan_remote(f"{base}/in", make_job(f"{base}/out"))
    batch.quiet = True
    results, _ = execute(batch, DaskRunner(threads, batch=2))

    assert summary(results, f"{base}/in", f"{base}/out") == summary(
        local, str(corpus), str(tmp_path / "local")
    )
    written = memory_digests(f"{base}/out")
    expected = {
        name: (tmp_path / "local" / name).read_bytes() for name in tree_digests(tmp_path / "local")
    }
    if command == "defend":  # the reason file names the input as the user did
        name = "failed/broken.png.error.txt"
        assert written[name].startswith(f"{base}/in/broken.png: ".encode())
        del written[name], expected[name]
    assert written == expected
    assert not any(TEMP_SUFFIX in name for name in written)

    # Idempotent: a rerun reuses every output and writes nothing new.
    rerun = plan_remote(f"{base}/in", make_job(f"{base}/out"))
    rerun.quiet = True
    again, _ = execute(rerun, DaskRunner(threads, batch=2))
    converted = [r.input for r in results if r.outcome is Outcome.CONVERTED]
    assert converted and converted == [r.input for r in again if r.outcome is Outcome.ALREADY_DONE]


def test_memory_flip_beside_inputs_and_compress_replace_in_place(threads, corpus, tmp_path):
    """Outputs that go back into the input storage: flip without -o, then compress --r, which
    deletes each original once its WebP is in place."""
    base = "memory://lltd-test-beside/in"
    upload(corpus, base)
    local = tmp_path / "local"
    shutil.copytree(corpus, local)
    replace = CompressJob(
        output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True
    )

    for batch in (plan_flip(local, FlipJob()), plan_compress(local, replace)):
        batch.quiet = True
        execute(batch, SerialRunner())
    for batch in (plan_remote(base, FlipJob()), plan_remote(base, replace)):
        batch.quiet = True
        execute(batch, DaskRunner(threads, batch=2))

    written = memory_digests(base)
    assert written == {name: (local / name).read_bytes() for name in tree_digests(local)}
    assert {"astronaut_f.png", "astronaut.webp"} <= written.keys()
    assert "astronaut.png" not in written


@dataclass(frozen=True)
class DieOnce:
    """Kills its worker process the first time it reaches ``victim``; logs every file it runs."""

    job: Job
    victim: str
    marker: Path
    log: Path

    def __call__(self, task: Task) -> FileResult:
        if task.source.name == self.victim and not self.marker.exists():
            self.marker.touch()
            os._exit(1)  # as an OOM kill or a lost machine would: no cleanup, no reply
        result = self.job(task)
        with open(self.log, "a") as handle:
            handle.write(f"{task.relative.as_posix()}\n")
        return result


def test_a_worker_killed_mid_batch_costs_a_retry_and_every_file_runs_once(
    processes, corpus, tmp_path
):
    local, _ = run_local("defend", corpus, tmp_path / "local")
    batch = plan_defend(corpus, DefendJob(output_dir=tmp_path / "dask"))
    # The third file of the first batch of four: two files are done when its worker dies.
    victim = batch.tasks[2].source.name
    log, marker = tmp_path / "processed.log", tmp_path / "died"
    batch = BatchRun("defend", DieOnce(batch.job, victim, marker, log), batch.tasks, quiet=True)

    results, _ = execute(batch, DaskRunner(processes, batch=4))

    assert marker.exists()  # a worker really died mid-batch
    assert Counter(log.read_text().split()) == Counter(t.relative.as_posix() for t in batch.tasks)
    # Not "already converted": the retry took the first attempt's results from the journal.
    assert summary(results, str(corpus), str(tmp_path / "dask")) == summary(
        local, str(corpus), str(tmp_path / "local")
    )
    assert tree_digests(tmp_path / "dask") == tree_digests(tmp_path / "local")
    assert not list((tmp_path / "dask").rglob(f"*{TEMP_SUFFIX}"))


@dataclass(frozen=True)
class AlwaysDie:
    job: Job
    victim: str

    def __call__(self, task: Task) -> FileResult:
        if task.source.name == self.victim:
            os._exit(1)
        return self.job(task)


def test_a_file_that_kills_every_worker_fails_alone(corpus, tmp_path):
    """With no retries allowed, the batch is lost at once; its finished files keep their
    results and the file that killed the worker fails with the reason, not the run."""
    import dask

    local, _ = run_local("flip", corpus, tmp_path / "local")
    planned = plan_flip(corpus, FlipJob(output_dir=tmp_path / "dask"))
    tasks, victim = planned.tasks[:4], planned.tasks[3]
    batch = BatchRun("flip", AlwaysDie(planned.job, victim.source.name), tasks, quiet=True)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None)
    with cluster, Client(cluster) as client:
        results, _ = execute(batch, DaskRunner(client, batch=4))

    assert [r.input for r in results] == [str(t.source) for t in tasks]
    assert [r.outcome for r in results] == [r.outcome for r in local[:3]] + [Outcome.FAILED]
    assert results[3].error.startswith("cluster error: KilledWorker")
    assert summary(results[:3], str(corpus), str(tmp_path / "dask")) == summary(
        local[:3], str(corpus), str(tmp_path / "local")
    )
