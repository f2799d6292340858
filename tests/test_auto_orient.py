"""``--auto-orient``: the EXIF orientation applied to the pixels before encoding; tag dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from webp_helpers import CWEBP

ORIENTATION = 0x0112
BACKENDS = ["pillow", "cwebp"] if CWEBP else ["pillow"]


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """A 60x40 JPEG stored sideways with orientation 6 ("rotate 90° clockwise to view")."""
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :20] = (250, 20, 20)  # a red band on the stored picture's left
    pixels[:, 20:] = (20, 20, 250)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "lltd test camera"  # Make: metadata that must survive -metadata exif
    path = folder / "phone.jpg"
    image.save(path, quality=95, exif=exif)
    return path


def upright(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB")).astype(int)


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compress_and_cwebp_turn_the_pixels_only_when_asked(rotated, run_lltd, tmp_path, backend):
    want = upright(rotated)
    assert want.shape == (60, 40, 3)
    out = tmp_path / backend
    base = ["-q", "90", "--backend", backend, "-j", "1"]
    assert (
        run_lltd("compress", rotated.parent, *base, "-o", out / "on", "--auto-orient").returncode
        == 0
    )
    assert run_lltd("compress", rotated.parent, *base, "-o", out / "off").returncode == 0
    on, off = pixels(out / "on" / "phone.webp"), pixels(out / "off" / "phone.webp")
    assert on.shape == (60, 40, 3) and np.abs(on - want).mean() < 6
    assert off.shape == (40, 60, 3)  # cwebp's default: the stored pixels, as cwebp writes them
    single = tmp_path / f"{backend}.webp"
    result = run_lltd(
        "cwebp", "--backend", backend, "--auto-orient", "-q", "90", rotated, "-o", single
    )
    assert result.returncode == 0, result.stderr
    assert pixels(single).shape == (60, 40, 3)


def test_the_tag_is_dropped_and_other_exif_kept(rotated, run_lltd, tmp_path):
    out = tmp_path / "o.webp"
    args = ["--auto-orient", "-q", "90", "-metadata", "exif", rotated, "-o", out]
    assert run_lltd("cwebp", *args).returncode == 0
    with Image.open(out) as image:
        exif = image.getexif()
        assert ORIENTATION not in exif and exif[0x010F] == "lltd test camera"


def test_flip_flips_the_upright_picture(rotated, run_lltd, tmp_path):
    out = tmp_path / "flipped"
    result = run_lltd("flip", rotated.parent, "-o", out, "--auto-orient", "--format", "png")
    assert result.returncode == 0, result.stderr
    got = pixels(out / "phone_f.png")
    assert got.shape == (60, 40, 3)
    assert np.abs(got - upright(rotated)[:, ::-1]).mean() < 1


def test_defend_orients_by_default(rotated, run_lltd, tmp_path):
    assert run_lltd("defend", rotated.parent, "-o", tmp_path / "on").returncode == 0
    assert pixels(tmp_path / "on" / "phone.png").shape == (60, 40, 3)
    off = tmp_path / "off"
    assert run_lltd("defend", rotated.parent, "-o", off, "--no-auto-orient").returncode == 0
    assert pixels(off / "phone.png").shape == (40, 60, 3)


def test_upright_images_keep_the_cwebp_fast_path(tmp_path, make_image):
    """No orientation to apply: the file is handed to cwebp as it is (same object, format kept)."""
    from lltd.imaging.imageio import open_image

    path = make_image(tmp_path / "plain.png")
    image = open_image(path, load=False, auto_orient=True)
    assert image.format == "PNG"
