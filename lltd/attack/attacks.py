"""The attacks ``lltd attack`` offers, as foolbox 3 attacks behind one uniform call."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import eagerpy as ep
import foolbox as fb
import numpy as np
import torch
from torch import nn

from lltd.attack.catalog import ATTACKS, CW_BINARY_SEARCH_STEPS, check_epsilon, spec
from lltd.common.errors import UsageError

__all__ = ["ATTACKS", "AttackResult", "make_attack", "run_attack"]


def _foolbox_attack(name: str) -> type:
    """The foolbox class behind ``name``, checked against the catalog's ``bounded``."""
    entry = spec(name)
    cls = getattr(fb.attacks, entry.foolbox)
    if issubclass(cls, fb.attacks.base.FixedEpsilonAttack) != entry.bounded:
        raise TypeError(f"catalog says {name} bounded={entry.bounded}; foolbox {cls} disagrees")
    return cls


def make_attack(
    name: str,
    *,
    steps: int | None = None,
    overshoot: float = 0.02,
    candidates: int | None = None,
    binary_search_steps: int = CW_BINARY_SEARCH_STEPS,
    random_start: bool | None = None,
) -> Any:
    """The foolbox attack ``name`` (see :data:`ATTACKS`); ``steps`` and ``candidates`` left None
    take the catalog's full-run values."""
    cls = _foolbox_attack(name)
    entry = spec(name)
    steps = entry.steps if steps is None else steps
    if steps < 1:
        raise UsageError(f"--steps must be at least 1, not {steps}")
    if name == "deepfool":
        candidates = entry.candidates if candidates is None else candidates
        return cls(steps=steps, candidates=candidates, overshoot=overshoot)
    if name == "fgsm":
        if steps != 1:
            raise UsageError("fgsm is a single-step attack; use bim or pgd for --steps > 1")
        return cls(random_start=bool(random_start))
    if name == "bim":
        return cls(steps=steps, random_start=bool(random_start))
    if name == "pgd":
        return cls(steps=steps, random_start=True if random_start is None else random_start)
    return cls(binary_search_steps=binary_search_steps, steps=steps)


@dataclass
class AttackResult:
    """One batch: the adversarial pixels, whether each fools the model, and attack steps."""

    adversarial: torch.Tensor  # N x 3 x H x W float in [0, 1], on the CPU
    success: torch.Tensor  # N bool, judged on the float result
    predictions: torch.Tensor  # N int64: the model's class for each adversarial image
    steps: list[int] | None  # per image, where the attack has a meaningful count


class _CountingMisclassification(fb.criteria.Misclassification):
    """Misclassification that counts, per image, how often it was asked and said "not yet".

    DeepFool asks once per step and moves only the images that are not adversarial yet, so the
    count is that image's number of DeepFool steps (the ``loop_i`` of the original code).
    """

    def __init__(self, labels: Any) -> None:
        super().__init__(labels)
        self.counts: torch.Tensor | None = None

    def __call__(self, perturbed: Any, outputs: Any) -> Any:
        is_adv = super().__call__(perturbed, outputs)
        pending = (~ep.astensor(is_adv).raw).detach().to("cpu", torch.int64)
        self.counts = pending if self.counts is None else self.counts + pending
        return is_adv


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU and the device) and numpy for the block; restore their state after."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    numpy_state = np.random.get_state()
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def run_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    name: str,
    epsilon: float | None = None,
    seed: int | None = None,
    *,
    steps: int | None = None,
    overshoot: float = 0.02,
    candidates: int | None = None,
) -> AttackResult:
    """Attack ``images`` (N x 3 x H x W in [0, 1]) of true class ``labels`` on ``model``.

    ``model`` takes [0, 1] pixels (see :class:`lltd.models.Normalized`) and is in eval mode.
    ``epsilon`` is the L-inf budget of the bounded attacks (default :func:`default_epsilon`)
    and must be ``None`` for deepfool and cw, which look for the smallest L2 perturbation.
    """
    epsilon = check_epsilon(name, epsilon)
    attack = make_attack(name, steps=steps, overshoot=overshoot, candidates=candidates)
    device = next(model.parameters()).device
    x = images.to(device=device, dtype=torch.float32).clamp(0, 1)
    y = labels.to(device=device, dtype=torch.int64)
    fmodel = fb.PyTorchModel(model, bounds=(0, 1), device=device)
    criterion = _CountingMisclassification(y)
    with seeded(seed, device):
        if epsilon is None:
            adv = attack.run(fmodel, x, criterion)
        else:
            adv = attack.run(fmodel, x, criterion, epsilon=epsilon)
            adv = torch.min(torch.max(adv, x - epsilon), x + epsilon)
    adv = adv.detach().clamp(0, 1)
    with torch.no_grad():
        predictions = model(adv).argmax(dim=1)
    per_image: list[int] | None
    if name == "deepfool":
        # DeepFool asks the criterion at the start of every step, and it takes at least one.
        assert criterion.counts is not None
        per_image = [int(c) for c in criterion.counts]
    elif name == "cw":
        per_image = None  # binary search x steps with early abort: no single count
    else:
        per_image = [attack.steps] * len(x)
    return AttackResult(
        adversarial=adv.cpu(),
        success=(predictions != y).cpu(),
        predictions=predictions.cpu(),
        steps=per_image,
    )
