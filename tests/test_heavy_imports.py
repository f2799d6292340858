"""The light commands, run for real on real files, never load torch, foolbox, dask or matplotlib.

Importing ``lltd.cli`` alone proved nothing: the jobs are imported when a command runs (and again
in each worker process), so an ``import torch`` in ``lltd/jobs/compress.py`` went unseen.
``PYTHONPROFILEIMPORTTIME`` makes every process, forked workers included, list what it imports.
"""

from __future__ import annotations

from pathlib import Path

from conftest import IMPORT_TIMES, RunLltd, heavy_imports


def test_a_real_parallel_compress_run_imports_nothing_heavy(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    out = tmp_path / "out"
    result = run_lltd(
        "compress", sample_dir, "-q", "60", "-o", out, "-j", "2", "--ignore-transparency-image",
        "--json", tmp_path / "r.json", env=IMPORT_TIMES,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "astronaut.webp").exists()
    assert "lltd.jobs.compress" in result.stderr  # the job itself was imported and run
    assert not heavy_imports(result.stderr)


def test_a_real_cwebp_conversion_imports_nothing_heavy(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    target = tmp_path / "one.webp"
    result = run_lltd(
        "cwebp", "-q", "60", sample_dir / "astronaut.png", "-o", target, env=IMPORT_TIMES
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert target.stat().st_size > 0
    assert not heavy_imports(result.stderr)


def test_a_real_replace_run_imports_nothing_heavy(sample_dir: Path, run_lltd: RunLltd) -> None:
    result = run_lltd("compress", sample_dir, "--r", "-q", "60", "-j", "1", env=IMPORT_TIMES)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (sample_dir / "astronaut.webp").exists()
    assert not heavy_imports(result.stderr)
