"""BPDA in-process on tiny models: the forward pass is the real defense, the backward pass the
surrogate's gradient, and the surrogate's geometry is the kernel's (issue 17 item 3).

A linear "model" makes every gradient known in closed form: d(w . defense(x))/dx is w itself
through the identity, w flipped through a flip, and w blurred through a lossy step (the low-pass
surrogate; sigma 0 is plain BPDA's identity). No trained model is needed, so the mutation
campaign can run these once per mutant in a second or two.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from lltd.defense import kernel  # noqa: E402
from lltd.evaluate.bpda import (  # noqa: E402
    SURROGATE_SIGMA,
    DefendedModel,
    _surrogate_step,
    bpda,
    low_pass,
    surrogate,
    to_pixels,
    to_uint8,
)
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402

pytestmark = pytest.mark.torch

H, W = 12, 18  # not square: a swapped axis shows


def images(count: int = 2, seed: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, H, W, 3), dtype=np.uint8)


class Linear(torch.nn.Module):
    """``w . x`` per image: its gradient with respect to x is w."""

    def __init__(self, seed: int = 9) -> None:
        super().__init__()
        self.weight = torch.from_numpy(np.random.default_rng(seed).normal(size=(3, H, W)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.double() * self.weight).flatten(1).sum(1, keepdim=True)


def gradient(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    pixels = pixels.clone().requires_grad_(True)
    model(pixels).sum().backward()
    return pixels.grad


@pytest.mark.parametrize(("direction", "axis"), [("horizontal", -1), ("vertical", -2)])
def test_the_flip_surrogate_is_the_flip(direction: str, axis: int) -> None:
    image = to_pixels(images(1))
    flipped = _surrogate_step(image, "flip", direction, SURROGATE_SIGMA)
    assert torch.equal(flipped, torch.flip(image, dims=(axis,)))


@pytest.mark.parametrize(
    ("scale", "offset"),
    [(0.5, (0.25, 0.75)), (0.7, (1.0, 0.0)), (0.34, (0.0, 1.0)), (0.01, (0.5, 0.5))],
)
def test_the_resize_pad_surrogate_places_the_picture_where_the_kernel_does(scale, offset) -> None:
    """An all-white picture: the shrunk block is white and the padding black in both, so their
    masks must match pixel for pixel (size, left and top offsets, the 1-pixel minimum)."""
    white = np.full((H, W, 3), 255, dtype=np.uint8)
    real = np.asarray(kernel.resize_pad(Image.fromarray(white), scale, offset))
    approx = to_uint8(
        _surrogate_step(to_pixels(white[None]), "resize-pad", (scale, offset), SURROGATE_SIGMA)
    )
    assert approx.shape == (1, H, W, 3)
    assert np.array_equal(real[..., 0] > 127, approx[0, ..., 0] > 127)
    assert 0 < (real[..., 0] > 127).sum() < H * W


@pytest.mark.parametrize("scale", [1.0, 1.02])
def test_a_resize_pad_that_keeps_the_size_is_the_identity(scale: float) -> None:
    image = to_pixels(images(1))
    assert _surrogate_step(image, "resize-pad", (scale, (0.3, 0.6)), SURROGATE_SIGMA) is image


def test_lossy_steps_are_a_low_pass_and_sigma_0_is_plain_bpda() -> None:
    pixels = to_pixels(images())
    webp = make_defense("webp", DefenseParameters())
    both = make_defense("webp+flip", DefenseParameters())
    blurred = low_pass(pixels, SURROGATE_SIGMA)
    assert torch.equal(_surrogate_step(pixels, "webp", 60, SURROGATE_SIGMA), blurred)
    assert torch.equal(surrogate(webp, pixels, webp.draws(2, None)), blurred)
    assert torch.equal(
        surrogate(both, pixels, both.draws(2, None)), torch.flip(blurred, dims=(-1,))
    )
    # Bit depth is not a low-pass filter: the identity through it.
    assert _surrogate_step(pixels, "bit-depth", 4, SURROGATE_SIGMA) is pixels
    # sigma 0: the identity through the lossy steps, and an all-lossy defense skips the loop.
    assert _surrogate_step(pixels, "webp", 60, 0) is pixels
    assert surrogate(webp, pixels, webp.draws(2, None), 0) is pixels
    flipped = surrogate(both, pixels, both.draws(2, None), 0)
    assert torch.equal(flipped, torch.flip(pixels, dims=(-1,)))


@pytest.mark.parametrize("name", ["webp", "flip", "webp+flip", "jpeg"])
def test_the_forward_pass_is_exactly_the_real_defense_on_8_bit_pixels(name: str) -> None:
    defense = make_defense(name, DefenseParameters())
    batch = images()
    pixels = to_pixels(batch).double() + 0.3 / 255  # not on the 8-bit grid: rounded first
    out = bpda(defense, pixels, defense.draws(2, None))
    assert out.dtype == torch.float64 and out.shape == pixels.shape
    assert np.array_equal(to_uint8(out), defense.batch(batch, draws=defense.draws(2, None)))


@pytest.mark.parametrize("sigma", [0, SURROGATE_SIGMA])
@pytest.mark.parametrize(
    ("name", "flipped", "lossy"),
    [
        ("webp", False, True),
        ("jpeg", False, True),
        ("flip", True, False),
        ("webp+flip", True, True),
    ],
)
def test_the_backward_pass_is_the_surrogates_gradient(
    name: str, flipped: bool, lossy: bool, sigma: float
) -> None:
    defense = make_defense(name, DefenseParameters())
    model = Linear()
    defended = DefendedModel(model, defense, sigma=sigma)
    grad = gradient(defended, to_pixels(images()).double())
    expected = torch.flip(model.weight, dims=(-1,)) if flipped else model.weight
    if lossy and sigma:
        # J^T w with J the blur: the blur's transpose applied to w (the flip commutes with it
        # up to the kernel's symmetry, so the flip is applied first here as it is in J^T).
        start = torch.zeros(1, 3, H, W, dtype=torch.float64, requires_grad=True)
        (low_pass(start, sigma) * expected).sum().backward()
        expected = start.grad[0]
    assert torch.allclose(grad, expected.expand_as(grad))


def test_the_identity_defense_is_not_wrapped_at_all() -> None:
    none = make_defense("none", DefenseParameters())
    pixels = to_pixels(images())
    assert bpda(none, pixels, none.draws(2, None)) is pixels


def test_a_randomised_defense_draws_per_call_from_a_seeded_generator() -> None:
    flip_random = make_defense("flip-random", DefenseParameters())
    pixels = to_pixels(images(16)).double()
    model = Linear()
    first = gradient(DefendedModel(model, flip_random), pixels)
    again = gradient(DefendedModel(model, flip_random), pixels)  # the default generator is seeded
    assert torch.equal(first, again)
    axes = {"h" if torch.allclose(g, torch.flip(model.weight, dims=(-1,))) else "v" for g in first}
    assert axes == {"h", "v"}  # each image its own draw
    model_rng = DefendedModel(model, flip_random, np.random.default_rng(0))
    assert torch.equal(gradient(model_rng, pixels), first)
    # Draws given explicitly are used as they are.
    draws = flip_random.draws(16, np.random.default_rng(3))
    fixed = DefendedModel(model, flip_random, np.random.default_rng(77))
    pinned = pixels.clone().requires_grad_(True)
    fixed(pinned, draws).sum().backward()
    vertical = [d.flip == "vertical" for d in draws]
    for grad, is_vertical in zip(pinned.grad, vertical, strict=True):
        assert torch.allclose(grad, torch.flip(model.weight, dims=(-2 if is_vertical else -1,)))


@pytest.mark.parametrize(("sigma", "radius"), [(1.5, 5), (0.3, 1), (1.0, 3)])
def test_the_low_pass_is_a_gaussian_of_that_width_cut_at_three_sigma(sigma, radius) -> None:
    size = 2 * radius + 7
    impulse = torch.zeros(1, 3, size, size, dtype=torch.float64)
    impulse[..., size // 2, size // 2] = 1.0
    blurred = low_pass(impulse, sigma)[0, 0]
    x = np.arange(-radius, radius + 1)
    g = np.exp(-(x**2) / (2 * sigma**2))
    g /= g.sum()
    expected = np.zeros((size, size))
    c = size // 2
    expected[c - radius : c + radius + 1, c - radius : c + radius + 1] = np.outer(g, g)
    assert np.allclose(blurred.numpy(), expected, atol=1e-7)
    assert (blurred.numpy()[expected == 0] == 0).all()  # nothing beyond the cut
