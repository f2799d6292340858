"""The defended model end to end, for adaptive attacks (BPDA, Athalye et al. 2018).

The forward pass runs the real defense (8-bit in, 8-bit out, exactly what a deployed defense
does); the backward pass goes through a differentiable surrogate of it: exact for the flip and
resize-and-pad, a low-pass filter for the codecs and the median filter (what they keep), the
identity for bit-depth reduction. A randomised
defense draws its parameters per image on every call, so averaging gradients over several calls
is EOT (expectation over transformation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lltd.evaluate.defenses import EXACT_KINDS, LOW_PASS_KINDS, Defense

#: Pixels; the Gaussian of BPDA's backward pass through WebP, JPEG and the median filter. Chosen
#: on 48 reference test images at 8/255 (bench/evaluate/README.md): 0 (the identity) left 47.9 %
#: after 100 steps and still falling, 0.7-3 all left 29-31 %, flat from 50 steps on at 1.5.
SURROGATE_SIGMA = 1.5


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W floats in [0, 1] -> N x H x W x 3 uint8, rounded as a PNG would store them."""
    return (
        pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
    ).numpy()


def to_pixels(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W floats in [0, 1]."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return pixels.contiguous().float().div(255)  # NCHW in memory too: same kernels, same sums


def _gaussian(sigma: float) -> torch.Tensor:
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def low_pass(pixels: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N x 3 x H x W pixels (edges replicated); ``sigma`` 0: as is."""
    if sigma <= 0:
        return pixels
    kernel = _gaussian(sigma).to(device=pixels.device, dtype=pixels.dtype)
    radius, channels = len(kernel) // 2, pixels.shape[1]
    out = F.pad(pixels, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _surrogate_step(images: torch.Tensor, kind: str, parameter: Any, sigma: float) -> torch.Tensor:
    """One step on N x 3 x H x W images sharing one parameter, differentiably."""
    if kind == "flip":
        return torch.flip(images, dims=(-1,) if parameter == "horizontal" else (-2,))
    if kind == "resize-pad":
        # The kernel's geometry (lltd.defense.kernel.resize_pad), bilinear as it is.
        scale, (x_share, y_share) = parameter
        height, width = images.shape[-2:]
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        if (new_w, new_h) == (width, height):
            return images
        left, top = round(x_share * (width - new_w)), round(y_share * (height - new_h))
        small = F.interpolate(
            images, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
        )
        return F.pad(small, (left, width - new_w - left, top, height - new_h - top))
    if kind in LOW_PASS_KINDS:
        # A codec or filter is flat almost everywhere, so its true gradient is useless, and the
        # identity (plain BPDA) lets through the fine detail these steps erase: sign steps then
        # spend the budget on noise the defense removes (WebP q60 kept 45 % at 8/255 that way on
        # the reference task, still falling after 100 steps). A blur keeps what survives them.
        return low_pass(images, sigma)
    return images


def surrogate(
    defense: Defense, pixels: torch.Tensor, draws: list[Any], sigma: float = SURROGATE_SIGMA
) -> torch.Tensor:
    """The differentiable stand-in of ``defense`` on N x 3 x H x W pixels."""
    plans = [defense.plan(draw) for draw in draws]
    differentiated = EXACT_KINDS | (LOW_PASS_KINDS if sigma > 0 else frozenset())
    if not any(kind in differentiated for plan in plans for kind, _ in plan):
        return pixels  # the identity all the way
    if all(plan == plans[0] for plan in plans):  # a deterministic defense: one batch
        for kind, parameter in plans[0]:
            pixels = _surrogate_step(pixels, kind, parameter, sigma)
        return pixels
    out = []
    for image, plan in zip(pixels, plans, strict=True):
        image = image[None]
        for kind, parameter in plan:
            image = _surrogate_step(image, kind, parameter, sigma)
        out.append(image[0])
    return torch.stack(out)


class _Bpda(torch.autograd.Function):
    """Forward: exactly the real defense's 8-bit output. Backward: the surrogate's gradient."""

    @staticmethod
    def forward(
        ctx: Any, pixels: torch.Tensor, defense: Defense, draws: list[Any], sigma: float
    ) -> torch.Tensor:
        ctx.save_for_backward(pixels)
        ctx.defense, ctx.draws, ctx.sigma = defense, draws, sigma
        real = to_pixels(defense.batch(to_uint8(pixels), draws=draws))
        return real.to(device=pixels.device, dtype=pixels.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (pixels,) = ctx.saved_tensors
        with torch.enable_grad():
            start = pixels.detach().requires_grad_(True)
            approx = surrogate(ctx.defense, start, ctx.draws, ctx.sigma)
            if approx is start:
                return grad, None, None, None
            (through,) = torch.autograd.grad(approx, start, grad)
        return through, None, None, None


def bpda(
    defense: Defense, pixels: torch.Tensor, draws: list[Any], sigma: float = SURROGATE_SIGMA
) -> torch.Tensor:
    """Forward: the real defense on the 8-bit image; backward: the surrogate's gradient."""
    if defense.identity:
        return pixels
    return _Bpda.apply(pixels, defense, draws, sigma)


class DefendedModel(nn.Module):
    """``model(defense(x))`` with BPDA gradients; ``model`` takes [0, 1] pixels.

    Each call draws fresh parameters for a randomised defense from ``rng`` (seeded: the attack
    is reproducible), unless ``draws`` are given. ``sigma``: the surrogate's low-pass width
    (0: plain BPDA, the identity through the lossy steps).
    """

    def __init__(
        self,
        model: nn.Module,
        defense: Defense,
        rng: np.random.Generator | None = None,
        sigma: float = SURROGATE_SIGMA,
    ) -> None:
        super().__init__()
        self.model = model
        self.defense = defense
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.sigma = sigma

    def forward(self, pixels: torch.Tensor, draws: list[Any] | None = None) -> torch.Tensor:
        if draws is None:
            draws = self.defense.draws(len(pixels), self.rng)
        return self.model(bpda(self.defense, pixels, draws, self.sigma))
