"""lltd's defense as preprocessors of IBM's Adversarial Robustness Toolbox (the ``[art]`` extra).

    from art.estimators.classification import PyTorchClassifier
    from lltd.art import webp_flip

    classifier = PyTorchClassifier(model, loss, input_shape=(3, 224, 224), nb_classes=1000,
                                   clip_values=(0, 1), preprocessing_defences=[webp_flip()])

Each preprocessor runs the real defense forward (8-bit in, WebP and the flip, 8-bit out: what a
deployed defense does) and, on the way back, the surrogate lltd's own adaptive attack uses
(:mod:`lltd.evaluate.bpda`: exact through the flip, a Gaussian low-pass through the codec). ART's
default for a non-differentiable preprocessor is the identity backward, which on WebP leaves the
attack far weaker (bench/evaluate/README.md). So ART's attacks, PGD included, attack the defended
model as lltd's ``evaluate --adaptive`` does. Inputs are N x 3 x H x W floats in [0, 1] (ART's
PyTorch layout with ``clip_values=(0, 1)``).

Imported only by users who ask for it: nothing in lltd's commands imports it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch

from lltd.evaluate.bpda import SURROGATE_SIGMA, bpda
from lltd.evaluate.defenses import Defense, DefenseParameters, make_defense

__all__ = ["LltdPreprocessor", "randomized", "webp", "webp_flip"]


class LltdPreprocessor(PreprocessorPyTorch):
    """One lltd defense (:mod:`lltd.evaluate.defenses`) as an ART preprocessor.

    ``forward`` (differentiable): the real defense forward, the surrogate backward; ART's
    ``__call__`` (prediction) runs it without gradients, ``estimate_gradient`` through it.
    A randomised defense draws its parameters per image on every call (seeded by ``seed``), so
    an attack that averages gradients over calls gets EOT.
    """

    params = ["sigma"]  # noqa: RUF012 (ART declares it a plain list)

    def __init__(
        self,
        defense: Defense,
        *,
        sigma: float = SURROGATE_SIGMA,
        seed: int = 0,
        device_type: str = "cpu",
        apply_fit: bool = False,
        apply_predict: bool = True,
    ) -> None:
        super().__init__(
            device_type=device_type, is_fitted=True, apply_fit=apply_fit,
            apply_predict=apply_predict,
        )  # fmt: skip
        self.defense = defense
        self.sigma = sigma
        self._rng = np.random.default_rng(seed)

    def forward(self, x: torch.Tensor, y: Any = None) -> tuple[torch.Tensor, Any]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W pixels in [0, 1], got shape {tuple(x.shape)}")
        draws = self.defense.draws(len(x), self._rng)
        return bpda(self.defense, x.float(), draws, self.sigma).to(x.dtype), y

    def __repr__(self) -> str:
        return f"LltdPreprocessor({self.defense.label}, sigma={self.sigma})"


def webp(quality: float = 60, **options: Any) -> LltdPreprocessor:
    """WebP at ``quality`` (lltd's codec and settings)."""
    return LltdPreprocessor(
        make_defense("webp", DefenseParameters(webp_quality=quality)), **options
    )


def webp_flip(quality: float = 60, **options: Any) -> LltdPreprocessor:
    """WebP at ``quality`` and the horizontal flip: lltd's defense."""
    defense = make_defense("webp+flip", DefenseParameters(webp_quality=quality))
    return LltdPreprocessor(defense, **options)


def randomized(
    quality_range: tuple[int, int] = (40, 80), resize_pad: float = 0.15, **options: Any
) -> LltdPreprocessor:
    """The randomised defense: per image a WebP quality in ``quality_range``, a random flip and
    a random shrink-and-pad of at most ``resize_pad``."""
    parameters = DefenseParameters(quality_range=quality_range, resize_pad=resize_pad)
    parameters.validate()
    return LltdPreprocessor(make_defense("randomized", parameters), **options)
