"""`lltd compress`: webp-converter's options, outcomes and folders, on real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, digest, tree_digests
from PIL import Image
from webp_helpers import APOSTROPHE, decode

SAMPLE_COFFEE = Path(__file__).resolve().parents[1] / "sample_data" / "coffee.jpg"


def report(path: Path) -> dict:
    return json.loads(path.read_text())


def outcomes(path: Path) -> dict[str, str]:
    return {Path(r["input"]).name: r["outcome"] for r in report(path)["files"]}


# --- webp-converter's grammar -------------------------------------------------------------


@pytest.mark.parametrize(
    "flag", [["-q=60"], ["-q", "60"], ["--q", "60"], ["--quality", "60"], ["--quality-ratio=60"]]
)
def test_quality_spellings_all_mean_the_same(sample_dir, run_lltd, tmp_path, flag):
    out = tmp_path / f"out{len(flag)}{flag[0]}"
    result = run_lltd("compress", sample_dir, *flag, "-o", out, "-j", "1")
    assert result.returncode == 0, result.stderr
    reference = tmp_path / "reference"
    run_lltd("compress", sample_dir, "-q", "60", "-o", reference, "-j", "1")
    assert tree_digests(out) == tree_digests(reference)
    with Image.open(out / "astronaut.webp") as image:
        assert image.format == "WEBP"


def test_defaults_dir_is_cwd_output_is_webp_converted_and_quality_100_is_lossless(
    sample_dir, run_lltd
):
    result = run_lltd("compress", cwd=sample_dir)
    assert result.returncode == 0, result.stderr
    out = sample_dir / "webp-converted"
    original = np.asarray(Image.open(sample_dir / "astronaut.png").convert("RGB"))
    assert np.array_equal(decode(out / "astronaut.webp"), original)  # lossless, exactly
    # A JPEG photo is smaller than its lossless WebP: not kept, original copied to origin/.
    assert digest(out / "origin" / "coffee.jpg") == digest(sample_dir / "coffee.jpg")
    assert not (out / "coffee.webp").exists()
    assert "Skip files(because the webp one is greater than origin one) count:" in result.stdout
    # The output folder inside DIR is never rescanned.
    again = run_lltd("compress", "--json", "r.json", cwd=sample_dir)
    assert again.returncode == 0
    assert not any("webp-converted" in r["input"] for r in report(sample_dir / "r.json")["files"])


def test_summary_uses_webp_converter_words(sample_dir, run_lltd, tmp_path):
    result = run_lltd(
        "compress",
        sample_dir,
        "-q",
        "60",
        "-o",
        tmp_path / "o",
        "--ignore-transparency-image",
        "--ignore-filename-match",
        "retina",
    )
    for words in (
        "All files handled on: ",
        "Consume: ",
        "Scan files count: 10",
        "Converted files count: 8",
        "Reduce size: ",
        "Skip files(because convert failed) count: 0",
        "Skip files(because there is transparency) count: 1",
        "Skip files(because the filename matched) count: 1",
    ):
        assert words in result.stdout, (words, result.stdout)


# --- outcomes and folders -------------------------------------------------------------------


def test_transparency_rules(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "translucent.png", "RGBA")
    Image.new("RGBA", (40, 30), (10, 200, 30, 255)).save(src / "opaque rgba.png")
    palette = Image.new("P", (40, 30), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] * 128)
    palette.info["transparency"] = 0
    palette.putpixel((3, 3), 0)
    palette.save(src / "palette.png", transparency=0)
    la = Image.new("LA", (40, 30), (100, 100))
    la.save(src / "gray alpha.png")
    out = tmp_path / "out"
    result = run_lltd(
        "compress",
        src,
        "-q",
        "60",
        "-o",
        out,
        "--ignore-transparency-image",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 0, result.stderr
    got = outcomes(tmp_path / "r.json")
    assert got == {
        "translucent.png": "transparency",
        "palette.png": "transparency",
        "gray alpha.png": "transparency",
        "opaque rgba.png": "converted",
    }
    for name in ("translucent.png", "palette.png", "gray alpha.png"):
        assert digest(out / "transparency" / name) == digest(src / name)
    # Without the flag, transparency is encoded (alpha kept).
    run_lltd("compress", src, "-q", "60", "-o", tmp_path / "all")
    with Image.open(tmp_path / "all" / "translucent.webp") as image:
        assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255


def test_bad_inputs_one_line_each_to_failed_and_batch_goes_on(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "good.png")
    (src / "empty.png").write_bytes(b"")
    (src / "text.jpg").write_text("this is not a JPEG")
    whole = (src / "good.png").read_bytes()
    (src / "truncated.png").write_bytes(whole[: len(whole) // 2])
    make_image(src / "huge.png", size=(400, 300))
    before = tree_digests(src)
    out = tmp_path / "out"
    result = run_lltd(
        "compress",
        src,
        "-q",
        "60",
        "-o",
        out,
        "--max-pixels",
        "100000",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "empty.png", "empty file")
    assert_one_line_error(result.stderr, "text.jpg", "not an image")
    assert_one_line_error(result.stderr, "truncated.png", "truncated")
    assert_one_line_error(result.stderr, "huge.png", "120000 pixels exceeds the limit of 100000")
    got = outcomes(tmp_path / "r.json")
    assert got.pop("good.png") == "converted"
    assert set(got.values()) == {"failed"}
    for name in got:
        assert digest(out / "failed" / name) == digest(src / name)
    errors = {Path(r["input"]).name: r["error"] for r in report(tmp_path / "r.json")["files"]}
    assert errors["empty.png"] and errors["good.png"] is None
    assert tree_digests(src) == before  # originals untouched


def _without_file_permission_override() -> list[str]:
    """Argument prefix that runs a command unable to bypass file permissions.

    An ordinary user already cannot read a mode-0 file. root can, so it runs the command as root
    still (so the interpreter is reachable wherever the checkout lives, even under a 0700 home
    folder) but with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from the bounding set.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv cannot drop its permission override (util-linux)")
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def test_unreadable_file_is_reported(tmp_path, make_image):
    src = tmp_path / "in"
    make_image(src / "secret.png")
    make_image(src / "public.png")
    (src / "secret.png").chmod(0)
    out = tmp_path / "out"
    result = subprocess.run(
        [
            *_without_file_permission_override(),
            sys.executable,
            "-m",
            "lltd",
            "compress",
            str(src),
            "-q",
            "60",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result.stderr, "secret.png", "Permission denied")
    assert (out / "public.webp").exists()


def test_already_converted_is_reused_and_larger_leftover_is_redone(sample_dir, run_lltd, tmp_path):
    out = tmp_path / "out"
    run_lltd("compress", sample_dir, "-q", "60", "-o", out)
    first = tree_digests(out)
    leftover = out / "astronaut.webp"
    leftover.write_bytes(b"x" * (sample_dir / "astronaut.png").stat().st_size * 2)
    result = run_lltd("compress", sample_dir, "-q", "60", "-o", out, "--json", tmp_path / "r.json")
    assert result.returncode == 0
    got = outcomes(tmp_path / "r.json")
    assert got["astronaut.png"] == "converted"
    assert {v for k, v in got.items() if k != "astronaut.png"} == {"already_converted"}
    assert tree_digests(out) == first
    assert "Already converted files count: 9" in result.stdout


def test_case_insensitive_extensions_subfolders_and_collisions(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "a" / "same.JPEG", format="JPEG")
    make_image(src / "b" / "same.png")
    make_image(src / "b" / "same.jpg", format="JPEG")
    make_image(src / "upper.PNG")
    make_image(src / "ignored.gif", format="GIF")
    out = tmp_path / "out"
    result = run_lltd("compress", src, "-q", "50", "-o", out)
    assert result.returncode == 0, result.stderr
    produced = sorted(str(p.relative_to(out)) for p in out.rglob("*.webp"))
    # Sorted order: same.jpg comes first and keeps the plain name; same.png keeps its extension.
    assert produced == ["a/same.webp", "b/same.png.webp", "b/same.webp", "upper.webp"]


def test_ignore_filename_match(sample_dir, run_lltd, tmp_path):
    run_lltd(
        "compress",
        sample_dir,
        "-q",
        "60",
        "-o",
        tmp_path / "o",
        "--ignore-filename-match",
        "*.jpg",
        "--json",
        tmp_path / "r.json",
    )
    got = outcomes(tmp_path / "r.json")
    assert {k for k, v in got.items() if v == "name_match"} == {
        "coffee.jpg",
        "retina.jpg",
        "hubble deep field.jpg",
    }
    assert not (tmp_path / "o" / "coffee.webp").exists()


# --- replace and clean ----------------------------------------------------------------------


def test_replace_in_place(sample_dir, run_lltd, tmp_path):
    result = run_lltd(
        "compress", sample_dir, "--r", "-q", "60", "--json", "r.json", cwd=sample_dir.parent
    )
    assert result.returncode == 0, result.stderr
    assert not (sample_dir / "astronaut.png").exists()
    assert decode(sample_dir / "astronaut.webp").shape == (299, 299, 3)
    assert not (sample_dir / APOSTROPHE).exists()
    assert (sample_dir / APOSTROPHE.replace(".png", ".webp")).exists()
    assert (sample_dir / "more photos" / "rocket launch.webp").exists()
    assert not (sample_dir.parent / "webp-converted").exists()
    assert "Replace " in result.stdout and " image files on " in result.stdout
    # At quality 100 (lossless) a JPEG photo's WebP is larger: the JPEG stays, byte for byte.
    lossless = tmp_path / "lossless"
    lossless.mkdir()
    shutil.copy2(SAMPLE_COFFEE, lossless / "coffee.jpg")
    coffee = digest(lossless / "coffee.jpg")
    result = run_lltd("compress", lossless, "--r", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert digest(lossless / "coffee.jpg") == coffee
    assert not (lossless / "coffee.webp").exists()


def test_replace_keeps_original_when_webp_does_not_decode(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "photo.png", size=(64, 64))
    fake = tmp_path / "fake-cwebp"
    # A broken encoder that "succeeds" with a small invalid file.
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\nprintf RIFFjunk > "$2"\n')
    fake.chmod(0o755)
    result = run_lltd("compress", src, "--r", "-q", "60", "--backend", "cwebp", "--cwebp", fake)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "photo.png", "does not decode")
    assert (src / "photo.png").exists() and not (src / "photo.webp").exists()


@pytest.mark.parametrize("extra", [["--c"], ["-o", "elsewhere"]])
def test_replace_refuses_clean_or_output(sample_dir, run_lltd, extra):
    before = tree_digests(sample_dir)
    result = run_lltd("compress", sample_dir, "--r", *extra)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "--r cannot be combined with --c or -o")
    assert tree_digests(sample_dir) == before


