"""Threads and processes give the batch the same results as ``-j 1`` (bench/ measures which is
faster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_one_line_error, tree_digests


def run(run_lltd, src: Path, out: Path, jobs: str, pool: str) -> tuple[dict, dict]:
    path = out.with_suffix(".json")
    result = run_lltd(
        "compress", src, "-q", "60", "-o", out, "-j", jobs, "--json", path,
        env={"LLTD_POOL": pool},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # broken.png
    data = json.loads(path.read_text())
    for record in data["files"]:
        record["output"] = record["output"] and Path(record["output"]).relative_to(out).as_posix()
    data["totals"].pop("seconds")
    data.pop("output")
    data["settings"].pop("output_dir")
    return data, tree_digests(out)


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_pool_results_equal_serial(sample_dir, run_lltd, tmp_path, pool):
    (sample_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    serial = run(run_lltd, sample_dir, tmp_path / "serial", "1", pool)
    assert run(run_lltd, sample_dir, tmp_path / pool, "3", pool) == serial


def test_unknown_pool_is_a_usage_error(sample_dir, run_lltd, tmp_path):
    result = run_lltd("compress", sample_dir, "-o", tmp_path / "o", "-j", "2",
                      env={"LLTD_POOL": "fibers"})  # fmt: skip
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "LLTD_POOL must be one of processes, threads")
