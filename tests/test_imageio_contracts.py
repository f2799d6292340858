"""The one safe image reader (lltd.imaging.imageio), in-process: what it refuses and in which
words, and how every Pillow mode becomes 8-bit RGB or RGBA (deep images scaled, not clipped)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from lltd.common.errors import ImageError
from lltd.imaging.imageio import apply_orientation, open_image, to_8bit_rgb


def _png(path: Path, size: tuple[int, int] = (4, 3), mode: str = "RGB") -> Path:
    Image.new(mode, size).save(path, format="PNG")
    return path


def _refusal(path: Path, **kwargs: object) -> str:
    with pytest.raises(ImageError) as raised:
        open_image(path, **kwargs)  # type: ignore[arg-type]
    return str(raised.value)


def test_a_missing_file_is_refused_as_cannot_read_with_the_systems_reason(tmp_path: Path) -> None:
    assert _refusal(tmp_path / "gone.png") == "cannot read: No such file or directory"


def test_a_folder_or_fifo_is_refused_as_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.png")
    assert _refusal(tmp_path / "fifo.png") == "not a regular file"
    assert _refusal(tmp_path) == "not a regular file"


def test_an_empty_file_is_refused_as_empty_and_a_one_byte_file_as_not_an_image(
    tmp_path: Path,
) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    assert _refusal(tmp_path / "empty.png") == "empty file (0 bytes)"
    (tmp_path / "one.png").write_bytes(b"\x89")
    assert _refusal(tmp_path / "one.png") == "not an image, or a format Pillow cannot read"


def test_bytes_given_are_decoded_from_memory_and_empty_bytes_refused(tmp_path: Path) -> None:
    data = _png(tmp_path / "a.png").read_bytes()
    elsewhere = tmp_path / "not-read.png"  # the path is a name only: it does not exist
    assert open_image(elsewhere, data=data).size == (4, 3)
    assert _refusal(elsewhere, data=b"") == "empty file (0 bytes)"
    assert _refusal(elsewhere, data=b"\x89") == "not an image, or a format Pillow cannot read"


def test_the_pixel_limit_takes_exactly_max_pixels_and_refuses_one_more(tmp_path: Path) -> None:
    path = _png(tmp_path / "a.png", (4, 3))
    assert open_image(path, max_pixels=12).size == (4, 3)
    assert _refusal(path, max_pixels=11) == (
        "4x3 = 12 pixels exceeds the limit of 11 (--max-pixels)"
    )
    assert open_image(path, max_pixels=None).size == (4, 3)


def test_pillows_own_bomb_check_is_lifted_so_max_pixels_is_the_only_limit(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("1", (20000, 10000)).save(path)  # 200 M pixels: over Pillow's 179 M bomb limit
    assert open_image(path, max_pixels=None, load=False).size == (20000, 10000)


def test_a_truncated_image_is_refused_as_corrupt_when_loaded_and_opens_when_not(
    tmp_path: Path,
) -> None:
    whole = tmp_path / "whole.png"
    Image.effect_noise((64, 64), 50).convert("RGB").save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert _refusal(cut).startswith("corrupt or truncated image: ")
    assert open_image(cut, load=False).size == (64, 64)  # the header alone is fine


def _animated(path: Path, frames: int) -> Path:
    images = [Image.new("RGB", (2, 2), (i * 40, 0, 0)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], format="GIF")
    return path


def test_an_animated_image_is_refused_with_its_frame_count_unless_animation_is_allowed(
    tmp_path: Path,
) -> None:
    path = _animated(tmp_path / "two.gif", 2)
    assert _refusal(path) == (
        "animated image (2 frames): only single pictures are converted; "
        "not converted (the original is kept)"
    )
    assert getattr(open_image(path, animated=True), "n_frames", 1) == 2


def test_a_gif_of_one_frame_is_a_single_picture(tmp_path: Path) -> None:
    assert open_image(_animated(tmp_path / "one.gif", 1)).size == (2, 2)


def _turned(path: Path) -> Path:
    image = Image.new("RGB", (4, 2), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    image.save(path, format="JPEG", exif=exif)
    return path


def test_the_exif_orientation_is_applied_only_when_asked(tmp_path: Path) -> None:
    path = _turned(tmp_path / "turned.jpg")
    assert open_image(path).size == (4, 2)
    upright = open_image(path, auto_orient=True)
    assert upright.size == (2, 4) and upright.getexif().get(0x0112) is None


def test_an_image_with_no_turn_to_apply_is_returned_as_opened(tmp_path: Path) -> None:
    image = Image.open(_png(tmp_path / "a.png"))
    assert apply_orientation(image) is image and image.format == "PNG"


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_rgb_and_rgba_pass_through_unchanged(mode: str) -> None:
    image = Image.new(mode, (2, 2))
    assert to_8bit_rgb(image) is image


def _deep(mode: str, values: list[int | float]) -> Image.Image:
    image = Image.new(mode, (len(values), 1))
    image.putdata(values)
    return image


def test_16_bit_grey_is_scaled_by_1_in_256_not_clipped() -> None:
    out = to_8bit_rgb(_deep("I;16", [0, 255, 256, 32768, 65535]))
    assert out.mode == "RGB"
    assert [out.getpixel((x, 0)) for x in range(5)] == [
        (0, 0, 0), (0, 0, 0), (1, 1, 1), (128, 128, 128), (255, 255, 255),
    ]  # fmt: skip


def test_32_bit_integer_grey_within_0_255_is_kept_and_beyond_is_scaled() -> None:
    kept = to_8bit_rgb(_deep("I", [0, 1, 254, 255]))
    assert [kept.getpixel((x, 0))[0] for x in range(4)] == [0, 1, 254, 255]
    wide = to_8bit_rgb(_deep("I", [0, 256, 512, 65535]))
    assert [wide.getpixel((x, 0))[0] for x in range(4)] == [0, 1, 2, 255]
    negative = to_8bit_rgb(_deep("I", [-1, 0, 255]))  # out of 0-255 below: scaled too
    assert [negative.getpixel((x, 0))[0] for x in range(3)] == [0, 0, 0]


def test_float_grey_up_to_1_is_scaled_by_255_and_beyond_1_is_taken_as_is() -> None:
    unit = to_8bit_rgb(_deep("F", [0.0, 0.999, 1.0]))  # 0.999 x 255 = 254.7: truncated
    assert unit.mode == "RGB" and [unit.getpixel((x, 0))[0] for x in range(3)] == [0, 254, 255]
    wide = to_8bit_rgb(_deep("F", [0.0, 1.5, 200.0]))
    assert [wide.getpixel((x, 0))[0] for x in range(3)] == [0, 1, 200]


@pytest.mark.parametrize(("mode", "expected"), [
    ("LA", "RGBA"), ("PA", "RGBA"), ("RGBa", "RGBA"), ("RGBX", "RGB"),
    ("L", "RGB"), ("1", "RGB"), ("CMYK", "RGB"), ("P", "RGB"), ("YCbCr", "RGB"),
])  # fmt: skip
def test_every_mode_becomes_rgb_or_rgba_with_alpha_kept_where_it_has_one(
    mode: str, expected: str
) -> None:
    assert to_8bit_rgb(Image.new(mode, (2, 2))).mode == expected


def test_a_palette_image_with_a_transparent_colour_keeps_its_transparency() -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 0, 0])
    image.putdata([0, 1])
    image.info["transparency"] = 0
    out = to_8bit_rgb(image)
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0
    assert out.getpixel((1, 0)) == (255, 0, 0, 255)


def test_la_keeps_grey_and_alpha_values() -> None:
    image = Image.new("LA", (1, 1), (100, 50))
    assert to_8bit_rgb(image).getpixel((0, 0)) == (100, 100, 100, 50)


def test_decoding_from_memory_reads_nothing_from_disk(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("L", (3, 3), 7).save(buffer, format="PNG")
    assert open_image(tmp_path / "x.png", data=buffer.getvalue()).getpixel((0, 0)) == 7


def test_32_bit_integer_grey_reaching_256_is_scaled() -> None:
    out = to_8bit_rgb(_deep("I", [0, 128, 256]))  # one over 255: the whole image is scaled
    assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 0, 1]


def test_float_grey_just_above_1_is_taken_as_is() -> None:
    out = to_8bit_rgb(_deep("F", [0.0, 1.5]))
    assert [out.getpixel((x, 0))[0] for x in range(2)] == [0, 1]


@pytest.mark.parametrize(
    ("mode", "colour"), [("LA", (9, 255)), ("PA", (0, 255)), ("RGBa", (1, 2, 3, 255))]
)
def test_a_mode_with_alpha_stays_rgba_even_when_fully_opaque(mode: str, colour: tuple) -> None:
    assert to_8bit_rgb(Image.new(mode, (2, 2), colour)).mode == "RGBA"