def test_clean_removes_previous_output(sample_dir, run_lltd, tmp_path):
    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "old.webp").write_bytes(b"old")
    result = run_lltd("compress", sample_dir, "--c", "-q", "60", "-o", out)
    assert result.returncode == 0
    assert not (out / "stale").exists() and (out / "astronaut.webp").exists()


def test_clean_refuses_dangerous_folders(sample_dir, run_lltd, tmp_path):
    # A temporary HOME, so a broken guard can only lose this test's own folder; the deletion guard
    # (tests/guard) stops `--c -o /` failing here from deleting anything at all.
    home = tmp_path / "home"
    (home / "keep me").mkdir(parents=True)
    (home / "keep me" / "note.txt").write_text("precious")
    before = tree_digests(sample_dir)
    for target, why in (
        (sample_dir, "contains the input folder"),
        (sample_dir.parent, "contains the input folder"),
        (Path("/"), "is / or the home directory"),
        (home, "is / or the home directory"),
    ):
        result = run_lltd("compress", sample_dir, "--c", "-o", target, env={"HOME": str(home)})
        assert result.returncode == 2, (target, result.stderr)
        assert_one_line_error(result.stderr, "--c refuses to delete", why)
        assert (home / "keep me" / "note.txt").read_text() == "precious"
        assert tree_digests(sample_dir) == before


