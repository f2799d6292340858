"""``lltd flip`` through the real command line, on real files."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import IMPORT_TIMES, RunLltd, assert_one_line_error, heavy_imports, tree_digests
from PIL import Image, JpegImagePlugin

from lltd.fs.atomic import TEMP_SUFFIX

OLD = 1_000_000_000  # an mtime in 2001: a file still carrying it was not rewritten
SEED_NAME = "Adv_n12057211 yellow lady's slipper-n03958227 plastic bag.png"


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image)


def flipped(path: Path, method: Image.Transpose = Image.Transpose.FLIP_LEFT_RIGHT) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.transpose(method))


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def jpeg_default_save(pixels: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return decoded(buffer)  # type: ignore[arg-type]


def originals(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def flip_name(path: Path, suffix: str = "_f", ext: str | None = None) -> str:
    return f"{path.stem}{suffix}{ext or path.suffix}"


def assert_no_temporaries(root: Path) -> None:
    assert not [p for p in root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_flip_beside_each_input_like_the_original_script(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    inputs = originals(sample_dir)
    before = tree_digests(sample_dir)
    report = tmp_path / "flip.json"
    result = run_lltd("flip", sample_dir, "--json", report, env=IMPORT_TIMES)
    assert not heavy_imports(result.stderr)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    expected_names = {p.relative_to(sample_dir) for p in inputs} | {
        p.relative_to(sample_dir).with_name(flip_name(p)) for p in inputs
    }
    assert {p.relative_to(sample_dir) for p in originals(sample_dir)} == expected_names
    for name, digest in before.items():  # originals untouched
        assert tree_digests(sample_dir)[name] == digest

    jpegs = 0
    for source in inputs:
        out = source.with_name(flip_name(source))
        with Image.open(source) as src, Image.open(out) as dst:
            assert dst.format == src.format and dst.mode == src.mode and dst.size == src.size
            if src.format == "PNG":  # lossless: exactly Image.transpose(FLIP_LEFT_RIGHT)
                np.testing.assert_array_equal(decoded(out), flipped(source))
                continue
            # JPEG: re-encoded with the input's own tables and subsampling (quality="keep").
            jpegs += 1
            assert dst.quantization == src.quantization
            assert JpegImagePlugin.get_sampling(dst) == JpegImagePlugin.get_sampling(src)
            error = mean_error(decoded(out), flipped(source))
            # Re-encoding costs something, but less than Pillow's default save would.
            assert 0 < error < mean_error(jpeg_default_save(flipped(source)), flipped(source))
    assert jpegs == 5

    records = json.loads(report.read_text())["files"]
    assert sorted(r["input"] for r in records) == sorted(map(str, inputs))
    assert {r["outcome"] for r in records} == {"converted"}
    assert_no_temporaries(sample_dir)


MODES = {  # file stem -> (mode, save options)
    "palette": ("P", {}),
    "palette-trns": ("P", {"transparency": 0}),
    "gray": ("L", {}),
    "gray-alpha": ("LA", {}),
    "rgba": ("RGBA", {}),
    "16bit": ("I;16", {}),
    "bilevel": ("1", {}),
}
OTHER_FORMATS = {"lossy.webp": "WEBP", "scan.tiff": "TIFF", "old.bmp": "BMP"}


def test_png_modes_are_flipped_losslessly(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "in"
    sources = {
        stem: make_image(folder / f"{stem}.png", mode, (37, 23), **save)
        for stem, (mode, save) in MODES.items()
    }
    for name in OTHER_FORMATS:  # a lossy WebP is flipped into a lossless one: no new loss
        make_image(folder / name, "RGB", (37, 23))
    result = run_lltd("flip", folder, "-j", "1")
    assert result.returncode == 0, result.stderr
    for stem, source in sources.items():
        with Image.open(source) as src, Image.open(folder / f"{stem}_f.png") as out:
            assert src.mode == MODES[stem][0] or (stem == "16bit" and src.mode.startswith("I"))
            assert out.mode == src.mode, stem
            assert out.getpalette() == src.getpalette(), stem
            assert out.info.get("transparency") == src.info.get("transparency"), stem
            got, want = np.asarray(out), np.asarray(src.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        np.testing.assert_array_equal(got, want, err_msg=stem)
        assert not np.array_equal(got, decoded(source)), stem  # it really is flipped
    for name, fmt in OTHER_FORMATS.items():
        source = folder / name
        out = source.with_name(flip_name(source))
        with Image.open(out) as image:
            assert image.format == fmt, name
        np.testing.assert_array_equal(decoded(out), flipped(source), err_msg=name)
    assert decoded(folder / "16bit_f.png").max() > 255  # still 16 bits deep
    assert "transparency" in Image.open(folder / "palette-trns_f.png").info


def test_vertical_direction(sample_dir: Path, run_lltd: RunLltd, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_lltd(
        "flip", sample_dir, "-j", "1", "-o", out, "--direction", "vertical", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet
    for source in originals(sample_dir):
        if source.suffix != ".png":
            continue
        target = out / source.relative_to(sample_dir).with_name(flip_name(source))
        np.testing.assert_array_equal(
            decoded(target), flipped(source, Image.Transpose.FLIP_TOP_BOTTOM)
        )
        assert not np.array_equal(decoded(target), flipped(source))


def test_output_directory_keeps_subfolders_and_leaves_input_alone(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    before = tree_digests(sample_dir)
    out = tmp_path / "out"
    result = run_lltd("flip", sample_dir, "-j", "1", "-o", out, "--suffix", "-mirror")
    assert result.returncode == 0, result.stderr
    assert tree_digests(sample_dir) == before  # nothing written beside the inputs
    expected = {
        p.relative_to(sample_dir).with_name(flip_name(p, "-mirror")) for p in originals(sample_dir)
    }
    assert {p.relative_to(out) for p in originals(out)} == expected
    assert (out / "more photos" / "rocket launch-mirror.JPEG").is_file()
    np.testing.assert_array_equal(
        decoded(out / "astronaut-mirror.png"), flipped(sample_dir / "astronaut.png")
    )

    # Rerun into the same folder: nothing new, nothing rewritten.
    for path in originals(out):
        os.utime(path, (OLD, OLD))
    again = run_lltd("flip", sample_dir, "-j", "1", "-o", out, "--suffix", "-mirror")
    assert again.returncode == 0, again.stderr
    assert "10 already done" in again.stdout
    assert {p.relative_to(out) for p in originals(out)} == expected
    assert all(p.stat().st_mtime == OLD for p in originals(out))


def test_format_png_is_a_lossless_copy_of_the_decoded_jpeg(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_lltd("flip", sample_dir, "-j", "1", "-o", out, "--format", "png")
    assert result.returncode == 0, result.stderr
    for source in originals(sample_dir):
        target = out / source.relative_to(sample_dir).with_name(flip_name(source, ext=".png"))
        with Image.open(target) as image:
            assert image.format == "PNG"
        np.testing.assert_array_equal(decoded(target), flipped(source))


def test_rerun_is_idempotent_and_force_redoes(
    sample_dir: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    inputs = originals(sample_dir)
    assert run_lltd("flip", sample_dir, "-j", "1").returncode == 0
    flips = [p.with_name(flip_name(p)) for p in inputs]
    for path in flips:
        os.utime(path, (OLD, OLD))
    snapshot = tree_digests(sample_dir)

    report = tmp_path / "again.json"
    again = run_lltd("flip", sample_dir, "-j", "1", "--json", report)
    assert again.returncode == 0, again.stderr
    # The original script flipped its own outputs again into x_f_f; lltd does not.
    assert not [p for p in sample_dir.rglob("*_f_f*")]
    assert tree_digests(sample_dir) == snapshot
    assert all(p.stat().st_mtime == OLD for p in flips)  # existing flips were skipped
    records = json.loads(report.read_text())["files"]
    assert len(records) == len(inputs)
    assert {r["outcome"] for r in records} == {"already_done"}

    forced = run_lltd("flip", sample_dir, "-j", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not [p for p in sample_dir.rglob("*_f_f*")]
    assert all(p.stat().st_mtime > OLD for p in flips)  # every flip was written again
    for source in inputs:
        if source.suffix == ".png":
            np.testing.assert_array_equal(
                decoded(source.with_name(flip_name(source))), flipped(source)
            )


def test_a_missing_flip_is_redone_and_a_lone_f_name_is_an_ordinary_image(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "in"
    a = make_image(folder / "a.png")
    lone = make_image(folder / "scarf_f.png")  # no "scarf.*" beside it: a user's own image
    assert run_lltd("flip", folder, "-j", "1").returncode == 0
    assert (folder / "a_f.png").is_file() and (folder / "scarf_f_f.png").is_file()
    np.testing.assert_array_equal(decoded(folder / "scarf_f_f.png"), flipped(lone))
    (folder / "a_f.png").unlink()
    assert run_lltd("flip", folder, "-j", "1").returncode == 0
    np.testing.assert_array_equal(decoded(folder / "a_f.png"), flipped(a))
    assert not (folder / "a_f_f.png").exists() and not (folder / "scarf_f_f_f.png").exists()


def test_names_with_spaces_and_apostrophes(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "adv's folder"
    source = make_image(folder / SEED_NAME)
    quoted = make_image(folder / 'say "cheese" $HOME; rm -rf x.png')
    result = run_lltd("flip", folder, "-j", "1")
    assert result.returncode == 0, result.stderr
    for path in (source, quoted):
        out = path.with_name(flip_name(path))
        np.testing.assert_array_equal(decoded(out), flipped(path))


def test_parity_with_the_authors_flipped_folder(
    seed_data: Path, run_lltd: RunLltd, tmp_path: Path
) -> None:
    adversarial = tmp_path / "adversarial"
    shutil.copytree(seed_data / "adversarial-deepfool-inception_v3", adversarial)
    out = tmp_path / "flipped"
    result = run_lltd("flip", adversarial, "-j", "1", "-o", out)
    assert result.returncode == 0, result.stderr
    authors = seed_data / "adversarial-flipped"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in authors.iterdir())
    assert (out / SEED_NAME.replace(".png", "_f.png")).is_file()
    for theirs in authors.iterdir():
        np.testing.assert_array_equal(decoded(out / theirs.name), decoded(theirs))


def bad_inputs(folder: Path, make_image: Callable[..., Path]) -> dict[str, str]:
    """Real broken files beside a good one; name -> a word the reason must contain."""
    make_image(folder / "good.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("these are not the pixels you are looking for\n")
    whole = make_image(folder / "whole.png", size=(64, 64)).read_bytes()
    (folder / "whole.png").unlink()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    return {"empty.png": "empty", "notes.jpg": "not an image", "truncated.png": "truncated"}


def test_bad_input_gets_one_line_errors_and_the_rest_is_flipped(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "in"
    reasons = bad_inputs(folder, make_image)
    result = run_lltd("flip", folder)
    assert result.returncode == 1, result.stderr
    for name, word in reasons.items():
        assert_one_line_error(result.stderr, str(folder / name), word)
        assert not list(folder.glob(f"{Path(name).stem}_f*"))
    assert (folder / "good_f.png").is_file()
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_temporaries(folder)


def test_bad_input_with_output_directory_is_quarantined(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    folder = tmp_path / "in"
    reasons = bad_inputs(folder, make_image)
    before = tree_digests(folder)
    out = tmp_path / "out"
    result = run_lltd("flip", folder, "-o", out)
    assert result.returncode == 1, result.stderr
    assert tree_digests(folder) == before
    assert (out / "good_f.png").is_file()
    for name, word in reasons.items():
        assert_one_line_error(result.stderr, str(folder / name), word)
        copy = out / "failed" / name
        assert copy.read_bytes() == (folder / name).read_bytes()
        reason = (out / "failed" / f"{name}.error.txt").read_text()
        assert reason.count("\n") == 1 and name in reason and word in reason
    assert_no_temporaries(out)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--direction", "diagonal"], "--direction"),
        (["--format", "gif"], "--format"),
        (["--suffix", ""], "--suffix"),
        (["--suffix", "a/b"], "--suffix"),
    ],
)
def test_usage_errors_exit_2(
    sample_dir: Path, run_lltd: RunLltd, args: list[str], needle: str
) -> None:
    before = tree_digests(sample_dir)
    result = run_lltd("flip", sample_dir, *args)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "error", needle)
    assert tree_digests(sample_dir) == before


def test_missing_directory_is_a_usage_error(tmp_path: Path, run_lltd: RunLltd) -> None:
    result = run_lltd("flip", tmp_path / "nowhere")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "error", str(tmp_path / "nowhere"))


def test_format_png_name_clash_is_flipped_once_and_stays_idempotent(
    tmp_path: Path, run_lltd: RunLltd, make_image: Callable[..., Path]
) -> None:
    # x.png and x.jpg both want x_f.png; the later one (sorted) gets x.png_f.png (keeps _f).
    folder = tmp_path / "in"
    png = make_image(folder / "x.png")
    jpg = make_image(folder / "x.jpg", quality=95)
    for _ in range(2):
        result = run_lltd("flip", folder, "-j", "1", "--format", "png")
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in folder.iterdir()) == [
            "x.jpg",
            "x.png",
            "x.png_f.png",
            "x_f.png",
        ]
    np.testing.assert_array_equal(decoded(folder / "x_f.png"), flipped(jpg))
    np.testing.assert_array_equal(decoded(folder / "x.png_f.png"), flipped(png))
