"""The in-memory defense API (``lltd.defend`` and friends) against the paper's formula.

The expected pixels are computed here with Pillow directly (WebP encode at quality q with
method 4, decode, transpose), independently of lltd's code path.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lltd
from lltd.transforms import Defend, Flip, WebPRoundTrip

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"

_TRANSPOSE = {
    "horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
}


def webp_then_decode(image: Image.Image, quality: float = 60) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=4)
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    decoded.load()
    return decoded


def formula(
    image: Image.Image,
    quality: float | None = 60,
    flip: str | None = "horizontal",
    order: str = "webp-flip",
) -> Image.Image:
    """The paper's preprocessing, written out with Pillow only."""

    def compress(img: Image.Image) -> Image.Image:
        return img if quality is None else webp_then_decode(img, quality)

    def mirror(img: Image.Image) -> Image.Image:
        return img if flip is None else img.transpose(_TRANSPOSE[flip])

    steps = (compress, mirror) if order == "webp-flip" else (mirror, compress)
    for step in steps:
        image = step(image)
    return image


def pixels(image: Image.Image, mode: str = "RGB") -> np.ndarray:
    return np.asarray(image.convert(mode))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A real photo, cropped small and non-square (a transposed result would not fit)."""
    with Image.open(SAMPLE_DATA / "astronaut.png") as image:
        return image.convert("RGB").crop((40, 20, 136, 84))


@pytest.mark.parametrize("order", ["webp-flip", "flip-webp"])
def test_defend_pil_equals_formula_for_both_orders(photo: Image.Image, order: str) -> None:
    out = lltd.defend(photo, order=order)
    assert isinstance(out, Image.Image)
    assert out.size == photo.size
    np.testing.assert_array_equal(pixels(out), pixels(formula(photo, order=order)))


def test_the_two_orders_differ(photo: Image.Image) -> None:
    # WebP is not flip-symmetric, so the order of the two steps matters.
    a = pixels(lltd.defend(photo, order="webp-flip"))
    b = pixels(lltd.defend(photo, order="flip-webp"))
    assert not np.array_equal(a, b)
    # ... yet both are the same picture, give or take compression noise.
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


def test_defend_defaults_are_the_paper(photo: Image.Image) -> None:
    explicit = lltd.defend(photo, quality=60, flip="horizontal", order="webp-flip")
    np.testing.assert_array_equal(pixels(lltd.defend(photo)), pixels(explicit))
    # q=60 is lossy: the defended image is not simply the flipped input.
    assert not np.array_equal(pixels(explicit), pixels(photo.transpose(_TRANSPOSE["horizontal"])))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"quality": 30}, {"quality": 30}),
        ({"flip": "vertical"}, {"flip": "vertical"}),
        ({"flip": None}, {"flip": None}),
        ({"quality": None}, {"quality": None}),
    ],
)
def test_defend_options_equal_formula(photo: Image.Image, kwargs: dict, expected: dict) -> None:
    out = lltd.defend(photo, **kwargs)
    np.testing.assert_array_equal(pixels(out), pixels(formula(photo, **expected)))


def test_defend_without_webp_is_an_exact_flip(photo: Image.Image) -> None:
    out = lltd.defend(photo, quality=None)
    np.testing.assert_array_equal(pixels(out), np.asarray(photo)[:, ::-1])


def test_defend_ndarray_rgb(photo: Image.Image) -> None:
    array = np.asarray(photo).copy()
    before = array.copy()
    out = lltd.defend(array)
    assert isinstance(out, np.ndarray)
    assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels(formula(photo)))
    np.testing.assert_array_equal(array, before)  # the input is not modified


def test_defend_ndarray_rgba_keeps_alpha() -> None:
    with Image.open(SAMPLE_DATA / "logo with transparency.png") as image:
        logo = image.convert("RGBA").crop((64, 64, 144, 120))
    assert logo.getchannel("A").getextrema()[0] < 255  # really transparent somewhere
    array = np.asarray(logo)
    out = lltd.defend(array)
    assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels(formula(logo), "RGBA"))
    np.testing.assert_array_equal(out[..., 3], array[:, ::-1, 3])  # alpha is lossless


def test_defend_opaque_rgba_ndarray_keeps_four_channels(photo: Image.Image) -> None:
    # libwebp drops an all-opaque alpha plane; the array must still come back HxWx4.
    array = np.asarray(photo.convert("RGBA"))
    out = lltd.defend(array)
    assert out.shape == array.shape and out.dtype == np.uint8
    assert (out[..., 3] == 255).all()
    np.testing.assert_array_equal(out[..., :3], pixels(formula(photo)))


def test_defend_grayscale_ndarray() -> None:
    with Image.open(SAMPLE_DATA / "cameraman grayscale.png") as image:
        gray = image.crop((100, 50, 180, 110))
    assert gray.mode == "L"
    array = np.asarray(gray)
    out = lltd.defend(array)
    assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, pixels(formula(gray), "L"))
    # A single channel given as HxWx1 comes back as HxWx1 with the same pixels.
    out3 = lltd.defend(array[..., None])
    assert out3.shape == (*array.shape, 1)
    np.testing.assert_array_equal(out3[..., 0], out)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16"])
def test_defend_pil_other_modes(mode: str, photo: Image.Image) -> None:
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
        assert image.mode == "I;16"
        reference = photo.convert("L")  # 16-bit pixels scaled back to 8 bits
    else:
        image = photo.convert(mode)
        reference = image.convert("RGBA" if mode == "RGBA" else "RGB")
    out = lltd.defend(image)
    assert isinstance(out, Image.Image) and out.size == image.size
    target = "RGBA" if mode == "RGBA" else "RGB"
    np.testing.assert_array_equal(pixels(out, target), pixels(formula(reference), target))


def test_callable_classes_match_the_functions(photo: Image.Image) -> None:
    np.testing.assert_array_equal(pixels(Flip()(photo)), np.asarray(photo)[:, ::-1])
    np.testing.assert_array_equal(pixels(Flip("vertical")(photo)), np.asarray(photo)[::-1])
    np.testing.assert_array_equal(
        pixels(WebPRoundTrip(quality=40)(photo)), pixels(webp_then_decode(photo, 40))
    )
    d = Defend(quality=50, order="flip-webp")
    np.testing.assert_array_equal(
        pixels(d(photo)), pixels(formula(photo, quality=50, order="flip-webp"))
    )
    np.testing.assert_array_equal(d(np.asarray(photo)), pixels(d(photo)))


@pytest.mark.parametrize(
    ("array", "error"),
    [
        (np.zeros((8, 8, 3), np.float32), TypeError),
        (np.zeros((8, 8, 2), np.uint8), TypeError),
        (np.zeros((2, 8, 8, 3), np.uint8), TypeError),
        (np.zeros(8, np.uint8), TypeError),
    ],
)
def test_defend_rejects_bad_arrays(array: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error, match="defend"):
        lltd.defend(array)


def test_defend_rejects_bad_options(photo: Image.Image) -> None:
    with pytest.raises(ValueError, match="order"):
        lltd.defend(photo, order="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="direction"):
        lltd.defend(photo, flip="diagonal")  # type: ignore[arg-type]


def test_import_lltd_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, lltd, lltd.transforms\n"
        "lltd.defend(__import__('numpy').zeros((4, 4, 3), 'uint8'))\n"
        "heavy = {'torch', 'torchvision', 'foolbox', 'dask', 'matplotlib'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
