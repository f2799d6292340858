"""lltd.models.pixels: the pixels a classifier sees. ``preprocess`` resizes the shorter side to
``size / crop_fraction`` (bilinear) and centre-crops ``size`` x ``size``; ``to_8bit`` rounds to the
nearest level; ``Normalized`` puts the normalisation inside the model (EfficientNet-Lite's and
Inception's ``(x - 0.5) / 0.5``, ImageNet's mean and std)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from lltd.models.pixels import (  # noqa: E402
    HALF_MEAN,
    HALF_STD,
    Normalized,
    preprocess,
    to_8bit,
    to_pil,
)


def _gradient(width: int, height: int) -> Image.Image:
    x = np.arange(width, dtype=np.uint16)[None, :, None]
    y = np.arange(height, dtype=np.uint16)[:, None, None]
    rgb = np.concatenate([(x * 7) % 256 + 0 * y, (y * 5) % 256 + 0 * x, (x + y) % 256], axis=2)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def _expected(image: Image.Image, size: int, short: int) -> np.ndarray:
    width, height = image.size
    scale = short / min(width, height)
    if min(width, height) != short:
        image = image.resize(
            (max(short, round(width * scale)), max(short, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


@pytest.mark.parametrize(
    ("width", "height", "size", "crop_fraction", "short"),
    [
        (302, 200, 100, 1.0, 100),  # resized to 151 x 100: an odd margin to centre
        (200, 302, 100, 1.0, 100),
        (300, 256, 224, 224 / 256, 256),  # torchvision's evaluation protocol
        (100, 100, 100, 1.0, 100),  # already the size: the same pixels
        (256, 300, 224, 224 / 256, 256),  # shorter side already 256: only cropped
    ],
)
def test_the_shorter_side_is_resized_then_the_centre_cropped(
    width: int, height: int, size: int, crop_fraction: float, short: int
) -> None:
    image = _gradient(width, height)
    out = preprocess(image, size, crop_fraction=crop_fraction)
    assert out.dtype == torch.float32 and tuple(out.shape) == (3, size, size)
    got = (out * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(got, _expected(image, size, short))


def test_8bit_rounds_to_the_nearest_level_clamped_channels_last() -> None:
    pixels = torch.tensor([[[-0.1, 0.5]], [[1.2, 0.25]], [[1.0, 0.0]]])  # 3 x 1 x 2
    out = to_8bit(pixels)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (1, 2, 3)
    assert out.tolist() == [[[0, 255, 255], [128, 64, 0]]]
    image = to_pil(pixels)
    assert image.mode == "RGB" and image.size == (2, 1)
    assert np.asarray(image).tolist() == [[[0, 255, 255], [128, 64, 0]]]


def test_half_normalisation_maps_0_1_to_minus_1_1() -> None:
    model = Normalized(torch.nn.Identity(), HALF_MEAN, HALF_STD)
    pixels = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 1, 1)
    assert model(torch.zeros(1, 3, 1, 1)).flatten().tolist() == [-1.0, -1.0, -1.0]
    assert model(torch.ones(1, 3, 1, 1)).flatten().tolist() == [1.0, 1.0, 1.0]
    assert model(pixels).flatten().tolist() == [-1.0, 0.0, 1.0]
