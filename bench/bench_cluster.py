"""Cost of running ``lltd defend`` on a Dask cluster instead of the local process pool.

One machine, one corpus (the 200 images of 299x299), side by side and interleaved:

* local engine: ``ProcessRunner`` with one process per core (what ``lltd defend -j N`` runs);
* Dask, local paths: a ``LocalCluster`` of N single-threaded worker processes, started once and
  reused, running the same job in batches (``--scheduler ADDRESS`` on an existing cluster);
* Dask, ``file://`` URLs: the same cluster through the storage layer (each file fetched to a
  worker temp folder, the job run there, the outputs published): the object-storage path;
* local engine, ``file://`` URLs: the storage layer without the cluster, to separate the two.

Each variant plans and runs in this process (the scan included) with a fresh output folder. The
one-off costs a cold run also pays are timed separately: starting the LocalCluster (what
``--scheduler local`` adds), and the CLI end to end with ``-j N`` and with ``--scheduler local``.
Expect overhead on one machine: a cluster buys machines, not speed per core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from corpus import build_corpus, describe
from timing import (
    Sample,
    Variant,
    cores,
    fresh_dir,
    interleave,
    lltd_argv,
    machine_note,
    run_timed,
    self_timed,
    table,
)

from lltd.batch.engine import ProcessRunner, Runner
from lltd.batch.pipeline import execute
from lltd.jobs.defend import DefendJob, plan_defend


def variant(folder: Path, runner: Runner, tag: str, *, url: bool) -> Variant:
    from lltd.cluster.remote import plan_remote

    def run() -> Sample:
        out = fresh_dir(f"cluster-{tag}")
        if url:
            batch = plan_remote(f"file://{folder}", DefendJob(output_dir=f"file://{out}"))  # type: ignore[arg-type]
        else:
            batch = plan_defend(folder, DefendJob(output_dir=out))
        batch.quiet = True
        sample = self_timed(lambda: execute(batch, runner))
        produced = sum(1 for _ in out.rglob("*.png"))
        if produced != len(batch.tasks) or (out / "failed").exists():
            raise SystemExit(f"bench: {tag}: {produced} outputs for {len(batch.tasks)} inputs")
        return sample

    return run


def cli(folder: Path, tag: str, *extra: str) -> Sample:
    out = fresh_dir(f"cluster-cli-{tag}")
    return run_timed([*lltd_argv(), "defend", str(folder), "-o", str(out), "--quiet", *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="recorded rounds per variant")
    parser.add_argument("--jobs", type=int, default=cores(), help="processes / workers")
    args = parser.parse_args()
    corpus = build_corpus()
    folder, n, jobs = corpus.small, len(corpus.files("small")), args.jobs
    print(f"# bench_cluster\n\n{machine_note()}; {jobs} processes or workers; {args.rounds} "
          f"rounds after 1 warm-up round\n{describe(corpus)}\n")  # fmt: skip

    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = Client(cluster)
    client.wait_for_workers(jobs)
    startup = time.perf_counter() - started

    from lltd.cluster.runner import DaskRunner

    local, dask = ProcessRunner(jobs), DaskRunner(client)
    variants = {
        "local engine, paths": variant(folder, local, "local", url=False),
        "dask, paths": variant(folder, dask, "dask", url=False),
        "dask, file:// URLs": variant(folder, dask, "dask-url", url=True),
        "local engine, file:// URLs": variant(folder, local, "local-url", url=True),
    }
    try:
        series = interleave(variants, args.rounds)
    finally:
        client.close()
        cluster.close()
    base = series["local engine, paths"]
    rows = [
        [name, s.median, s.best, n / s.median, s.median / base.median] for name, s in series.items()
    ]
    print("### lltd defend -q 60, 299x299 corpus, cluster already running\n")
    print(table(["variant", "median s", "best s", "images/s", "time / local engine"], rows))

    cold = {
        "CLI -j N": cli(folder, "local", "-j", str(jobs)),
        "CLI --scheduler local": cli(folder, "dask", "--scheduler", "local", "-j", str(jobs)),
    }
    dask_paths = series["dask, paths"]
    print(
        f"\nOverhead ratio (dask / local engine, medians): paths "
        f"{dask_paths.median / base.median:.2f}x, file:// URLs "
        f"{series['dask, file:// URLs'].median / base.median:.2f}x; "
        f"{(dask_paths.median - base.median) / n * 1e3:+.1f} ms per image for the cluster.\n"
        f"One-off: LocalCluster of {jobs} workers started in {startup:.2f} s. Cold CLI, one run "
        f"each: -j {jobs} {cold['CLI -j N'].wall:.2f} s, --scheduler local "
        f"{cold['CLI --scheduler local'].wall:.2f} s (cluster start and stop included)."
    )


if __name__ == "__main__":
    main()
