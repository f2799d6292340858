"""What every report says about itself: ``lltd --version``, the version in each ``--json``,
flip's and defend's own words in their JSON, ``--json`` refusing URLs, and a fast answer for an
unreachable ``--scheduler``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error

import lltd

VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)


def test_version_option_and_attribute(run_lltd) -> None:
    shown = run_lltd("--version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"lltd {VERSION}\n"
    assert lltd.__version__ == VERSION


@pytest.mark.parametrize("command", ["compress", "flip", "defend"])
def test_json_report_carries_the_version(command, sample_dir, run_lltd, tmp_path) -> None:
    report = tmp_path / "report.json"
    result = run_lltd(command, sample_dir, "-o", tmp_path / "out", "--json", report)
    assert result.returncode == 0, result.stderr
    assert json.loads(report.read_text())["lltd_version"] == VERSION


def test_defend_json_uses_its_summary_words(sample_dir, run_lltd, tmp_path) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    first = run_lltd("defend", sample_dir, "-o", out, "--json", report)
    assert first.returncode == 0, first.stderr
    again = run_lltd("defend", sample_dir, "-o", out, "--json", report)
    assert again.returncode == 0, again.stderr
    data = json.loads(report.read_text())
    n = len(data["files"])
    assert f"0 written, {n} already done" in again.stdout
    assert {record["outcome"] for record in data["files"]} == {"already_done"}
    assert data["totals"]["already_done"] == n
    assert "already_converted" not in data["totals"]
    assert not [record for record in data["files"] if "saved_bytes" in record]
    assert "saved_bytes" not in data["totals"]


def test_compress_json_keeps_webp_converters_words(sample_dir, run_lltd, tmp_path) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert run_lltd("compress", sample_dir, "-q", "60", "-o", out).returncode == 0
    again = run_lltd("compress", sample_dir, "-q", "60", "-o", out, "--json", report)
    assert again.returncode == 0, again.stderr
    data = json.loads(report.read_text())
    assert data["totals"]["already_converted"] > 0
    assert "saved_bytes" in data["totals"]


@pytest.mark.parametrize("url", ["file://{tmp}/r.json", "s3://bucket/r.json"])
def test_json_refuses_a_url_and_creates_nothing(url, sample_dir, run_lltd, tmp_path) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    result = run_lltd(
        "defend", sample_dir, "-o", "out", "--json", url.format(tmp=tmp_path), cwd=work
    )
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "--json takes a local file, not a URL")
    assert list(work.iterdir()) == []  # no folder named "file:" or "s3:", no output folder


def test_unreachable_scheduler_answers_without_dasks_connect_timeout(
    sample_dir: Path, run_lltd, tmp_path
) -> None:
    pytest.importorskip("distributed")
    # dask's own timeout set to 10 minutes: only lltd's probe can answer within the test's limit.
    env = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "600s"}
    result = run_lltd(
        "defend",
        sample_dir,
        "-o",
        tmp_path / "out",
        "--scheduler",
        "tcp://127.0.0.1:9",
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "out").exists()


def test_cli_app_is_the_typer_app_whatever_was_imported_first() -> None:
    """``from lltd.cli import app`` is the typer app even after a command module loaded the
    module that defines it (a submodule named ``app`` used to shadow it)."""
    import typer

    import lltd.cli.flip  # noqa: F401  (loads lltd.cli.root first)
    from lltd.cli import app

    assert isinstance(app, typer.Typer)
