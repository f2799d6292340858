"""Pixels in, pixels out: [0, 1] float tensors, the 8-bit images they come from and go to, and the
normalisation that sits inside every classifier so attacks work in pixel space."""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn
from torchvision.transforms.functional import pil_to_tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite's (and Inception's) ``(x - 0.5) / 0.5``.
HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)


class Normalized(nn.Module):
    """``model`` behind a per-channel normalisation, so callers (and attacks) work in [0, 1]."""

    def __init__(
        self,
        model: nn.Module,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model((pixels - self.mean) / self.std)


def preprocess(image: Image.Image, size: int, *, crop_fraction: float = 1.0) -> torch.Tensor:
    """Resize the shorter side to ``size / crop_fraction``, centre-crop ``size`` x ``size``.

    Returns a float CHW tensor in [0, 1], *not* normalised (that is part of :class:`Normalized`).
    The default ``crop_fraction=1.0`` makes this the identity on ``size`` x ``size`` images, so a
    saved adversarial example is classified on exactly the pixels that were attacked;
    ``crop_fraction=224/256`` reproduces torchvision's evaluation protocol.
    """
    image = image.convert("RGB")
    short = round(size / crop_fraction)
    width, height = image.size
    if min(width, height) != short:
        scale = short / min(width, height)
        image = image.resize(
            (max(short, round(width * scale)), max(short, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
        width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    if (width, height) != (size, size):
        image = image.crop((left, top, left + size, top + size))
    return pil_to_tensor(image).float().div_(255.0)


def to_8bit(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] float CHW -> uint8 HWC, rounding to the nearest level (what a PNG stores)."""
    return pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu()


def to_pil(pixels: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_8bit(pixels).numpy(), "RGB")
