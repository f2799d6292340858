"""Oblivious attacks (the paper's threat model): computed once against the undefended model,
saved as 8-bit images, then every defense is applied to those same images."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from lltd.attack.attacks import run_attack
from lltd.attack.catalog import is_bounded
from lltd.attack.run import QUANTIZATION_SCALES
from lltd.evaluate.bpda import to_pixels, to_uint8
from lltd.evaluate.data import Dataset

_BATCH = 120
# Small attack batches: DeepFool and CW iterate until the slowest image of a batch is done.
_ATTACK_BATCH = 48


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Top-1 classes of N x H x W x 3 uint8 images."""
    device = next(model.parameters()).device
    out = [
        model(to_pixels(images[i : i + _BATCH]).to(device)).argmax(1).cpu().numpy()
        for i in range(0, len(images), _BATCH)
    ]
    return np.concatenate(out)


def attack_images(
    model: nn.Module,
    data: Dataset,
    attack: str,
    epsilon: float | None,
    settings: dict[str, int],
    seed: int,
    done: Callable[[int], None] | None = None,
) -> np.ndarray:
    """The attack's adversarial images against ``model``, quantised to 8 bits; ``settings``:
    the catalog's :meth:`~lltd.attack.catalog.AttackSpec.settings` (steps, candidates).
    ``done`` hears how many images are attacked after each batch (progress lines)."""
    out = []
    for start in range(0, len(data), _ATTACK_BATCH):
        batch = slice(start, start + _ATTACK_BATCH)
        result = run_attack(
            model,
            to_pixels(data.images[batch]),
            torch.from_numpy(data.labels[batch]),
            attack,
            epsilon,
            seed + start,
            **settings,
        )
        clean = data.images[batch]
        if is_bounded(attack):
            out.append(to_uint8(result.adversarial))
        else:
            out.append(_stretch(model, clean, result.adversarial, data.labels[batch]))
        if done is not None:
            done(min(start + _ATTACK_BATCH, len(data)))
    return np.concatenate(out)


def _stretch(
    model: nn.Module, clean: np.ndarray, adversarial: torch.Tensor, labels: np.ndarray
) -> np.ndarray:
    """Minimal-norm attacks stop just past the decision boundary, where rounding to 8 bits often
    undoes them: stretch each image's float perturbation by the first scale that survives
    rounding, as ``lltd attack`` does before saving (:data:`lltd.attack.run.QUANTIZATION_SCALES`;
    the smallest when none does). The perturbation is taken before rounding: DeepFool's is often
    under one 8-bit level per pixel, and the rounded one is then mostly zero, whatever the scale.
    """
    base = clean.astype(np.float32)
    delta = to_float_pixels(adversarial) - base
    chosen = to_uint8(adversarial)
    pending = np.flatnonzero(predict(model, chosen) == labels)
    for scale in QUANTIZATION_SCALES[1:]:  # the first, 1.0, is the plain rounding above
        if not len(pending):
            break
        candidate = np.clip(np.round(base[pending] + scale * delta[pending]), 0, 255)
        candidate = candidate.astype(np.uint8)
        fooled = predict(model, candidate) != labels[pending]
        chosen[pending[fooled]] = candidate[fooled]
        pending = pending[~fooled]
    return chosen


def to_float_pixels(pixels: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W floats in [0, 1] -> N x H x W x 3 float32 on the 0-255 scale, unrounded."""
    return pixels.detach().clamp(0, 1).mul(255).permute(0, 2, 3, 1).cpu().numpy()


def perturbation(clean: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
    delta = (adversarial.astype(np.float32) - clean.astype(np.float32)) / 255
    flat = delta.reshape(len(delta), -1)
    return {
        "mean_linf": float(np.abs(flat).max(axis=1).mean()),
        "mean_l2": float(np.linalg.norm(flat, axis=1).mean()),
    }
