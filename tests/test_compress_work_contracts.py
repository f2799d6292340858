"""lltd/cli/lean/compress_work.py: the one body of ``lltd compress``, called in-process with a
:class:`CompressRequest` on real images in tmp_path. What it owns: the --r refusal, the default
output folder, the opening line, the options and job it hands on, the pool, the summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image
from webp_helpers import CWEBP, needs_cwebp

from lltd.batch import command
from lltd.cli.lean.compress_request import CompressRequest
from lltd.cli.lean.compress_work import run_compress
from lltd.common.errors import UsageError

REFUSAL = (
    "--r cannot be combined with --c or -o: --r writes each WebP beside its original and "
    "deletes the original, while -o/--c are about a separate output directory"
)


@pytest.fixture
def images(make_image, tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    make_image(folder / "a.png")
    make_image(folder / "b.png", "RGBA")
    return folder


def _pixels(path: Path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGBA").tobytes()


@pytest.mark.parametrize(
    "extra",
    [{"clean": True}, {"output_directory": "out"}, {"clean": True, "output_directory": "o"}],
)
def test_replace_with_clean_or_an_output_folder_is_refused_before_anything(
    images: Path, extra: dict
) -> None:
    before = sorted(os.listdir(images))
    with pytest.raises(UsageError) as caught:
        run_compress(CompressRequest(directory=str(images), replace=True, **extra))
    assert str(caught.value) == REFUSAL
    assert sorted(os.listdir(images)) == before


def test_without_o_the_output_is_webp_converted_in_the_working_folder(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_compress(CompressRequest(directory=str(images))) == 0
    out = work / "webp-converted"
    assert sorted(os.listdir(out)) == ["a.webp", "b.webp"]
    captured = capsys.readouterr()
    assert captured.err == f"images on {images} will be converted to {out}\n"
    assert f"All files handled on: {out}\n" in captured.out
    assert "Converted files count: 2\n" in captured.out
    # quality 100 by default: lossless, pixel for pixel
    assert _pixels(out / "a.webp") == _pixels(images / "a.png")


def test_clean_alone_is_allowed_and_an_output_folder_is_made_absolute(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    request = CompressRequest(directory="in", output_directory="out", clean=True, quiet=True)
    assert run_compress(request) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.webp", "b.webp"]
    assert capsys.readouterr() == ("", "")  # quiet: no opening line, no summary


def test_replace_writes_beside_the_originals_and_says_so(
    images: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run_compress(CompressRequest(directory=str(images), replace=True, quality=60)) == 0
    assert sorted(os.listdir(images)) == ["a.webp", "b.webp"]
    captured = capsys.readouterr()
    assert captured.err == f"images on {images} will be replaced with WebP on {images}\n"
    assert f"Replace 2 image files on {images}\n" in captured.out


def test_a_dry_run_writes_nothing_and_has_no_opening_line(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    request = CompressRequest(directory=str(images), output_directory=str(out), dry_run=True)
    assert run_compress(request) == 0
    assert not out.exists()
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "a.png" in captured.out and "Converted files count" not in captured.out


@needs_cwebp
def test_every_setting_reaches_the_job_as_the_report_records_it(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, report = tmp_path / "out", tmp_path / "r.json"
    request = CompressRequest(
        directory=str(images),
        output_directory=str(out),
        quality=60,
        method=2,
        alpha_q=50,
        exact=True,
        metadata="icc",
        sharp_yuv=True,
        preset="photo",
        backend="cwebp",
        cwebp=CWEBP,
        ignore_transparency_image=True,
        auto_orient=True,
        reason_files=True,
        max_pixels=100_000,
        max_bytes=50_000,
        json_report=report,
        quiet=True,
    )
    assert run_compress(request) == 0
    assert capsys.readouterr() == ("", "")
    assert json.loads(report.read_text())["settings"] == {
        "output_dir": str(out),
        "options": {
            "quality": 60, "method": 2, "lossless": False, "alpha_q": 50, "exact": True,
            "metadata": ["icc"], "sharp_yuv": True, "preset": "photo", "crop": None,
            "resize": None, "noalpha": False, "blend_alpha": None, "lossless_preset": None,
            "tuning": [],
        },
        "backend": "cwebp", "cwebp": CWEBP, "replace": False,
        "ignore_transparency": True, "max_pixels": 100_000, "max_bytes": 50_000,
        "force": False, "auto_orient": True, "reason_files": True,
    }  # fmt: skip
    assert _pixels(out / "a.webp") != _pixels(images / "a.png")  # lossy at 60


@pytest.mark.parametrize(
    "extra",
    [{"lossless": True}, {"cwebp_args": ("-lossless",)}],
    ids=["--lossless", "cwebp -lossless"],
)
def test_lossless_asked_either_way_is_lossless_at_quality_60(
    images: Path, tmp_path: Path, extra: dict
) -> None:
    out, report = tmp_path / "out", tmp_path / "r.json"
    request = CompressRequest(
        directory=str(images),
        output_directory=str(out),
        quality=60,
        json_report=report,
        quiet=True,
        **extra,
    )
    assert run_compress(request) == 0
    options = json.loads(report.read_text())["settings"]["options"]
    assert (options["lossless"], options["quality"]) == (True, 60)
    assert _pixels(out / "a.webp") == _pixels(images / "a.png")


def test_ignore_filename_match_leaves_the_matching_files(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    request = CompressRequest(
        directory=str(images), output_directory=str(out), ignore_filename_match="b", quiet=True
    )
    assert run_compress(request) == 0
    assert sorted(os.listdir(out)) == ["a.webp"]


def test_limits_reach_the_job_as_failures(images: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "out", tmp_path / "r.json"
    request = CompressRequest(
        directory=str(images),
        output_directory=str(out),
        max_pixels=48 * 40 - 1,
        json_report=report,
        quiet=True,
    )
    assert run_compress(request) == 1
    totals = json.loads(report.read_text())["totals"]
    assert (totals["files"], totals["failed"]) == (2, 2)


@pytest.mark.parametrize(
    ("backend", "pool"),
    [("pillow", "threads"), pytest.param("cwebp", "processes", marks=needs_cwebp)],
)
def test_pillow_runs_in_threads_and_cwebp_in_processes(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, pool: str
) -> None:
    asked: list[tuple[int, str]] = []
    real = command.runner_for

    def spy(jobs: int, scheduler: str | None, pool: str = "processes"):  # type: ignore[no-untyped-def]
        asked.append((jobs, pool))
        return real(jobs, scheduler, pool)

    monkeypatch.setattr(command, "runner_for", spy)
    request = CompressRequest(
        directory=str(images),
        output_directory=str(tmp_path / "out"),
        backend=backend,
        jobs=1,
        quiet=True,
    )
    assert run_compress(request) == 0
    assert asked == [(1, pool)]
    assert sorted(os.listdir(tmp_path / "out")) == ["a.webp", "b.webp"]
