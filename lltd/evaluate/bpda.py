"""The defended model end to end, for adaptive attacks (BPDA, Athalye et al. 2018).

The forward pass runs the real defense (8-bit in, 8-bit out, exactly what a deployed defense
does); the backward pass goes through a differentiable surrogate of it: exact for the flip and
resize-and-pad, the identity for the lossy steps (WebP, JPEG, bit depth, median). A randomised
defense draws its parameters per image on every call, so averaging gradients over several calls
is EOT (expectation over transformation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lltd.evaluate.defenses import EXACT_KINDS, Defense


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W floats in [0, 1] -> N x H x W x 3 uint8, rounded as a PNG would store them."""
    return (
        pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
    ).numpy()


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W floats in [0, 1]."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return pixels.contiguous().float().div(255)  # NCHW in memory too: same kernels, same sums


def _surrogate_step(image: torch.Tensor, kind: str, parameter: Any) -> torch.Tensor:
    """One step on one 3 x H x W image, differentiably (identity for the lossy kinds)."""
    if kind == "flip":
        return torch.flip(image, dims=(-1,) if parameter == "horizontal" else (-2,))
    if kind == "resize-pad":
        # The kernel's geometry (lltd.defense.kernel.resize_pad), bilinear as it is.
        scale, (x_share, y_share) = parameter
        height, width = image.shape[-2:]
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        if (new_w, new_h) == (width, height):
            return image
        left, top = round(x_share * (width - new_w)), round(y_share * (height - new_h))
        small = F.interpolate(
            image[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )[0]
        return F.pad(small, (left, width - new_w - left, top, height - new_h - top))
    return image


def surrogate(defense: Defense, pixels: torch.Tensor, draws: list[Any]) -> torch.Tensor:
    """The differentiable stand-in of ``defense`` on N x 3 x H x W pixels."""
    plans = [defense.plan(draw) for draw in draws]
    if not any(kind in EXACT_KINDS for plan in plans for kind, _ in plan):
        return pixels  # the identity all the way: skip the per-image loop
    out = []
    for image, plan in zip(pixels, plans, strict=True):
        for kind, parameter in plan:
            image = _surrogate_step(image, kind, parameter)
        out.append(image)
    return torch.stack(out)


class _Bpda(torch.autograd.Function):
    """Forward: exactly the real defense's 8-bit output. Backward: the surrogate's gradient."""

    @staticmethod
    def forward(ctx: Any, pixels: torch.Tensor, defense: Defense, draws: list[Any]) -> torch.Tensor:
        ctx.save_for_backward(pixels)
        ctx.defense, ctx.draws = defense, draws
        real = to_pixels(defense.batch(to_uint8(pixels), draws=draws))
        return real.to(device=pixels.device, dtype=pixels.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (pixels,) = ctx.saved_tensors
        with torch.enable_grad():
            start = pixels.detach().requires_grad_(True)
            approx = surrogate(ctx.defense, start, ctx.draws)
            if approx is start:
                return grad, None, None
            (through,) = torch.autograd.grad(approx, start, grad)
        return through, None, None


def bpda(defense: Defense, pixels: torch.Tensor, draws: list[Any]) -> torch.Tensor:
    """Forward: the real defense on the 8-bit image; backward: the surrogate's gradient."""
    if defense.identity:
        return pixels
    return _Bpda.apply(pixels, defense, draws)


class DefendedModel(nn.Module):
    """``model(defense(x))`` with BPDA gradients; ``model`` takes [0, 1] pixels.

    Each call draws fresh parameters for a randomised defense from ``rng`` (seeded: the attack
    is reproducible), unless ``draws`` are given.
    """

    def __init__(
        self, model: nn.Module, defense: Defense, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.defense = defense
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def forward(self, pixels: torch.Tensor, draws: list[Any] | None = None) -> torch.Tensor:
        if draws is None:
            draws = self.defense.draws(len(pixels), self.rng)
        return self.model(bpda(self.defense, pixels, draws))