# --- parallelism, reports, robustness --------------------------------------------------------


def test_parallel_equals_serial(sample_dir, run_lltd, tmp_path):
    def run(jobs: str) -> tuple[dict, dict]:
        out = tmp_path / f"j{jobs}"
        result = run_lltd(
            "compress",
            sample_dir,
            "-q",
            "60",
            "-o",
            out,
            "-j",
            jobs,
            "--ignore-transparency-image",
            "--json",
            tmp_path / f"{jobs}.json",
        )
        assert result.returncode == 0
        data = report(tmp_path / f"{jobs}.json")
        for record in data["files"]:
            record["output"] = (
                record["output"] and Path(record["output"]).relative_to(out).as_posix()
            )
        data["totals"].pop("seconds")
        data.pop("output")
        data["settings"].pop("output_dir")
        return data, tree_digests(out)

    assert run("1") == run("2")


def test_json_report_schema_and_quiet(sample_dir, run_lltd, tmp_path):
    (sample_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = run_lltd(
        "compress",
        sample_dir,
        "-q",
        "60",
        "-o",
        tmp_path / "o",
        "--quiet",
        "--json",
        tmp_path / "r.json",
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "broken.png" in result.stderr  # only the failure
    data = report(tmp_path / "r.json")
    assert data["command"] == "compress"
    assert set(data["files"][0]) == {
        "input",
        "output",
        "outcome",
        "bytes_before",
        "bytes_after",
        "error",
        "input_sha256",
        "input_pixels",
        "output_sha256",
        "output_pixels",
    }
    totals = data["totals"]
    assert totals["files"] == 11 and totals["failed"] == 1 and totals["converted"] == 10
    assert totals["saved_bytes"] == sum(
        r["bytes_before"] - r["bytes_after"] for r in data["files"] if r["outcome"] == "converted"
    )
    assert "\x1b[" not in result.stderr and "\r" not in result.stderr  # no bar off a terminal


def test_usage_errors_exit_2(run_lltd, tmp_path):
    for args, needle in (
        (["compress", tmp_path / "missing"], "does not exist"),
        (["compress", tmp_path, "-q", "101"], "lltd: error: -q: 101.0 is not in the range"),
        (["compress", tmp_path, "--backend", "magick"], "--backend"),
    ):
        result = run_lltd(*args)
        assert result.returncode == 2, args
        assert needle in result.stderr and "Traceback" not in result.stderr


def test_seed_pipeline_like_the_original(seed_data, run_lltd, tmp_path):
    """The authors' call: `__init__.py --c --ignore-transparency-image -q=60` on their folder."""
    src = tmp_path / "adv"
    shutil.copytree(seed_data / "adversarial-deepfool-inception_v3", src)
    out = tmp_path / "webp"
    result = run_lltd("compress", src, "--c", "--ignore-transparency-image", "-q=60", "-o", out)
    assert result.returncode == 0, result.stderr
    ours = sorted(p.name for p in out.glob("*.webp"))
    assert ours == sorted(p.name for p in (seed_data / "adversarial-webp-q60").glob("*.webp"))
    # Same codec, same quality: the decoded pixels are close to the authors' files.
    for name in ours[:5]:
        ref = decode(seed_data / "adversarial-webp-q60" / name).astype(np.int16)
        mine = decode(out / name).astype(np.int16)
        assert np.abs(ref - mine).mean() < 3.0, name


def test_cli_startup_imports_no_heavy_modules():
    code = (
        "import sys, lltd, lltd.cli; heavy = [m for m in ('torch', 'torchvision', 'foolbox', "
        "'dask', 'matplotlib', 'numpy') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
