"""Speed of ``lltd compress -q 60`` against webp-converter's way and against libwebp itself.

Side by side, interleaved, on both corpora (200 images of 299x299 and 4 of ~3 MP):

* ``lltd compress -q 60`` (the real CLI, a subprocess, a fresh output folder every run) with
  ``--backend pillow|cwebp`` and ``-j 1`` / ``-j <cores>``;
* the sequential cwebp loop webp-converter runs: one ``cwebp -q 60 IN -o OUT`` per file;
* the libwebp limit: the CPU time (``time.process_time``) one process spends decoding each image
  (Pillow open + load) and encoding it (Pillow WebP, q 60, m 4), divided by the cores.

Targets (issues 2 and 15): lltd's best >= 2.2x the cwebp loop on the 299x299 corpus, and >= 0.85
of the libwebp limit at 200 files, >= 0.92 at 1,000. ``--targets-only`` measures both sizes in
one run (``--images 200 --images 1000``, each size's variants interleaved round by round);
``--images N`` (repeatable) picks the 299x299 corpus sizes. The pillow backend runs with
processes and with threads (``LLTD_POOL``), side by side. Start-up time is measured by
``bench_startup.py``; one ``lltd cwebp`` call by ``bench_cwebp_call.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from corpus import build_corpus, describe
from PIL import Image
from timing import (
    OUT,
    Sample,
    Series,
    Variant,
    children_cpu,
    compile_lltd,
    cores,
    cwebp_binary,
    fresh_dir,
    interleave,
    lltd_argv,
    machine_note,
    run_dir,
    run_timed,
    shutdown_pools,
    table,
    warm_pool_limit,
)

QUALITY = 60
FIXED = "fixed cost: lltd -j N, empty folder"


def lltd_compress(
    folder: Path,
    backend: str,
    jobs: int,
    tag: str,
    pool: str = "processes",
    folders: Callable[[str], Path] = run_dir,
) -> Variant:
    """The real CLI; ``pool``: the ``LLTD_POOL`` of the run (processes or threads); ``folders``
    gives each run its output folder (a new one by default: see ``timing.run_dir``)."""

    def run() -> Sample:
        out = folders(f"compress-{tag}")
        argv = [*lltd_argv(), "compress", str(folder), "-q", str(QUALITY), "-o", str(out),
                "--backend", backend, "-j", str(jobs), "--quiet"]  # fmt: skip
        os.environ["LLTD_POOL"] = pool
        try:
            sample = run_timed(argv)
        finally:
            os.environ.pop("LLTD_POOL", None)
        _check_outputs(out, folder, tag)
        return sample

    return run


def empty_folder() -> Path:
    folder = OUT / "empty"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cwebp_loop(files: list[Path], tag: str, folders: Callable[[str], Path] = run_dir) -> Variant:
    """webp-converter: one cwebp process per file, one after the other (argv, not a shell)."""
    binary = cwebp_binary()

    def run() -> Sample:
        out = folders(f"compress-{tag}")
        cpu0, start = children_cpu(), time.perf_counter()
        for source in files:
            subprocess.run(
                [binary, "-q", str(QUALITY), str(source), "-o", str(out / f"{source.stem}.webp")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
            )  # fmt: skip
        return Sample(time.perf_counter() - start, children_cpu() - cpu0)

    return run


def decode_encode(path: Path) -> bytes:
    """What the pillow backend must do per file, minus file writing and bookkeeping."""
    with Image.open(path) as image:
        image.load()
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=QUALITY, method=4)
    return buffer.getvalue()


def libwebp_limit(files: list[Path], n_cores: int) -> Variant:
    """CPU seconds of decode + encode in this process; as a wall time: that over the cores."""

    def run() -> Sample:
        cpu = 0.0
        for path in files:
            cpu0 = time.process_time()
            decode_encode(path)
            cpu += time.process_time() - cpu0
        return Sample(cpu / n_cores, cpu)

    return run


def _check_outputs(out: Path, folder: Path, tag: str) -> None:
    """Every input must have produced a WebP or a kept original, never a failure."""
    failed = list((out / "failed").rglob("*")) if (out / "failed").exists() else []
    if failed:
        raise SystemExit(f"bench: {tag}: {len(failed)} files failed, e.g. {failed[0]}")
    produced = sum(1 for p in out.rglob("*") if p.is_file())
    expected = sum(1 for p in folder.iterdir() if p.is_file())
    if produced != expected:
        raise SystemExit(f"bench: {tag}: {produced} outputs for {expected} inputs")


def compress_table(name: str, files: list[Path], series: dict[str, Series], n_cores: int) -> str:
    n = len(files)
    loop = series["cwebp loop (sequential)"]
    limit = series["libwebp limit"]
    rows = []
    for label, s in series.items():
        if label.startswith("libwebp, warm pool"):
            pool = s
            rows.append([label, s.median, s.best, n / s.median, "", loop.median / s.median,
                         limit.median / s.median])  # fmt: skip
            continue
        if label == FIXED:
            rows.append([label, s.median, s.best, "", s.cpu, "", ""])
            continue
        rows.append([
            label, s.median, s.best, n / s.median, s.cpu,
            loop.median / s.median, limit.median / s.median,
        ])  # fmt: skip
    fixed = series[FIXED]
    lltd = {k: v for k, v in series.items() if k.startswith("lltd ")}
    best_label = min(lltd, key=lambda k: lltd[k].median)
    best = lltd[best_label]
    summary = (
        f"\n{name}: best lltd = {best_label}: {n / best.median:.1f} images/s\n"
        f"  vs sequential cwebp loop: {loop.median / best.median:.2f}x (median), "
        f"{loop.best / best.best:.2f}x (best of rounds)"
        f"{'   [target >= 2.2x]' if '299' in name else ''}\n"
        f"  vs libwebp limit ({n_cores} cores): {limit.median / best.median:.2f} (median), "
        f"{limit.best / best.best:.2f} (best of rounds)   "
        f"[target >= {0.92 if n >= 1000 else 0.85}]\n"
        f"  CPU seconds: lltd {best.cpu:.2f} vs limit {limit.cpu:.2f} "
        f"(overhead {best.cpu - limit.cpu:+.2f} s, "
        f"{(best.cpu - limit.cpu) / n * 1e3:+.1f} ms/image)\n"
        f"  fixed cost of a run (interpreter, imports, option parsing, pool): "
        f"{fixed.median:.2f} s wall, {fixed.cpu:.2f} s CPU; without it lltd reaches "
        f"{limit.median / max(best.median - fixed.median, 1e-9):.2f} of the limit and "
        f"{loop.median / max(best.median - fixed.median, 1e-9):.2f}x the loop\n"
        f"  the same decode+encode in a warm pool of {n_cores} processes takes "
        f"{pool.median:.2f} s = {limit.median / pool.median:.2f} of the limit (what the cores "
        f"really give in parallel); lltd reaches {pool.median / best.median:.2f} of that"
    )
    headers = ["variant", "median s", "best s", "images/s", "CPU s", "x cwebp loop",
               "of limit"]  # fmt: skip
    return f"### {name}\n\n" + table(headers, rows) + "\n" + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images",
        type=int,
        action="append",
        help="size of a 299x299 corpus (repeatable; default 200, and 200 and 1000 with "
        "--targets-only)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="recorded rounds per variant")
    parser.add_argument("--jobs", type=int, default=cores(), help="-j for the parallel runs")
    parser.add_argument("--only", choices=("small", "large"), action="append")
    parser.add_argument(
        "--targets-only",
        action="store_true",
        help="only what the targets need: lltd pillow -j N (processes and threads), the cwebp "
        "loop, the libwebp limit, the warm pool and the fixed cost (for the 1,000-file run)",
    )
    parser.add_argument(
        "--empty-before-run",
        action="store_true",
        help="write every run of a variant into one folder emptied just before the run (the "
        "way before 2026-11-29), instead of a new folder per run",
    )
    args = parser.parse_args()
    only = set(args.only or ("small", "large"))
    folders = fresh_dir if args.empty_before_run else run_dir

    sizes = args.images or ([200, 1000] if args.targets_only else [200])
    compile_lltd()
    corpora = {size: build_corpus(size) for size in sizes}
    n_cores = args.jobs
    print(f"# bench_compress\n\n{machine_note()}; -j {n_cores}; {args.rounds} rounds "
          f"after 1 warm-up round")  # fmt: skip
    for corpus in corpora.values():
        print(describe(corpus))
    print()
    runs = [(corpus, "small", f"299x299 corpus, {size} files") for size, corpus in corpora.items()]
    runs.append((corpora[sizes[0]], "large", "3 MP corpus"))
    for corpus, which, name in runs:
        if which not in only:
            continue
        folder, files = getattr(corpus, which), corpus.files(which)
        variants = {
            "lltd pillow -j 1": lltd_compress(folder, "pillow", 1, "p1", folders=folders),
            f"lltd pillow -j {n_cores}": lltd_compress(
                folder, "pillow", n_cores, "pn", folders=folders
            ),
            f"lltd pillow -j {n_cores} threads": lltd_compress(
                folder, "pillow", n_cores, "pt", pool="threads", folders=folders
            ),
            "lltd cwebp -j 1": lltd_compress(folder, "cwebp", 1, "c1", folders=folders),
            f"lltd cwebp -j {n_cores}": lltd_compress(
                folder, "cwebp", n_cores, "cn", folders=folders
            ),
            "cwebp loop (sequential)": cwebp_loop(files, "loop", folders),
            "libwebp limit": libwebp_limit(files, n_cores),
            f"libwebp, warm pool of {n_cores} (wall)": warm_pool_limit(
                decode_encode, files, n_cores
            ),
            FIXED: lltd_compress(empty_folder(), "pillow", n_cores, "empty"),
        }
        if args.targets_only:
            for label in ("lltd pillow -j 1", "lltd cwebp -j 1", f"lltd cwebp -j {n_cores}"):
                variants.pop(label)
        series = interleave(variants, args.rounds)
        shutdown_pools()
        print(compress_table(name, files, series, n_cores) + "\n")
    print(
        "\nlibwebp limit = sum over images of CPU time (time.process_time) of Pillow "
        "open+load and WebP encode q60 m4 into memory, in one process, divided by the cores; "
        "'of limit' = limit time / variant time. CPU s = user+sys of the process tree."
    )


if __name__ == "__main__":
    main()
