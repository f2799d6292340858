"""lltd's defense as ART preprocessors (``lltd.art``, issue 27), in-process on 8 x 8 images:
each factory builds the named defense with its parameters; the forward pass is the real defense
on 8-bit pixels, in the input's dtype; the backward pass is the surrogate at ``sigma``; a seeded
randomised preprocessor draws anew on each call and replays from its seed; ART's flags and
``set_params`` work. (``test_art.py`` runs ART's PGD through it on trained models: minutes.)"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("art", reason="the [art] extra (adversarial-robustness-toolbox) is missing")

from lltd.art import LltdPreprocessor, randomized, webp, webp_flip  # noqa: E402
from lltd.common.errors import UsageError  # noqa: E402
from lltd.evaluate.bpda import surrogate, to_pixels, to_uint8  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402

pytestmark = pytest.mark.torch


def images(count: int = 3, seed: int = 0) -> np.ndarray:
    """N x H x W x 3 uint8 noise, as the defenses take it."""
    return np.random.default_rng(seed).integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)


def test_each_factory_builds_its_defense_with_its_parameters() -> None:
    assert repr(webp()) == "LltdPreprocessor(webp q60, sigma=1.5)"
    assert repr(webp(30)) == "LltdPreprocessor(webp q30, sigma=1.5)"
    assert repr(webp_flip()) == "LltdPreprocessor(webp q60 + flip, sigma=1.5)"
    assert repr(webp_flip(45, sigma=0.5)) == "LltdPreprocessor(webp q45 + flip, sigma=0.5)"
    assert repr(randomized()) == (
        "LltdPreprocessor(webp q40-80 + flip random + resize-pad 0.15, sigma=1.5)"
    )
    assert repr(randomized((20, 30), 0.25)) == (
        "LltdPreprocessor(webp q20-30 + flip random + resize-pad 0.25, sigma=1.5)"
    )
    assert (webp().defense.name, webp_flip().defense.name) == ("webp", "webp+flip")
    assert randomized().defense.name == "randomized"


def test_randomized_refuses_a_band_the_cli_would_refuse() -> None:
    with pytest.raises(UsageError) as caught:
        randomized((80, 40))
    with pytest.raises(UsageError) as expected:
        DefenseParameters(quality_range=(80, 40)).validate()
    assert str(caught.value) == str(expected.value)
    assert str(caught.value).startswith("--quality-range ")


def test_arts_flags_default_to_a_fitted_predict_time_preprocessor() -> None:
    default = webp()
    assert (default.is_fitted, default.apply_fit, default.apply_predict) == (True, False, True)
    assert default.sigma == 1.5 and default.params == ["sigma"]
    other = webp(apply_fit=True, apply_predict=False, sigma=0.0)
    assert (other.is_fitted, other.apply_fit, other.apply_predict) == (True, True, False)
    assert other._device == torch.device("cpu")
    other.set_params(sigma=0.7)  # ART sets what ``params`` names
    assert other.sigma == 0.7


@pytest.mark.parametrize("make", [webp, webp_flip], ids=["webp", "webp+flip"])
def test_forward_is_the_real_defense_on_8_bit_pixels(make) -> None:
    preprocessor = make()
    batch = images()
    labels = np.array([1, 2, 3])
    out, y = preprocessor.forward(to_pixels(batch))
    assert y is labels or y is None
    expected = preprocessor.defense.batch(batch)
    assert out.dtype == torch.float32
    assert np.array_equal(to_uint8(out), expected)
    assert torch.equal(out, torch.from_numpy(expected).permute(0, 3, 1, 2).float() / 255)
    _, passed = preprocessor.forward(to_pixels(batch), labels)
    assert passed is labels


def test_forward_keeps_the_inputs_dtype() -> None:
    pixels = to_pixels(images()).double()
    out, _ = webp_flip().forward(pixels)
    assert out.dtype == torch.float64
    assert torch.equal(out.float(), webp_flip().forward(pixels.float())[0])


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 8, 8, 3), (2, 1, 8, 8), (2, 4, 8, 8)])
def test_forward_refuses_anything_but_n_x_3_x_h_x_w(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError) as caught:
        webp().forward(torch.zeros(shape))
    assert str(caught.value) == f"expected N x 3 x H x W pixels in [0, 1], got shape {shape}"


@pytest.mark.parametrize("sigma", [1.5, 0.6])
def test_backward_is_the_surrogate_at_sigma(sigma: float) -> None:
    preprocessor = webp_flip(sigma=sigma)
    start = to_pixels(images()).requires_grad_(True)
    grad = torch.from_numpy(np.random.default_rng(1).standard_normal(start.shape)).float()
    (through,) = torch.autograd.grad(preprocessor.forward(start)[0], start, grad)
    draws = preprocessor.defense.draws(3, None)
    reference = to_pixels(images()).requires_grad_(True)
    (expected,) = torch.autograd.grad(
        surrogate(preprocessor.defense, reference, draws, sigma), reference, grad
    )
    assert torch.allclose(through, expected, atol=1e-6)
    flipped_only = grad.flip(-1)  # the identity through WebP: what ART would do by default
    assert not torch.allclose(through, flipped_only, atol=1e-3)


def test_a_seeded_randomised_preprocessor_draws_per_call_and_replays() -> None:
    pixels = to_pixels(images(6))
    first = randomized(seed=3)
    a, b = first.forward(pixels)[0], first.forward(pixels)[0]
    assert not torch.equal(a, b)  # a new draw on every call: EOT
    again = randomized(seed=3)
    assert torch.equal(again.forward(pixels)[0], a) and torch.equal(again.forward(pixels)[0], b)
    assert not torch.equal(randomized(seed=4).forward(pixels)[0], a)
    assert torch.equal(randomized().forward(pixels)[0], randomized(seed=0).forward(pixels)[0])


def test_the_preprocessor_wraps_any_lltd_defense() -> None:
    defense = make_defense("jpeg", DefenseParameters(jpeg_quality=50))
    preprocessor = LltdPreprocessor(defense, sigma=2.0)
    assert repr(preprocessor) == "LltdPreprocessor(jpeg q50, sigma=2.0)"
    out, _ = preprocessor.forward(to_pixels(images()))
    assert np.array_equal(to_uint8(out), defense.batch(images()))
