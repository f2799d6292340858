"""Capacity of ``lltd watch`` (issue 16): how many workers a target rate needs.

* Files per second per core by image size (0.1, 1 and 12 MP): the CPU time (``process_time``)
  of the daemon's per-file work (:func:`lltd.watch.worker.process`: decode, defend with the
  defaults, write the PNG, fsync, move the input to done/), in this one process, per file.
  files/s/core = 1 / CPU s per file. Measured.
* Speed-up from 1 to 2 Dask workers: ``lltd watch --scheduler`` with a real ``dask scheduler``
  and 1, then 2, single-threaded ``dask worker`` processes on loopback; a batch of 0.1 MP files
  is renamed into IN and timed until the last input reached done/. Measured, rounds interleaved.
* Workers for a target rate: ceil(rate / files/s/core) for each size. Arithmetic from the first
  figure: it assumes perfect scaling, which the second figure checks for two workers only.

Images: scikit-image's astronaut photograph, resized and with sensor-like noise, so the WebP
encoder sees natural content. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from timing import cores, fresh_dir, machine_note, table

SIZES = {"0.1 MP": (366, 274), "1 MP": (1155, 866), "12 MP": (4000, 3000)}
COUNTS = {"0.1 MP": 40, "1 MP": 10, "12 MP": 3}
RATES = (10, 100, 1000)  # target files/s for the arithmetic table


def make_images(folder: Path, size: tuple[int, int], count: int, seed: int) -> list[Path]:
    from skimage import data

    base = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        noisy = np.asarray(base, dtype=np.int16) + rng.normal(0, 3, (size[1], size[0], 3))
        path = folder / f"img{seed}-{i:04}.png"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(path, compress_level=1)
        paths.append(path)
    return paths


def cpu_per_file(files: list[Path], work: Path) -> float:
    """CPU seconds of the daemon's per-file work, median over the files."""
    from lltd.batch.scan import Task
    from lltd.watch.actions import make_job
    from lltd.watch.config import FolderConfig
    from lltd.watch.worker import WorkItem, process

    inp, out = work / "in", work / "out"
    inp.mkdir(parents=True)
    (inp / ".lltd").mkdir()
    job = make_job(FolderConfig(inp, out), out)
    times = []
    for path in files:
        source = inp / path.name
        os.link(path, source)
        item = WorkItem(job, Task(source, Path(path.name)), "move", inp / ".lltd", out / "failed")
        start = time.process_time()
        processed = process(item)
        times.append(time.process_time() - start)
        assert processed.result.output, processed.result.error
    return float(np.median(times))


class Cluster:
    def __init__(self, work: Path, workers: int) -> None:
        self.file = work / "scheduler.json"
        self.log = (work / "dask.log").open("w")
        python = sys.executable
        self.procs = [
            subprocess.Popen(
                [python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", "0", "--no-dashboard", "--scheduler-file", str(self.file)],
                stdout=self.log, stderr=self.log,
            )
        ]  # fmt: skip
        while not (self.file.exists() and self.file.read_text().strip().endswith("}")):
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        for _ in range(workers):
            self.procs.append(
                subprocess.Popen(
                    [python, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                     str(self.file), "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--host", "127.0.0.1"],
                    stdout=self.log, stderr=self.log,
                )
            )  # fmt: skip
        from distributed import Client

        with Client(self.address) as client:
            client.wait_for_workers(workers, timeout=120)

    def stop(self) -> None:
        for proc in reversed(self.procs):  # workers first, the scheduler last
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.log.close()


def dask_run(files: list[Path], workers: int, work: Path) -> float:
    """Seconds from the renames into IN to the last input in done/ (a warm daemon)."""
    inp, out, staging = work / "in", work / "out", work / "staging"
    for folder in (inp, staging):
        folder.mkdir(parents=True)
    cluster = Cluster(work, workers)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "lltd", "watch", str(inp), "-o", str(out), "--scheduler",
         cluster.address, "-j", str(workers), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    try:
        assert daemon.stdout is not None
        daemon.stdout.readline()  # "watching ...": ready
        for path in files:
            os.link(path, staging / path.name)
        done = inp / ".lltd" / "done"
        start = time.perf_counter()
        for path in files:
            os.rename(staging / path.name, inp / path.name)
        while len(list(done.glob("*.png")) if done.exists() else []) < len(files):
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        daemon.terminate()
        daemon.wait(60)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dask-files", type=int, default=60)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    root = fresh_dir("watch-capacity")
    print(f"# lltd watch capacity ({machine_note()})\n")
    rows, per_core = [], {}
    for index, (label, size) in enumerate(SIZES.items()):
        files = make_images(root / "images" / label.replace(" ", ""), size, COUNTS[label], index)
        cpu = cpu_per_file(files, root / f"cpu-{index}")
        per_core[label] = 1 / cpu
        pixels = f"{size[0]}x{size[1]}"
        rows.append([label, pixels, len(files), f"{cpu * 1000:.0f}", f"{1 / cpu:.2f}"])
    print("Measured: CPU per file of the daemon's per-file work (median), one process.\n")
    print(table(["size", "pixels", "files", "CPU ms/file", "files/s/core"], rows))

    print("\nArithmetic: workers (cores) for a target rate = ceil(rate / files/s/core).\n")
    arith = [[label, *(math.ceil(rate / per_core[label]) for rate in RATES)] for label in SIZES]
    print(table(["size", *(f"{rate} files/s" for rate in RATES)], arith))

    if args.no_dask:
        return
    files = make_images(root / "images" / "dask", SIZES["0.1 MP"], args.dask_files, 99)
    seconds: dict[int, list[float]] = {1: [], 2: []}
    for round_index in range(args.rounds):
        for workers in (1, 2):
            work = root / f"dask-{workers}-{round_index}"
            seconds[workers].append(dask_run(files, workers, work))
    one, two = (float(np.median(seconds[w])) for w in (1, 2))
    print(f"\nMeasured: {len(files)} files of 0.1 MP through lltd watch --scheduler "
          f"(median of {args.rounds} round(s), {cores()} cores here).\n")  # fmt: skip
    print(table(
        ["dask workers", "seconds", "files/s", "speed-up"],
        [[1, f"{one:.2f}", f"{len(files) / one:.1f}", "1.00"],
         [2, f"{two:.2f}", f"{len(files) / two:.1f}", f"{one / two:.2f}"]],
    ))  # fmt: skip


if __name__ == "__main__":
    main()
