"""The defense's building blocks (``lltd.defense.kernel``): their defaults and their one-line
refusals, exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lltd.codecs.options import EncodeOptions
from lltd.codecs.registry import get_codec
from lltd.defense import kernel
from lltd.defense.settings import DefenseSettings


def picture(width: int = 9, height: int = 6) -> Image.Image:
    pixels = np.arange(width * height * 3, dtype=np.uint8).reshape(height, width, 3) * 7
    return Image.fromarray(pixels)


def test_flip_is_horizontal_by_default() -> None:
    image = picture()
    expected = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert kernel.flip(image).tobytes() == expected.tobytes()


def test_an_unknown_flip_direction_is_one_line_naming_the_directions() -> None:
    with pytest.raises(ValueError) as raised:
        kernel.flip(picture(), "diagonal")
    assert str(raised.value) == "flip direction must be one of horizontal, vertical, got 'diagonal'"


def test_the_webp_round_trip_defaults_to_the_papers_quality_60_at_method_4() -> None:
    image = picture(32, 24)
    data = get_codec("pillow").encode(image, EncodeOptions(quality=60, method=4))
    expected = Image.open(io.BytesIO(data))
    assert kernel.webp_roundtrip(image).tobytes() == expected.tobytes()


def test_resize_pad_keeps_at_least_one_pixel_each_way() -> None:
    wide = Image.new("L", (40, 3), 200)
    out = np.asarray(kernel.resize_pad(wide, 0.1, (0.0, 0.0))).astype(int)
    assert out.shape == (3, 40)
    assert out[:1, :4].tolist() == [[200] * 4] and out.sum() == 200 * 4  # 4 x 1, the rest zeros
    tall = np.asarray(kernel.resize_pad(Image.new("L", (3, 40), 200), 0.1, (0.0, 0.0)))
    assert tall.astype(int).sum() == 200 * 4


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 4, 3), dtype=np.float32), np.zeros((2, 4, 4, 3), dtype=np.uint8)],
    ids=["float", "4-d"],
)
def test_an_array_of_another_kind_is_refused_in_one_line(array: np.ndarray) -> None:
    with pytest.raises(TypeError) as raised:
        kernel.apply_array(array, DefenseSettings())
    assert str(raised.value) == (
        "defend() takes a PIL image, an HxW / HxWxC uint8 array or a tensor"
    )


def test_an_array_of_two_channels_is_refused_naming_the_count() -> None:
    with pytest.raises(TypeError) as raised:
        kernel.apply_array(np.zeros((4, 4, 2), dtype=np.uint8), DefenseSettings())
    assert str(raised.value) == "defend() takes 1, 3 or 4 channels, got 2"


def test_an_unknown_step_is_one_line_naming_the_steps() -> None:
    with pytest.raises(ValueError) as raised:
        kernel.apply_step(np.zeros((4, 4, 3), dtype=np.uint8), "blur", 1)
    assert str(raised.value) == (
        "unknown defense step 'blur'; the steps are webp, flip and resize-pad"
    )


def test_settings_of_another_type_are_refused_naming_the_type() -> None:
    with pytest.raises(TypeError) as raised:
        kernel.resolve({"quality": 60}, {})  # type: ignore[arg-type]
    assert str(raised.value) == "settings must be a DefenseSettings, got dict"
