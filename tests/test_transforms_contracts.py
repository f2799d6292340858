"""``lltd.transforms``, the in-memory API: what each public name promises, exactly.

One small generated picture (no two columns or rows alike, so every flip shows), exact pixels.
The WebP reference is Pillow's own encoder called here (quality 60, method 4: the paper's);
the random draws are checked against the documented source of each (``rng`` when given, else
``settings.rng(key)``), with flips alone so that each draw is visible in the pixels.
"""

from __future__ import annotations

import dataclasses
import io
import random
import typing
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lltd.transforms import (
    DIRECTIONS,
    ORDERS,
    Defend,
    DefenseSettings,
    Direction,
    Flip,
    Order,
    WebPRoundTrip,
    defend,
    defend_image,
    is_tensor,
)


def picture(mode: str = "RGB") -> Image.Image:
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([(x * 8) % 256, (y * 10) % 256, (x * y * 7 + (x ^ y) * 13) % 256], -1)
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    return image if mode == "RGB" else image.convert(mode)


def webp(image: Image.Image, quality: float = 60, method: int = 4) -> np.ndarray:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=method)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB"))


FLIPPED = {"horizontal": lambda a: a[:, ::-1], "vertical": lambda a: a[::-1]}

#: Flips alone, drawn per image: the draw is read off the pixels.
RANDOM_FLIP = DefenseSettings(quality=None, flip="random", seed=7)


def first_flip(rng: random.Random) -> str:
    flip = RANDOM_FLIP.draw(rng).flip
    assert flip is not None
    return flip


def key_drawing_apart() -> str:
    """A file name whose keyed draw differs from the seed's own first draw (and so tells them
    apart); the first of a fixed list."""
    unkeyed = first_flip(RANDOM_FLIP.rng())
    return next(k for k in ("a.png", "b.png", "c.png") if first_flip(RANDOM_FLIP.rng(k)) != unkeyed)


def rng_drawing_apart(key: str) -> int:
    """A seed for a caller's ``rng`` whose first draw differs from ``key``'s."""
    keyed = first_flip(RANDOM_FLIP.rng(key))
    return next(n for n in range(10) if first_flip(random.Random(n)) != keyed)


def test_the_direction_and_order_types_name_exactly_the_accepted_values() -> None:
    assert typing.get_args(Direction) == DIRECTIONS == ("horizontal", "vertical")
    assert typing.get_args(Order) == ORDERS == ("webp-flip", "flip-webp")


def test_is_tensor_takes_torch_tensors_and_their_subclasses_by_name_only() -> None:
    torch = pytest.importorskip("torch")
    assert is_tensor(torch.zeros(3, 2, 2))
    assert is_tensor(torch.nn.Parameter(torch.zeros(2)))  # a subclass: found in the MRO
    assert not is_tensor(torch.Size([3, 2, 2]))  # torch's, but no tensor
    assert not is_tensor(np.zeros((2, 2, 3), np.uint8))
    assert not is_tensor(picture())
    assert not is_tensor(type("Tensor", (), {})())  # another library's Tensor


def test_flip_is_horizontal_by_default_and_exact_in_either_direction() -> None:
    image = picture()
    pixels = np.asarray(image)
    assert Flip() == Flip("horizontal")
    np.testing.assert_array_equal(np.asarray(Flip()(image)), pixels[:, ::-1])
    np.testing.assert_array_equal(np.asarray(Flip("vertical")(image)), pixels[::-1])


def test_flips_compose_twice_the_same_is_the_identity_both_is_a_half_turn() -> None:
    image = picture()
    pixels = np.asarray(image)
    np.testing.assert_array_equal(np.asarray(Flip()(Flip()(image))), pixels)
    both = Flip("vertical")(Flip("horizontal")(image))
    np.testing.assert_array_equal(np.asarray(both), pixels[::-1, ::-1])
    np.testing.assert_array_equal(np.asarray(both), np.asarray(image.rotate(180)))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_flip_keeps_the_mode_and_moves_every_pixel_unchanged(mode: str) -> None:
    if mode == "I;16":  # (Pillow 13's L.point(..., "I;16") crashes the interpreter)
        image = Image.fromarray(np.asarray(picture("L")).astype(np.uint16) * 257)
    else:
        image = picture(mode)
    assert image.mode == mode
    out = Flip()(image)
    assert out.mode == image.mode and out.size == image.size
    np.testing.assert_array_equal(np.asarray(out), np.asarray(image)[:, ::-1])
    if mode == "P":
        assert out.getpalette() == image.getpalette()


def test_the_callables_are_frozen_values() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Flip().direction = "vertical"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        WebPRoundTrip().quality = 10  # type: ignore[misc]
    assert {Flip(), Flip("horizontal"), WebPRoundTrip(), WebPRoundTrip(60, 4)} == {
        Flip(),
        WebPRoundTrip(),
    }


def test_webp_round_trip_defaults_to_quality_60_method_4_exactly() -> None:
    image = picture()
    assert WebPRoundTrip() == WebPRoundTrip(quality=60, method=4)
    out = WebPRoundTrip()(image)
    assert out.size == image.size
    np.testing.assert_array_equal(np.asarray(out.convert("RGB")), webp(image))
    # Neighbouring settings give other pixels: the defaults are really these two.
    assert not np.array_equal(webp(image), webp(image, 61))
    assert not np.array_equal(webp(image), webp(image, 60, 5))


