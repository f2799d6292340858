"""``lltd defend`` through the real command line, against the paper's formula computed here.

The expected pixels come from Pillow directly: save as WebP (quality q, method 4) to memory,
decode, transpose; lltd's own code is not used to compute them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    IMPORT_TIMES,
    SAMPLE_DATA,
    RunLltd,
    assert_one_line_error,
    heavy_imports,
    tree_digests,
)
from PIL import Image

from lltd.fs.atomic import TEMP_SUFFIX

_TRANSPOSE = {
    "horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
}


def load_8bit(path: Path) -> Image.Image:
    """The decoded input as 8-bit RGB, or RGBA when it carries alpha (16 bits: the high byte)."""
    with Image.open(path) as image:
        image.load()
    if image.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L").convert("RGB")
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if alpha else "RGB")


def formula(
    path: Path,
    quality: float | None = 60,
    direction: str | None = "horizontal",
    order: str = "webp-flip",
    method: int = 4,
) -> Image.Image:
    def compress(img: Image.Image) -> Image.Image:
        if quality is None:
            return img
        buffer = io.BytesIO()
        img.save(buffer, format="WEBP", quality=quality, method=method)
        decoded = Image.open(io.BytesIO(buffer.getvalue()))
        decoded.load()
        return decoded

    def mirror(img: Image.Image) -> Image.Image:
        return img if direction is None else img.transpose(_TRANSPOSE[direction])

    image = load_8bit(path)
    for step in (compress, mirror) if order == "webp-flip" else (mirror, compress):
        image = step(image)
    return image


def pixels(image: Image.Image | Path, mode: str) -> np.ndarray:
    if isinstance(image, Path):
        with Image.open(image) as opened:
            return np.asarray(opened.convert(mode))
    return np.asarray(image.convert(mode))


def assert_defended(output: Path, expected: Image.Image) -> None:
    mode = "RGBA" if expected.mode == "RGBA" else "RGB"
    with Image.open(output) as image:
        assert image.size == expected.size
        if mode == "RGBA":
            assert image.mode == "RGBA", output  # transparency survives
    np.testing.assert_array_equal(pixels(output, mode), pixels(expected, mode), err_msg=str(output))


def images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def defended_name(root: Path, source: Path, ext: str = ".png") -> Path:
    return source.relative_to(root).with_suffix(ext)


def assert_no_temporaries(root: Path) -> None:
    assert not [p for p in root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


@pytest.fixture
def small_dir(tmp_path: Path) -> Path:
    """Three real images of different kinds (RGB PNG, grayscale PNG, JPEG), one in a subfolder."""
    folder = tmp_path / "small"
    (folder / "sub dir").mkdir(parents=True)
    shutil.copy(SAMPLE_DATA / "astronaut.png", folder / "astronaut.png")
    shutil.copy(SAMPLE_DATA / "cameraman grayscale.png", folder / "sub dir" / "cameraman.png")
    shutil.copy(SAMPLE_DATA / "retina.jpg", folder / "Chelsea's retina.jpg")
    return folder


def test_defend_sample_folder_equals_the_formula(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    before = tree_digests(sample_dir)
    out, report = tmp_path / "out", tmp_path / "defend.json"
    result = run_lltd("defend", sample_dir, "-o", out, "--json", report, env=IMPORT_TIMES)
    assert not heavy_imports(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    sources = images(sample_dir)
    assert {p.relative_to(out) for p in images(out)} == {
        defended_name(sample_dir, p) for p in sources
    }
    assert (out / "more photos" / "rocket launch.png").is_file()  # subfolders kept
    for source in sources:
        assert_defended(out / defended_name(sample_dir, source), formula(source))
    assert tree_digests(sample_dir) == before  # originals never touched
    assert_no_temporaries(out)
    assert not [p for p in out.rglob(".*")]
    data = json.loads(report.read_text())
    defense = data["settings"]["defense"]
    assert defense["quality"] == 60 and defense["order"] == "webp-flip"
    assert sorted(r["input"] for r in data["files"]) == sorted(str(p) for p in sources)
    assert {r["outcome"] for r in data["files"]} == {"converted"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--order", "flip-webp"], {"order": "flip-webp"}),
        (["--no-flip"], {"direction": None}),
        (["--no-webp"], {"quality": None}),
        (["--direction", "vertical"], {"direction": "vertical"}),
        (["-q", "30", "-m", "6"], {"quality": 30, "method": 6}),
        (
            ["-q=25", "--order", "flip-webp", "--direction", "vertical"],
            {"quality": 25, "order": "flip-webp", "direction": "vertical"},
        ),
    ],
    ids=["flip-webp", "no-flip", "no-webp", "vertical", "q30-m6", "q25-flip-webp-vertical"],
)
def test_options_equal_the_formula(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path, args: list[str], expected: dict
) -> None:
    out = tmp_path / "out"
    result = run_lltd("defend", small_dir, "-o", out, "-j", "1", *args)
    assert result.returncode == 0, result.stderr
    for source in images(small_dir):
        output = out / defended_name(small_dir, source)
        assert_defended(output, formula(source, **expected))
        # ... and the option really changed something: not the default output. For
        # --order flip-webp this shows the two orders differ (WebP is not flip-symmetric).
        assert not np.array_equal(pixels(output, "RGB"), pixels(formula(source), "RGB"))


def test_no_webp_is_an_exact_flip_of_the_decoded_input(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_lltd("defend", small_dir, "-o", out, "--no-webp").returncode == 0
    for source in images(small_dir):
        flipped = np.asarray(load_8bit(source))[:, ::-1]
        np.testing.assert_array_equal(
            pixels(out / defended_name(small_dir, source), "RGB"), flipped
        )


def test_webp_lossless_container_holds_the_same_pixels_as_png(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    png, webp = tmp_path / "png", tmp_path / "webp"
    assert run_lltd("defend", small_dir, "-o", png, "-j", "1").returncode == 0
    result = run_lltd("defend", small_dir, "-o", webp, "-j", "1", "--format", "webp-lossless")
    assert result.returncode == 0, result.stderr
    for source in images(small_dir):
        target = webp / defended_name(small_dir, source, ".webp")
        with Image.open(target) as image:
            assert image.format == "WEBP"
        np.testing.assert_array_equal(
            pixels(target, "RGB"), pixels(png / defended_name(small_dir, source), "RGB")
        )
        assert_defended(target, formula(source))


def test_defend_unusual_modes(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "modes"
    make_image(folder / "palette.png", "P", (41, 29))
    make_image(folder / "palette-trns.png", "P", (41, 29), transparency=0)
    make_image(folder / "gray-alpha.png", "LA", (41, 29))
    make_image(folder / "rgba.png", "RGBA", (41, 29))
    make_image(folder / "deep.png", "I;16", (41, 29))
    make_image(folder / "old.bmp", "RGB", (41, 29))
    make_image(folder / "scan.tiff", "RGB", (41, 29))
    make_image(folder / "lossy.webp", "RGB", (41, 29))
    # twin.jpg and twin.png both want twin.png: the later one (sorted) keeps its extension.
    twins = [make_image(folder / "twin.jpg", "RGB", (41, 29)), make_image(folder / "twin.png")]
    out = tmp_path / "out"
    for _ in range(2):  # the second run finds every output done, twins included
        result = run_lltd("defend", folder, "-o", out, "-j", "1")
        assert result.returncode == 0, result.stderr
    assert "0 written, 10 already done" in result.stdout
    for source in images(folder):
        if source not in twins:
            assert_defended(out / defended_name(folder, source), formula(source))
    assert_defended(out / "twin.png", formula(twins[0]))
    assert_defended(out / "twin.png.png", formula(twins[1]))
    assert len(images(out)) == 10


def test_cwebp_backend_equals_cwebp_then_flip(tmp_path: Path, run_lltd: RunLltd) -> None:
    cwebp = shutil.which("cwebp")
    if cwebp is None:
        pytest.skip("cwebp is not installed")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in (
        "astronaut.png",
        "cameraman grayscale.png",
        "logo with transparency.png",
        "coffee.jpg",
    ):
        shutil.copy(SAMPLE_DATA / name, folder / name)
    out = tmp_path / "out"
    result = run_lltd("defend", folder, "-o", out, "--backend", "cwebp", "-j", "1")
    assert result.returncode == 0, result.stderr
    for source in images(folder):
        encoded = tmp_path / "reference.webp"
        subprocess.run([cwebp, "-quiet", "-q", "60", str(source), "-o", str(encoded)], check=True)
        with Image.open(encoded) as image:
            expected = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        mode = "RGBA" if expected.mode == "RGBA" else "RGB"
        np.testing.assert_array_equal(
            pixels(out / defended_name(folder, source), mode),
            pixels(expected, mode),
            err_msg=source.name,
        )
        # cwebp and Pillow's libwebp are different encoders of the same format.
        assert (
            np.abs(
                pixels(expected, "RGB").astype(int) - pixels(formula(source), "RGB").astype(int)
            ).mean()
            < 3
        )


def test_resume_skips_done_outputs_redoes_touched_inputs_and_force_redoes_all(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert run_lltd("defend", small_dir, "-o", out, "-j", "1").returncode == 0
    outputs = images(out)
    assert len(outputs) == 3
    later = int(time.time()) + 3600  # distinctive (whole seconds), newer than every input
    for path in outputs:
        os.utime(path, (later, later))
    snapshot = tree_digests(out)

    again = run_lltd("defend", small_dir, "-o", out, "-j", "1", "--json", report)
    assert again.returncode == 0, again.stderr
    assert "0 written, 3 already done" in again.stdout
    assert {r["outcome"] for r in json.loads(report.read_text())["files"]} == {"already_done"}
    assert tree_digests(out) == snapshot
    assert all(p.stat().st_mtime == later for p in outputs)

    touched = small_dir / "sub dir" / "cameraman.png"
    os.utime(touched, (later + 10, later + 10))  # the input changed after its output was made
    third = run_lltd("defend", small_dir, "-o", out, "-j", "1", "--json", report)
    assert third.returncode == 0, third.stderr
    outcomes = {r["input"]: r["outcome"] for r in json.loads(report.read_text())["files"]}
    assert outcomes.pop(str(touched)) == "converted"
    assert set(outcomes.values()) == {"already_done"}
    redone = out / "sub dir" / "cameraman.png"
    assert redone.stat().st_mtime != later
    assert_defended(redone, formula(touched))
    assert [p.stat().st_mtime for p in outputs if p != redone] == [later, later]

    forced = run_lltd("defend", small_dir, "-o", out, "-j", "1", "--force", "--json", report)
    assert forced.returncode == 0, forced.stderr
    assert {r["outcome"] for r in json.loads(report.read_text())["files"]} == {"converted"}
    assert all(p.stat().st_mtime != later for p in outputs)
    for source in images(small_dir):
        assert_defended(out / defended_name(small_dir, source), formula(source))


def test_bad_inputs_are_quarantined_with_a_reason(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    (small_dir / "empty.png").write_bytes(b"")
    (small_dir / "sub dir" / "notes.jpg").write_text("not pixels\n")
    whole = (small_dir / "astronaut.png").read_bytes()
    (small_dir / "truncated.png").write_bytes(whole[: len(whole) // 3])
    reasons = {
        "empty.png": "empty",
        "sub dir/notes.jpg": "not an image",
        "truncated.png": "truncated",
    }
    before = tree_digests(small_dir)
    out = tmp_path / "out"
    result = run_lltd("defend", small_dir, "-o", out)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "3 failed" in result.stdout
    for name, word in reasons.items():
        assert_one_line_error(result.stderr, str(small_dir / name), word)
        quarantined = out / "failed" / name
        assert quarantined.read_bytes() == (small_dir / name).read_bytes()
        reason = quarantined.with_name(quarantined.name + ".error.txt").read_text()
        assert reason.count("\n") == 1 and str(small_dir / name) in reason and word in reason
        assert not (out / Path(name).with_suffix(".png")).exists()
    # The good files are still defended, and nothing else is left behind.
    for source in ("astronaut.png", "sub dir/cameraman.png", "Chelsea's retina.jpg"):
        assert_defended(out / Path(source).with_suffix(".png"), formula(small_dir / source))
    assert tree_digests(small_dir) == before
    assert_no_temporaries(out)


def test_one_and_two_workers_give_identical_outputs_and_reports(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    (sample_dir / "more photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    runs = {}
    for jobs in ("1", "2"):
        out, report = tmp_path / f"out{jobs}", tmp_path / f"report{jobs}.json"
        result = run_lltd("defend", sample_dir, "-o", out, "-j", jobs, "--json", report)
        assert result.returncode == 1, result.stderr
        data = json.loads(report.read_text().replace(str(out), "OUT"))
        del data["totals"]["seconds"]
        runs[jobs] = (tree_digests(out), data)
    assert runs["1"][0] == runs["2"][0]
    assert runs["1"][1] == runs["2"][1]
    assert runs["1"][1]["totals"]["failed"] == 1
    assert runs["1"][1]["totals"]["converted"] == 10


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--order", "sideways"], "--order"),
        (["--direction", "diagonal"], "--direction"),
        (["--format", "jpeg"], "--format"),
        (["--backend", "magick"], "--backend"),
        (["--backend", "cwebp", "--cwebp", "/nonexistent/cwebp"], "/nonexistent/cwebp"),
        (["-q", "150"], "-q"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    small_dir: Path, run_lltd: RunLltd, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "out"
    result = run_lltd("defend", small_dir, "-o", out, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in result.stderr
    assert not out.exists()


def test_missing_arguments_exit_2(tmp_path: Path, run_lltd: RunLltd, small_dir: Path) -> None:
    no_output = run_lltd("defend", small_dir)
    assert no_output.returncode == 2 and "-o" in no_output.stderr
    missing = run_lltd("defend", tmp_path / "nowhere", "-o", tmp_path / "out")
    assert missing.returncode == 2
    assert_one_line_error(missing.stderr, "error", str(tmp_path / "nowhere"))
