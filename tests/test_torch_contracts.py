"""``lltd.torch`` (issue 27), in-process on 8 x 8 tensors: each image of a batch is the kernel's
defense with its own draw, drawn in batch order; a seeded module replays its sequence from
construction, an unseeded one draws afresh; dtype, shape and device come back as given (floats
clamped and rounded to 8 bits first); the exact refusals; the settings and workers a module is
built with. ``test_torch_transform.py`` checks the pixels against Pillow's formula."""

from __future__ import annotations

import importlib
import os
import random
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lltd.torch as module_under_test  # noqa: E402
from lltd.defense.kernel import apply_array  # noqa: E402
from lltd.defense.settings import DefenseSettings, Draw  # noqa: E402
from lltd.torch import WebPFlip, defend_tensor  # noqa: E402

pytestmark = pytest.mark.torch

DTYPES = "WebPFlip takes uint8 or float tensors"
RANDOM = {"quality_range": (20, 90), "flip": "random", "resize_pad": 0.3}


def noise(*shape: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))


def kernel(images: torch.Tensor, settings: DefenseSettings, draws: list[Draw]) -> torch.Tensor:
    """N x C x H x W uint8 through the kernel, one image and draw at a time."""
    outs = [
        apply_array(image.permute(1, 2, 0).contiguous().numpy(), settings, draw)
        for image, draw in zip(images, draws, strict=True)
    ]
    return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)


def test_each_image_gets_its_own_draw_in_batch_order() -> None:
    settings = DefenseSettings(**RANDOM)
    images = noise(5, 3, 8, 8)
    out = defend_tensor(images, settings, random.Random(7))
    source = random.Random(7)
    draws = [settings.draw(source) for _ in range(5)]
    assert len({(d.quality, d.flip, d.scale) for d in draws}) > 1  # the draws do differ
    assert torch.equal(out, kernel(images, settings, draws))


