"""The defended model end to end, for adaptive attacks (BPDA, Athalye et al. 2018).

The non-differentiable part of a defense (WebP, JPEG, bit depth, median) runs for real on the
forward pass and is replaced by the identity on the backward pass; the flip is exact, so it is
done with ``torch.flip`` and differentiated as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from lltd.evaluate.defenses import Defense, DefenseParameters, make_defense


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W floats in [0, 1] -> N x H x W x 3 uint8, rounded as a PNG would store them."""
    return (
        pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
    ).numpy()


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W floats in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255)


class _StraightThrough(torch.autograd.Function):
    """Forward: the real (8-bit) transformation; backward: the identity."""

    @staticmethod
    def forward(ctx: Any, pixels: torch.Tensor, defense: Defense) -> torch.Tensor:
        out = to_pixels(defense.batch(to_uint8(pixels)))
        return out.to(device=pixels.device, dtype=pixels.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class DefendedModel(nn.Module):
    """``model(defense(x))`` with BPDA gradients; ``model`` takes [0, 1] pixels."""

    def __init__(self, model: nn.Module, defense: Defense, parameters: DefenseParameters) -> None:
        super().__init__()
        self.model = model
        self.defense = defense
        # The lossy step alone (a flip inside "webp+flip" is applied exactly, afterwards, as
        # defend_image does).
        lossy = {"webp+flip": "webp"}.get(defense.name, defense.name)
        self.lossy = make_defense(lossy, parameters) if defense.lossy else None

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.lossy is not None:
            pixels = _StraightThrough.apply(pixels, self.lossy)
        if self.defense.flips:
            pixels = torch.flip(pixels, dims=(-1,))
        return self.model(pixels)
