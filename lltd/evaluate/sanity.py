"""Sanity checks of the adaptive evaluation (Carlini et al. 2019, section 5): a report whose
attacks fail them is not evidence of robustness, and says so at its top.

- Accuracy against the number of PGD steps flattens (the attack has converged).
- Accuracy against epsilon falls to about 0 at a large epsilon (nothing is unbreakable).
- BPDA through the identity defense is exactly plain PGD (the BPDA plumbing adds nothing).
- The gradient-free Square attack, run on what BPDA-PGD left standing, breaks (almost) none of
  it (no hidden gradient masking).
- A stronger configuration (twice the steps, one more run per loss) on a subsample breaks at
  most one image the report counts as robust.
- The report's own epsilon curve, at the headline epsilon, is not below the headline figure.

A check with nothing left to test (Square on no image, a steps curve already at 0 %) cannot
fail: it is reported as not informative (``passed`` None), never as passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from lltd.evaluate.adaptive import AdaptiveSettings, DefenseAttack, defended_predictions
from lltd.evaluate.defenses import Defense, Step
from lltd.evaluate.pgd import pgd, quantized_ball
from lltd.evaluate.report import epsilon_label

#: epsilon multiples of the epsilon sweep; the largest must leave about nothing standing.
EPSILON_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
IDENTITY = Defense("identity", "identity (BPDA plumbing)", (Step("identity", lambda im, _: im),))


@dataclass
class Check:
    name: str
    passed: bool | None  # None: not informative (nothing it could have found)
    detail: str
    data: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail, "data": self.data}


def tolerance(n: int) -> float:
    """What one image or 2 %, whichever is larger, moves the accuracy by."""
    return max(1 / max(n, 1), 0.02) + 1e-9


def steps_check(attack: DefenseAttack, steps: int) -> Check:
    curve = attack.steps_curve(steps)
    mark, half = min(curve, key=lambda point: abs(point[0] - steps // 2))  # the earlier on a tie
    last = curve[-1][1]
    n = len(attack.broken)
    passed: bool | None = half - last <= tolerance(n)
    detail = (
        f"{attack.defense}: {100 * half:.1f} % after {mark} steps, {100 * last:.1f} % after "
        f"{steps}" + ("" if passed else " (still falling: more steps needed)")
    )
    if half == 0:  # nothing left to break halfway: the curve cannot keep falling
        passed, detail = None, f"{detail} (nothing was left to break after {mark} steps)"
    return Check(f"steps flatten ({attack.defense})", passed, detail, curve)


def epsilon_check(
    model: nn.Module,
    defense: Defense,
    images: np.ndarray,
    labels: np.ndarray,
    settings: AdaptiveSettings,
    say: Callable[[str], None],
) -> Check:
    """BPDA-PGD (cross-entropy, clean start) at growing epsilon on one defense."""
    curve: list[tuple[float, float]] = []
    steps = max(10, settings.steps // 4)
    eot = settings.eot if defense.random else 1
    for factor in EPSILON_FACTORS:
        epsilon = min(1.0, settings.epsilon * factor)
        # A budget under one 8-bit level leaves the clean images: no attack to run (at 1/255 two
        # of the six points, where every image stood through all the steps).
        adversarial = (
            images
            if quantized_ball(epsilon) == 0
            else pgd(
                model, defense, images, labels, epsilon, steps=steps, eot=eot, seed=1,
                sigma=settings.sigma(0),
            ).adversarial
        )  # fmt: skip
        accuracy = float((defended_predictions(model, defense, adversarial) == labels).mean())
        curve.append((epsilon, accuracy))
        say(f"  epsilon {epsilon:.4f} on {defense.name}: {100 * accuracy:.1f} %")
    last = curve[-1][1]
    passed = last <= tolerance(len(labels))
    detail = (
        f"{defense.name}: {100 * last:.1f} % at epsilon {epsilon_label(curve[-1][0])} "
        f"({steps} steps)"
    )
    return Check(f"epsilon to ~0 ({defense.name})", passed, detail, curve)


def curve_check(
    defense: str, curve: list[tuple[float, float]], epsilon: float, headline: float, n: int
) -> Check:
    """The epsilon curve's point at the headline epsilon is a weaker attack (fewer steps, one
    run) than the headline's: if it still leaves fewer images, the headline attack fell short."""
    point = min(curve, key=lambda item: abs(item[0] - epsilon))[1]
    passed: bool | None = point >= headline - tolerance(n)
    detail = (
        f"{defense}: the epsilon curve leaves {100 * point:.1f} % at {epsilon_label(epsilon)}, "
        f"the worst case {100 * headline:.1f} %"
        + ("" if passed else " (the headline attack is weaker than the curve's: not trustworthy)")
    )
    if headline == 0:
        passed, detail = None, f"{detail} (a curve cannot be below 0 %)"
    return Check(f"epsilon curve not below the headline ({defense})", passed, detail)


def stronger_check(defense: str, subsample: int, robust: int, broken: int) -> Check:
    """Twice the steps and one more run per loss, on the ``robust`` images of a ``subsample``
    that the report counts as robust: it may break at most one of them."""
    passed: bool | None = broken <= 1
    detail = (
        f"{defense}: {broken} of the {robust} images of a {subsample}-image subsample that "
        "survive every attack broken by twice the steps and one more run per loss"
        + ("" if passed else " (the headline attack has not converged)")
    )
    if robust == 0:
        passed, detail = None, f"{defense}: no image of the {subsample}-image subsample survives"
    return Check(f"stronger attack breaks at most one more ({defense})", passed, detail)


def identity_check(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, settings: AdaptiveSettings
) -> Check:
    steps = max(10, settings.steps // 4)
    plain = pgd(model, None, images, labels, settings.epsilon, steps=steps, seed=2)
    through = pgd(model, IDENTITY, images, labels, settings.epsilon, steps=steps, seed=2)
    same = int((plain.adversarial == through.adversarial).all(axis=(1, 2, 3)).sum())
    plain_acc = float((defended_predictions(model, None, plain.adversarial) == labels).mean())
    bpda_acc = float((defended_predictions(model, None, through.adversarial) == labels).mean())
    passed = same == len(labels) and plain_acc == bpda_acc
    detail = (
        f"{same}/{len(labels)} identical images; accuracy {100 * plain_acc:.1f} % plain, "
        f"{100 * bpda_acc:.1f} % through BPDA"
    )
    return Check("BPDA through identity == plain PGD", passed, detail)


def square_check(attack: DefenseAttack) -> Check:
    """Square ran on the images BPDA-PGD left standing: it should break (almost) none of them."""
    standing = int((~attack.broken).sum())
    extra = int((attack.square_broken & ~attack.broken).sum())
    passed: bool | None = extra / max(len(attack.broken), 1) <= tolerance(len(attack.broken))
    detail = f"{attack.defense}: Square broke {extra} of the {standing} images BPDA-PGD left" + (
        "" if passed else " (the gradient attack is weaker: suspect masked gradients)"
    )
    if standing == 0:
        passed, detail = None, f"{attack.defense}: BPDA-PGD left no image for Square to test"
    return Check(f"Square does not beat BPDA ({attack.defense})", passed, detail)
