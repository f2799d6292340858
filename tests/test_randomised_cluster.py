"""A seeded randomised defense gives a file the same pixels on a Dask cluster and through
storage URLs as locally: the draw is keyed by the relative path, not by worker or order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE_DATA, RunLltd, tree_digests

pytest.importorskip("distributed")
pytestmark = pytest.mark.dask

FLAGS = ["--quality-range", "30-70", "--direction", "random", "--resize-pad", "0.2", "--seed", "5"]


def test_seeded_draws_match_on_dask_and_through_urls(tmp_path: Path, run_lltd: RunLltd) -> None:
    source = tmp_path / "in"
    shutil.copytree(SAMPLE_DATA, source)
    local = run_lltd("defend", source, "-o", tmp_path / "local", "-j", "1", "--quiet", *FLAGS)
    assert local.returncode == 0, local.stderr
    dask = run_lltd(
        "defend", f"file://{source}", "-o", f"file://{tmp_path}/dask", "--scheduler", "local",
        "--quiet", *FLAGS,
    )  # fmt: skip
    assert dask.returncode == 0, dask.stderr
    expected = tree_digests(tmp_path / "local")
    assert len(expected) == 10
    assert tree_digests(tmp_path / "dask") == expected