def test_fixed_settings_are_the_kernel_on_every_image() -> None:
    settings = DefenseSettings(quality=35, flip="vertical")
    images = noise(3, 3, 8, 8)
    draw = Draw(35, "vertical")
    assert torch.equal(defend_tensor(images, settings), kernel(images, settings, [draw] * 3))
    assert torch.equal(defend_tensor(images[1], settings), kernel(images[1:2], settings, [draw])[0])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_a_chw_image_comes_back_chw_in_its_dtype(channels: int) -> None:
    image = noise(channels, 6, 10)
    out = defend_tensor(image, DefenseSettings(quality=50))
    assert (out.shape, out.dtype) == (image.shape, torch.uint8)
    assert torch.equal(out, defend_tensor(image[None], DefenseSettings(quality=50))[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_floats_are_clamped_and_rounded_to_8_bits_and_come_back_over_255(dtype) -> None:
    images = noise(2, 3, 8, 8)
    floats = (images.double() / 255).to(dtype)
    floats[0, 0, 0, 0], floats[1, 1, 1, 1] = -0.5, 1.5  # outside [0, 1]: clamped
    as_uint8 = (floats.float().clamp(0, 1) * 255).round().to(torch.uint8)
    settings = DefenseSettings(quality=40)
    out = defend_tensor(floats, settings)
    assert (out.dtype, out.shape) == (dtype, floats.shape)
    assert torch.equal(out, defend_tensor(as_uint8, settings).to(dtype) / 255)


def test_a_tensor_that_needs_grad_is_taken() -> None:
    floats = (noise(1, 3, 8, 8).float() / 255).requires_grad_(True)
    out = WebPFlip(workers=1)(floats)
    assert not out.requires_grad  # not differentiable, and no graph is built


@pytest.mark.parametrize(
    ("shape", "dtype", "error", "message"),
    [
        ((8, 8), torch.uint8, ValueError, "WebPFlip takes CHW or NCHW tensors, got shape (8, 8)"),
        ((1, 1, 3, 8, 8), torch.uint8, ValueError,
         "WebPFlip takes CHW or NCHW tensors, got shape (1, 1, 3, 8, 8)"),
        ((2, 8, 8), torch.uint8, ValueError, "WebPFlip takes 1, 3 or 4 channels, got 2"),
        ((1, 5, 8, 8), torch.uint8, ValueError, "WebPFlip takes 1, 3 or 4 channels, got 5"),
        ((3, 8, 8), torch.int32, TypeError, f"{DTYPES}, got torch.int32"),
        ((3, 8, 8), torch.bool, TypeError, f"{DTYPES}, got torch.bool"),
    ],
)  # fmt: skip
def test_a_tensor_it_cannot_take_is_one_exact_error(shape, dtype, error, message) -> None:
    with pytest.raises(error) as caught:
        defend_tensor(torch.zeros(shape, dtype=dtype), DefenseSettings())
    assert str(caught.value) == message


def test_workers_share_a_batch_and_give_the_serial_result(monkeypatch) -> None:
    settings = DefenseSettings(**RANDOM)
    images = noise(4, 3, 8, 8)
    serial = defend_tensor(images, settings, random.Random(1))
    pools: list[int] = []
    real = module_under_test.ThreadPoolExecutor

    def counted(workers: int):
        pools.append(workers)
        return real(workers)

    monkeypatch.setattr(module_under_test, "ThreadPoolExecutor", counted)
    assert torch.equal(defend_tensor(images, settings, random.Random(1), workers=8), serial)
    assert torch.equal(defend_tensor(images[:2], settings, random.Random(1), workers=2), serial[:2])
    assert pools == [4, 2]  # never more threads than images
    defend_tensor(images[:1], settings, random.Random(1), workers=8)  # one image: no pool
    defend_tensor(images, settings, random.Random(1), workers=1)
    defend_tensor(images, settings, random.Random(1))  # one worker unless asked
    assert pools == [4, 2]


def test_a_seeded_module_replays_its_draws_from_construction() -> None:
    images = noise(3, 3, 8, 8)
    module = WebPFlip(seed=5, workers=1, **RANDOM)
    first, second = module(images), module(images)
    assert not torch.equal(first, second)  # the sequence goes on between calls
    again = WebPFlip(seed=5, workers=1, **RANDOM)
    assert torch.equal(again(images), first) and torch.equal(again(images), second)
    settings = DefenseSettings(seed=5, **RANDOM)
    source = random.Random(5)
    draws = [settings.draw(source) for _ in range(6)]
    assert torch.equal(first, kernel(images, settings, draws[:3]))
    assert torch.equal(second, kernel(images, settings, draws[3:]))


def test_seeded_settings_without_a_generator_draw_one_sequence_from_the_seed() -> None:
    settings = DefenseSettings(seed=5, **RANDOM)
    images = noise(4, 3, 8, 8)
    source = random.Random(5)
    draws = [settings.draw(source) for _ in range(4)]
    assert len(set(draws)) > 1  # one sequence, not the first draw four times
    assert torch.equal(defend_tensor(images, settings), kernel(images, settings, draws))


def test_unseeded_randomised_settings_draw_afresh_on_each_call() -> None:
    images = noise(6, 3, 8, 8)
    module = WebPFlip(workers=1, **RANDOM)
    assert module._rng is None
    outs = {module(images).numpy().tobytes() for _ in range(3)}
    assert len(outs) == 3
    plain = defend_tensor(images, DefenseSettings(**RANDOM))  # no rng given, none in settings
    assert plain.shape == images.shape


def test_the_module_is_built_from_keywords_or_whole_settings() -> None:
    module = WebPFlip(45, "vertical", "flip-webp", method=2)
    assert module.settings == DefenseSettings(quality=45, flip="vertical", order="flip-webp",
                                              method=2)  # fmt: skip
    assert (module.quality, module.flip, module.order, module.method, module.webp) == (
        45, "vertical", "flip-webp", 2, True,
    )  # fmt: skip
    flip_only = WebPFlip(webp=False)
    assert (flip_only.settings.quality, flip_only.webp) == (None, False)
    assert WebPFlip().settings == DefenseSettings()
    whole = DefenseSettings(quality=30, flip=None)
    assert WebPFlip(settings=whole).settings is whole
    changed = WebPFlip(settings=whole, seed=4, quality_range=(10, 20))
    assert changed.settings == DefenseSettings(quality=30, flip=None, seed=4,
                                               quality_range=(10, 20))  # fmt: skip
    assert repr(WebPFlip(settings=whole)) == f"WebPFlip(settings={whole!r})"


def test_settings_of_another_kind_are_refused() -> None:
    with pytest.raises(TypeError) as caught:
        WebPFlip(settings={"quality": 60})  # type: ignore[arg-type]
    assert str(caught.value) == "settings must be a DefenseSettings, got dict"


def test_workers_default_to_the_usable_cores_and_refuse_zero() -> None:
    assert WebPFlip().workers == len(os.sched_getaffinity(0))
    assert WebPFlip(workers=1).workers == 1
    assert WebPFlip(workers=3).workers == 3
    usable = os.sched_getaffinity(0)
    if len(usable) > 1:  # this thread alone on one core (put back below): one worker
        os.sched_setaffinity(0, {min(usable)})
        try:
            assert WebPFlip().workers == 1
        finally:
            os.sched_setaffinity(0, usable)
    for bad in (0, -2):
        with pytest.raises(ValueError) as caught:
            WebPFlip(workers=bad)
        assert str(caught.value) == (
            f"workers must be at least 1 (or None for all cores), got {bad!r}"
        )


@pytest.mark.parametrize("missing", ["torch", "numpy"])
def test_a_light_install_is_told_which_extra_brings_what_is_missing(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # ``import`` raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "lltd.torch")  # imported afresh; put back afterwards
    with pytest.raises(ImportError) as caught:
        importlib.import_module("lltd.torch")
    assert str(caught.value) == (
        f"lltd.torch needs the 'attack' extra ({missing} is not installed): "
        "pip install '.[attack]' in a checkout, or the wheel with [attack]"
    )
    assert caught.value.name == missing
