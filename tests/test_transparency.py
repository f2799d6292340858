"""lltd.imaging.transparency in-process, mode by mode, one step from each threshold (fast enough to
run once per mutant; the CLI's use of it is test_compress_boundaries.py's transparency test)."""

from __future__ import annotations

import pytest
from PIL import Image

from lltd.imaging.transparency import has_transparency


def with_one_pixel(mode: str, fill: object, pixel: object) -> Image.Image:
    image = Image.new(mode, (20, 10), fill)
    image.putpixel((13, 7), pixel)
    return image


ALPHA_CASES = [
    ("RGBA", (10, 20, 30, 255), (10, 20, 30, 254)),
    ("LA", (90, 255), (90, 254)),
    ("La", (90, 255), (90, 254)),
    ("RGBa", (10, 20, 30, 255), (10, 20, 30, 254)),
    ("PA", (3, 255), (3, 254)),
]


@pytest.mark.parametrize(("mode", "opaque", "almost"), ALPHA_CASES, ids=[c[0] for c in ALPHA_CASES])
def test_one_pixel_of_alpha_254_is_transparency_all_255_is_not(mode, opaque, almost) -> None:
    assert not has_transparency(Image.new(mode, (20, 10), opaque))
    assert has_transparency(with_one_pixel(mode, opaque, almost))
    assert has_transparency(with_one_pixel(mode, opaque, (*almost[:-1], 0)))


@pytest.mark.parametrize(
    ("mode", "fill", "key"),
    [("RGB", (90, 90, 90), (200, 10, 10)), ("L", 90, 200)],
    ids=["RGB", "L"],
)
def test_a_trns_key_counts_only_when_a_pixel_has_that_colour(mode, fill, key) -> None:
    absent = Image.new(mode, (20, 10), fill)
    absent.info["transparency"] = key
    assert not has_transparency(absent)
    present = with_one_pixel(mode, fill, key)
    present.info["transparency"] = key
    assert has_transparency(present)
    assert not has_transparency(with_one_pixel(mode, fill, key))  # no key: the colour is opaque


def palette(transparency: object | None, used: int) -> Image.Image:
    image = Image.new("P", (20, 10), 0)
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 9))
    image.putpixel((4, 4), used)
    if transparency is not None:
        image.info["transparency"] = transparency
    return image


def test_a_palette_image_is_transparent_only_where_a_pixel_uses_a_transparent_entry() -> None:
    assert not has_transparency(palette(None, 1))
    assert not has_transparency(palette(2, 1))  # entry 2 is transparent, no pixel uses it
    assert has_transparency(palette(1, 1))
    assert has_transparency(palette(bytes([255, 254, 255]), 1))  # entry 1 at alpha 254
    assert not has_transparency(palette(bytes([255, 255, 0]), 1))


@pytest.mark.parametrize("mode", ["1", "I", "I;16", "F", "CMYK", "YCbCr", "RGBX"])
def test_modes_without_alpha_are_never_transparent(mode: str) -> None:
    image = Image.new(mode, (8, 8))
    image.info["transparency"] = 0  # even with a stray key, these modes have no transparency
    assert not has_transparency(image)