def test_webp_round_trip_passes_quality_and_method_through() -> None:
    image = picture()
    out = WebPRoundTrip(quality=35, method=6)(image)
    np.testing.assert_array_equal(np.asarray(out.convert("RGB")), webp(image, 35, 6))


def test_defend_image_defaults_are_the_paper_webp_q60_m4_then_a_horizontal_flip() -> None:
    image = picture()
    out = defend_image(image)
    assert isinstance(out, Image.Image) and out.size == image.size
    np.testing.assert_array_equal(np.asarray(out.convert("RGB")), webp(image)[:, ::-1])


def test_defend_image_takes_quality_direction_and_order_positionally() -> None:
    image = picture()
    pixels = np.asarray(image)
    np.testing.assert_array_equal(np.asarray(defend_image(image, None, "vertical")), pixels[::-1])
    np.testing.assert_array_equal(np.asarray(defend_image(image, None, None)), pixels)
    flipped_first = defend_image(image, 45, "horizontal", "flip-webp", method=3)
    expected = webp(Image.fromarray(pixels[:, ::-1].copy()), 45, 3)
    np.testing.assert_array_equal(np.asarray(flipped_first.convert("RGB")), expected)


def as_tensor(pixels: np.ndarray) -> Any:  # a torch.Tensor; torch imported only if installed
    torch = pytest.importorskip("torch")
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


KINDS = ["PIL", "array", "tensor"]


def defended_pixels(kind: str, **arguments: object) -> np.ndarray:
    """``defend`` on the picture given as ``kind``; the pixels back as H x W x C."""
    image = picture()
    if kind == "PIL":
        out = defend(image, **arguments)
        assert isinstance(out, Image.Image)
        return np.asarray(out)
    if kind == "array":
        out = defend(np.asarray(image), **arguments)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8
        return out
    tensor = as_tensor(np.asarray(image))
    out = defend(tensor, **arguments)
    assert is_tensor(out) and out.dtype == tensor.dtype and out.shape == tensor.shape
    return out.permute(1, 2, 0).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_defend_without_rng_draws_from_the_settings_keyed_by_the_name(kind: str) -> None:
    key = key_drawing_apart()
    expected = FLIPPED[first_flip(RANDOM_FLIP.rng(key))](np.asarray(picture()))
    np.testing.assert_array_equal(defended_pixels(kind, settings=RANDOM_FLIP, key=key), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_defend_with_an_rng_draws_from_it_whatever_the_key(kind: str) -> None:
    key = key_drawing_apart()
    seed = rng_drawing_apart(key)
    expected = FLIPPED[first_flip(random.Random(seed))](np.asarray(picture()))
    out = defended_pixels(kind, settings=RANDOM_FLIP, key=key, rng=random.Random(seed))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_defend_keywords_change_single_fields_of_the_paper_settings(kind: str) -> None:
    pixels = np.asarray(picture())
    out = defended_pixels(kind, quality=None, flip="vertical")
    np.testing.assert_array_equal(out, pixels[::-1])
    out = defended_pixels(kind, settings=DefenseSettings(quality=None), flip="vertical")
    np.testing.assert_array_equal(out, pixels[::-1])


def test_defend_on_a_float_tensor_keeps_its_dtype_and_values_in_0_1() -> None:
    torch = pytest.importorskip("torch")
    pixels = np.asarray(picture())
    tensor = as_tensor(pixels).to(torch.float32) / 255
    out = defend(tensor, quality=None)
    assert out.dtype == torch.float32 and out.shape == tensor.shape
    torch.testing.assert_close(out, tensor.flip(-1))


def test_defend_on_an_image_of_another_mode_gives_8_bit_rgb() -> None:
    out = defend(picture("L"), quality=None)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(picture("L").convert("RGB"))[:, ::-1])


def test_a_seeded_defend_callable_replays_one_sequence_of_draws_from_construction_on() -> None:
    pixels = np.asarray(picture())
    rng = RANDOM_FLIP.rng()
    directions = [first_flip(rng) for _ in range(8)]
    assert len(set(directions)) == 2  # the sequence shows whether one draw is repeated
    for _ in range(2):  # a second callable with the same settings: the same sequence again
        transform = Defend(RANDOM_FLIP)
        outs = [transform(picture()) for _ in directions]
        for out, direction in zip(outs, directions, strict=True):
            np.testing.assert_array_equal(np.asarray(out), FLIPPED[direction](pixels))


def test_defend_callable_takes_settings_or_single_field_changes() -> None:
    assert Defend().settings == DefenseSettings()
    assert Defend(quality=50, order="flip-webp").settings == DefenseSettings(
        quality=50, order="flip-webp"
    )
    assert Defend(RANDOM_FLIP, flip="vertical").settings == RANDOM_FLIP.with_(flip="vertical")
    pixels = np.asarray(picture())
    np.testing.assert_array_equal(Defend(quality=None)(pixels), pixels[:, ::-1])
    np.testing.assert_array_equal(np.asarray(Defend()(picture())), webp(picture())[:, ::-1])


def test_defend_callable_repr_names_its_settings() -> None:
    settings = DefenseSettings(quality=50, flip="vertical")
    assert repr(Defend(settings)) == f"Defend({settings!r})"
    assert repr(Defend(settings)).startswith("Defend(DefenseSettings(quality=50, flip='vertical',")
