"""Timing helpers shared by the benchmarks: interleaved repeats, CPU accounting, tables.

The machines these run on are noisy (other jobs share the cores), so every variant runs once
per round, rounds are interleaved (a burst of background load hits all variants alike), and we
report the median and the best of the rounds. Child CPU time (user + sys, from ``getrusage``)
is reported too: unlike wall time it barely moves when other processes steal the cores.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def lltd_argv() -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else -m lltd."""
    script = Path(sys.executable).parent / "lltd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lltd"]


def cwebp_binary() -> str:
    found = os.environ.get("LLTD_CWEBP") or shutil.which("cwebp")
    if not found:
        raise SystemExit("bench: cwebp is not on PATH (apt-get install webp)")
    return found


@dataclass
class Sample:
    wall: float
    cpu: float  # user + sys of the measured work (children for subprocesses)


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(s.wall for s in self.samples)

    @property
    def median(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)


Variant = Callable[[], Sample]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(argv: Sequence[str], check: bool = True) -> Sample:
    """Run a command (output discarded) and return its wall and CPU time, descendants included."""
    cpu0, start = children_cpu(), time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
    if check and result.returncode != 0:
        raise SystemExit(f"bench: {argv[0]} failed ({result.returncode}): {result.stderr[-500:]!r}")
    return Sample(wall, cpu)


def self_timed(work: Callable[[], object]) -> Sample:
    """Time in-process work: wall clock and this process's CPU (``time.process_time``)."""
    cpu0, start = time.process_time(), time.perf_counter()
    work()
    return Sample(time.perf_counter() - start, time.process_time() - cpu0)


def interleave(variants: dict[str, Variant], rounds: int, warmup: int = 1) -> dict[str, Series]:
    """Run every variant once per round, ``warmup`` unrecorded rounds first (page cache, pyc).

    Dirty data is written back (``sync``) before each run, untimed: otherwise the kernel writes
    back an earlier run's files (ext4 allocates their blocks only then) on these same cores
    during a later run, which pays for them in wall time while the CPU-time limit does not.
    lltd's ``compress`` over 1,000 files, median over best of 11 rounds: 1.056 in a run without
    it, 1.014 in the next run with it."""
    series = {name: Series(name) for name in variants}
    for round_index in range(warmup + rounds):
        for name, variant in variants.items():
            os.sync()
            sample = variant()
            if round_index >= warmup:
                series[name].samples.append(sample)
    return series


def warm_pool_limit(work: Callable[[Path], object], files: Sequence[Path], jobs: int) -> Variant:
    """The same per-file work mapped over a pool of ``jobs`` already-started processes (fork).

    Unlike a CPU-time limit divided by the cores, this is measured wall time: what the machine's
    cores really give in parallel (shared caches, SMT siblings, noisy neighbours) with no
    interpreter start-up, scanning or file writes. ``work`` must be a module-level function.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(jobs, mp_context=context)
    _POOLS.append(pool)
    list(pool.map(_noop, range(jobs * 4)))  # start every worker outside the timing
    chunk = max(1, len(files) // (jobs * 8))

    def run() -> Sample:
        start = time.perf_counter()
        list(pool.map(work, files, chunksize=chunk))
        return Sample(time.perf_counter() - start, 0.0)

    return run


def _noop(value: int) -> int:
    return value


# Warm pools stay referenced until shut down: an executor collected while its manager thread
# runs makes CPython's exit hook write to a closed pipe (EBADF noise at exit).
_POOLS: list[ProcessPoolExecutor] = []


def shutdown_pools() -> None:
    """Stop the workers of every warm pool (call when the variants are done)."""
    while _POOLS:
        _POOLS.pop().shutdown()


def compile_lltd() -> None:
    """Write lltd's bytecode caches: an installed package has them (pip compiles on install),
    while a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` and no ``__pycache__`` would compile
    every module on every call and time that instead."""
    import compileall

    compileall.compile_dir(BENCH.parent / "lltd", quiet=1)


def machine_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cores()} usable cores, load average {load} at start "
        f"(Python {sys.version.split()[0]}, {sys.platform})"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def fresh_dir(name: str) -> Path:
    """An empty scratch folder under bench/out/runs/<pid>/ (removed when this process exits).

    Per-process, so two benchmarks running at once never delete each other's outputs.
    """
    path = _scratch_root() / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_dir(name: str) -> Path:
    """A new, empty folder for one timed run (``name-1``, ``name-2``...) under
    bench/out/runs/<pid>/, removed when this process exits and never in between.

    Why not empty one folder before each run: ext4 without a journal (this development VM's
    root file system) does not reuse an inode for 60 s after it is freed (5 min while its inode
    table block is dirty) and checks each recently freed one (``recently_deleted()``) as it
    allocates a new one. A run whose folder was emptied just before pays for those deletions:
    ``compress -j 2`` over 1,000 images took 0.48-0.54 s of system CPU right after ``rm -rf`` of
    the previous run's output against 0.24-0.26 s in a new folder, perf finding the difference
    in ``recently_deleted``, ``find_inode_bit`` and the buffer lookups they make. A user's output
    folder is not, as a rule, the site of a thousand deletions a second earlier. The same holds
    for anything else deleted on the disk: leave 5 minutes between removing many files (this
    script's own folders at exit, a test run's) and starting a benchmark.
    """
    root = _scratch_root()
    for count in itertools.count(1):
        path = root / f"{name}-{count}"
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")


@functools.cache
def _scratch_root() -> Path:
    root = OUT / "runs" / str(os.getpid())
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root
