"""The BPDA helpers' pixel conversions: what an attacked float image becomes as a saved PNG."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lltd.evaluate.bpda import to_pixels, to_uint8  # noqa: E402

pytestmark = pytest.mark.torch


def test_to_uint8_rounds_and_clamps_like_a_saved_png() -> None:
    pixels = torch.tensor([-0.5, 0.0, 0.5 / 255, 0.6 / 255, 0.5, 1.0, 1.5]).view(1, 1, 1, 7)
    pixels = pixels.expand(1, 3, 1, 7)
    saved = to_uint8(pixels)
    assert saved.dtype == np.uint8 and saved.shape == (1, 1, 7, 3)
    assert saved[0, 0, :, 0].tolist() == [0, 0, 0, 1, 128, 255, 255]


def test_to_pixels_and_back_is_the_identity_on_uint8() -> None:
    images = np.random.default_rng(3).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    pixels = to_pixels(images)
    assert pixels.shape == (2, 3, 5, 4) and pixels.dtype == torch.float32
    assert float(pixels.min()) >= 0 and float(pixels.max()) <= 1
    assert np.array_equal(to_uint8(pixels), images)
