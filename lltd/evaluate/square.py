"""Square attack (L-inf; Andriushchenko et al., ECCV 2020): a gradient-free cross-check.

It needs only the defended model's outputs, so a defense that only hides gradients (which BPDA
could be fooled by) does not stop it. Random search: start from vertical stripes of +-epsilon,
then repeatedly set one random square window (all rows and columns in it, each channel +-epsilon)
and keep the change when the margin loss improves. The window's share of the image starts at
``p_init`` and is halved on the paper's schedule (rescaled to the query budget).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lltd.evaluate.bpda import to_pixels, to_uint8
from lltd.evaluate.defenses import Defense
from lltd.evaluate.pgd import loss_values, quantized_ball

_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def window_fraction(p_init: float, query: int, queries: int) -> float:
    """The paper's piecewise-constant schedule, written for 10 000 queries, rescaled."""
    at = int(query / max(queries, 1) * 10000)
    return p_init / 2 ** sum(at > mark for mark in _SCHEDULE)


@torch.no_grad()
def _margins(
    model: nn.Module, defense: Defense | None, pixels: torch.Tensor, labels: torch.Tensor, rng
) -> torch.Tensor:
    """Margin of the true class (negative: misclassified) on the 8-bit images, defended."""
    images = to_uint8(pixels)
    if defense is not None:
        images = defense.batch(images, rng)
    logits = model(to_pixels(images).to(pixels.device))
    return -loss_values(logits, labels, "margin")


def square_attack(
    model: nn.Module,
    defense: Defense | None,
    images: np.ndarray,
    labels: np.ndarray,
    epsilon: float,
    *,
    queries: int = 1000,
    p_init: float = 0.05,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Adversarial images (N x H x W x 3 uint8) and, per image, the query that broke it (-1:
    none). A randomised defense draws fresh parameters on every query."""
    device = next(model.parameters()).device
    epsilon = quantized_ball(epsilon)
    rng = np.random.default_rng(seed)
    draws = np.random.default_rng(seed + 1)
    clean = to_pixels(images).to(device)
    y = torch.from_numpy(labels).to(device)
    count, channels, height, width = clean.shape
    stripes = rng.choice([-epsilon, epsilon], size=(count, channels, 1, width))
    best = (clean + torch.from_numpy(stripes).float().to(device)).clamp(0, 1)
    margin = _margins(model, defense, best, y, draws)
    broken_at = np.where(margin.cpu().numpy() < 0, 0, -1)
    for query in range(1, queries + 1):
        active = np.flatnonzero(broken_at < 0)
        if not len(active):
            break
        fraction = window_fraction(p_init, query, queries)
        side = int(min(max(round(np.sqrt(fraction * height * width)), 1), height - 1))
        candidate = best[active].clone()
        for row, index in enumerate(active):
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            window = (slice(None), slice(top, top + side), slice(left, left + side))
            signs = torch.from_numpy(rng.choice([-epsilon, epsilon], size=(channels, 1, 1)))
            candidate[row][window] = (clean[index][window] + signs.float().to(device)).clamp(0, 1)
        new_margin = _margins(model, defense, candidate, y[active], draws)
        better = (new_margin < margin[active]).cpu().numpy()
        chosen = active[better]
        best[chosen] = candidate[better]
        margin[chosen] = new_margin[better]
        broken_at[chosen[new_margin[better].cpu().numpy() < 0]] = query
    return to_uint8(best), broken_at
