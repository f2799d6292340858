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
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
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
from lltd.cluster import storage
from lltd.cluster.remote import REMOTE_OUT, plan_remote
from lltd.cluster.runner import DaskRunner
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.fs.atomic import TEMP_SUFFIX
from lltd.jobs.compress import CompressJob, plan_compress
from lltd.jobs.defend import DefendJob, plan_defend
from lltd.jobs.flip import FlipJob, plan_flip

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def processes():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def threads():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
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
    options = EncodeOptions(quality=60)
    return CompressJob(output_dir=out, options=options, ignore_transparency=True)  # type: ignore[arg-type]


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
    # The same files; reason files name the input as the user named it (a URL or a path).
    remote_tree, local_tree = tree_digests(tmp_path / "remote"), tree_digests(tmp_path / "local")
    assert remote_tree.keys() == local_tree.keys()
    assert {k: v for k, v in remote_tree.items() if not k.endswith(".error.txt")} == {
        k: v for k, v in local_tree.items() if not k.endswith(".error.txt")
    }
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


def test_cli_scheduler_local_starts_and_stops_its_own_cluster(corpus, tmp_path, run_lltd):
    local = run_lltd("flip", corpus, "-o", tmp_path / "local", "--json", tmp_path / "local.json")
    dask = run_lltd("flip", corpus, "-o", tmp_path / "dask", "--scheduler", "local", "-j", "2",
                    "--json", tmp_path / "dask.json", timeout=120)  # fmt: skip
    assert dask.returncode == local.returncode == 1, dask.stderr
    assert "Traceback" not in dask.stderr
    assert tree_digests(tmp_path / "dask") == tree_digests(tmp_path / "local")
    mine, theirs = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("dask", "local"))
    assert [(f["outcome"], f["bytes_after"]) for f in mine["files"]] == [
        (f["outcome"], f["bytes_after"]) for f in theirs["files"]
    ]


def test_unreachable_scheduler_is_a_one_line_usage_error(corpus, tmp_path, run_lltd):
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}  # dask's knob; default 30 s
    result = run_lltd(
        "flip", corpus, "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9", env=env
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "lltd: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("details", "mtime"),
    [
        ({"size": 5, "mtime": 1700000000.5}, 1700000000.5),  # local
        (
            {"size": 5, "LastModified": datetime(2024, 1, 2, tzinfo=UTC)},
            1704153600.0,
        ),  # s3
        ({"size": 5, "updated": "2024-01-02T00:00:00.000Z"}, 1704153600.0),  # gcs
        ({"size": 5, "created": 1704153600}, 1704153600.0),  # memory
        ({"size": 5}, None),
    ],
)
def test_storage_reads_each_backends_size_and_modification_time(details, mtime):
    assert storage._info(details) == storage.FileInfo(5, mtime)


def upload(local: Path, url: str) -> None:
    fs, root = fsspec.core.url_to_fs(url)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{root}/{path.relative_to(local).as_posix()}", path.read_bytes())


def memory_digests(url: str) -> dict[str, bytes]:
    """Every object, less the provenance records (a local folder keeps them as xattrs)."""
    fs, root = fsspec.core.url_to_fs(url)
    return {
        path[len(root) + 1 :]: fs.cat_file(path)
        for path in fs.find(root)
        if not path[len(root) + 1 :].startswith(".lltd/made/")
    }


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
    # The reason file names the input as the user did.
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


def test_memory_urls_on_worker_processes_fail_each_file_rather_than_lose_it(processes, corpus):
    """memory:// lives in one process: outputs written by worker processes would vanish."""
    base = "memory://lltd-test-private"
    upload(corpus, f"{base}/in")
    batch = plan_remote(f"{base}/in", DefendJob(output_dir=f"{base}/out"))  # type: ignore[arg-type]
    batch.quiet = True
    results, totals = execute(batch, DaskRunner(processes))
    assert totals.failed == totals.scanned == len(list(corpus.rglob("*.*")))
    assert all("memory:// storage is private to one process" in r.error for r in results)
    assert not fsspec.filesystem("memory").exists(f"{base}/out")


def test_clean_on_storage_empties_the_output_and_refuses_what_would_hurt(corpus):
    base = "memory://lltd-test-clean"
    upload(corpus, f"{base}/in")
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{base}/out/stale.webp", b"old")
    batch = plan_remote(f"{base}/in", compress_job(f"{base}/out"), clean=True)
    assert not fs.exists(f"{base}/out/stale.webp")
    local = plan_compress(corpus, compress_job(corpus.parent / "out"))  # the same files, in order
    assert [t.relative for t in batch.tasks] == [t.relative for t in local.tasks]
    assert [t.output.relative_to(REMOTE_OUT) for t in batch.tasks] == [
        t.output.relative_to(corpus.parent / "out") for t in local.tasks
    ]

    for output, why in ((base, "it is a whole bucket"), (f"{base}/in", "contains the input")):
        with pytest.raises(UsageError, match=why):
            plan_remote(f"{base}/in", compress_job(output), clean=True)
    with pytest.raises(UsageError, match="memory://nowhere/in does not exist"):
        plan_remote("memory://nowhere/in", compress_job(f"{base}/out"))
    assert fs.exists(f"{base}/in/astronaut.png")


def test_local_runs_import_neither_dask_nor_fsspec(corpus, tmp_path):
    code = (
        "import sys\n"
        "from lltd.cli import main\n"
        "try:\n"
        f"    main(['flip', {str(corpus)!r}, '-o', {str(tmp_path / 'out')!r}, '--quiet'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('dask', 'distributed', 'fsspec') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LLTD_SCHEDULER"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.stdout.strip() == "[]", result.stderr
    assert (tmp_path / "out" / "astronaut_f.png").exists()


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
    assert Counter(log.read_text().splitlines()) == Counter(
        t.relative.as_posix() for t in batch.tasks
    )
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


@pytest.mark.slow  # two worker restarts: about 10 s, more on a busy machine
def test_a_file_that_kills_every_worker_fails_alone(corpus, tmp_path):
    """With no retries allowed, the batch is lost at once; its finished files keep their
    results and the file that killed the worker fails with the reason, not the run."""
    import dask

    local, _ = run_local("flip", corpus, tmp_path / "local")
    planned = plan_flip(corpus, FlipJob(output_dir=tmp_path / "dask"))
    tasks, victim = planned.tasks[:4], planned.tasks[3]
    batch = BatchRun("flip", AlwaysDie(planned.job, victim.source.name), tasks, quiet=True)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        results, _ = execute(batch, DaskRunner(client, batch=4))

    assert [r.input for r in results] == [str(t.source) for t in tasks]
    assert [r.outcome for r in results] == [r.outcome for r in local[:3]] + [Outcome.FAILED]
    assert results[3].error.startswith("cluster error: KilledWorker")
    assert summary(results[:3], str(corpus), str(tmp_path / "dask")) == summary(
        local[:3], str(corpus), str(tmp_path / "local")
    )
