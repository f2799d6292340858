"""``--dry-run`` (issue 15 item 3): the plan, file by file, and the counts; nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RunLltd, tree_digests


def _tree(folder: Path) -> dict[str, object]:
    """Every path with its content digest, plus every folder: a dry run creates neither."""
    folders = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir())
    return {"files": tree_digests(folder), "folders": folders}


@pytest.mark.parametrize(
    ("args", "verb"),
    [
        (("compress", "{d}", "-q", "60", "-o", "{t}/out"), "convert"),
        (("compress", "{d}", "-q", "60", "--r"), "convert"),
        (("compress", "{d}", "-q", "60", "--c", "-o", "{t}/out"), "convert"),
        (("flip", "{d}"), "flip"),
        (("defend", "{d}", "-o", "{t}/def"), "defend"),
    ],
)
def test_dry_run_prints_the_plan_and_writes_nothing(
    run_lltd: RunLltd, sample_dir: Path, tmp_path: Path, args: tuple[str, ...], verb: str
) -> None:
    (sample_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    before = _tree(tmp_path)
    argv = [a.format(d=sample_dir, t=tmp_path) for a in args]
    result = run_lltd(*argv, "--dry-run", "--json", tmp_path / "report.json")
    assert result.returncode == 0, result.stderr
    assert _tree(tmp_path) == before  # byte-identical, no new file or folder
    planned = [line for line in result.stdout.splitlines() if line.startswith(f"would {verb}")]
    assert planned and all(" -> " in line for line in planned)
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith(f"Dry run: {len(planned)} to {verb}, 0 already done")
    assert summary.endswith("nothing was written")


def test_dry_run_after_a_run_reports_what_is_done(run_lltd: RunLltd, sample_dir, tmp_path):
    out = tmp_path / "out"
    assert run_lltd("defend", sample_dir, "-o", out).returncode == 0
    before = _tree(tmp_path)
    result = run_lltd("defend", sample_dir, "-o", out, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert _tree(tmp_path) == before
    done = [line for line in result.stdout.splitlines() if line.startswith("already done: ")]
    assert len(done) == 10
    assert result.stdout.splitlines()[-1].startswith("Dry run: 0 to defend, 10 already done")


def test_dry_run_shows_skips_and_the_names_collisions_get(run_lltd: RunLltd, tmp_path, make_image):
    d = tmp_path / "d"
    make_image(d / "a.jpg", format="JPEG")
    make_image(d / "a.png")
    make_image(d / "skip-me.png")
    result = run_lltd(
        "compress", d, "-q", "60", "-o", tmp_path / "o", "--ignore-filename-match", "skip",
        "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"would convert: {d / 'a.jpg'} -> {tmp_path / 'o' / 'a.webp'}" in lines
    assert f"would convert: {d / 'a.png'} -> {tmp_path / 'o' / 'a.png.webp'}" in lines
    assert f"skip (name matches): {d / 'skip-me.png'}" in lines
    assert lines[-1].startswith("Dry run: 2 to convert, 0 already done, 1 skipped, 0 would fail")
    assert not (tmp_path / "o").exists()


def test_dry_run_over_storage_urls_names_files_by_url(run_lltd: RunLltd, sample_dir, tmp_path):
    before = _tree(tmp_path)
    result = run_lltd(
        "compress", f"file://{sample_dir}", "-q", "60", "-o", f"file://{tmp_path}/out",
        "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _tree(tmp_path) == before
    planned = [line for line in result.stdout.splitlines() if line.startswith("would convert")]
    assert len(planned) == 10
    assert all(
        f"file://{sample_dir}/" in line and f"file://{tmp_path}/out/" in line for line in planned
    )
