"""The attacks lltd knows, as data: read by ``lltd attack``, ``lltd evaluate`` and their CLI.

Torch-free (``--help`` and option checks import it). ``bounded`` mirrors the kind of the foolbox
attack behind the name: a ``FixedEpsilonAttack`` takes an L-inf budget, a ``MinimizationAttack``
looks for the smallest perturbation; :func:`lltd.attack.attacks.make_attack` refuses to build an
attack whose foolbox kind disagrees, and the tests check every entry against foolbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from lltd.common.errors import UsageError

#: The bounded attacks' default L-inf budget: 8/255, the usual ImageNet/CIFAR setting.
DEFAULT_LINF_EPSILON = 8 / 255


@dataclass(frozen=True)
class AttackSpec:
    name: str
    #: Class name in ``foolbox.attacks``.
    foolbox: str
    #: Takes an L-inf budget (a foolbox ``FixedEpsilonAttack``), else minimal-norm.
    bounded: bool
    #: Iterations by default and under ``--quick``. CW runs its binary-search rounds of these.
    steps: int
    quick_steps: int
    description: str = ""
    #: DeepFool: how many of the top classes each step linearises towards (full run, --quick).
    candidates: int | None = None
    quick_candidates: int | None = None

    @property
    def default_epsilon(self) -> float | None:
        return DEFAULT_LINF_EPSILON if self.bounded else None

    def settings(self, quick: bool = False) -> dict[str, int]:
        """Keyword arguments of :func:`lltd.attack.attacks.run_attack` for a full or quick run."""
        steps = self.quick_steps if quick else self.steps
        candidates = self.quick_candidates if quick else self.candidates
        return {"steps": steps} | ({"candidates": candidates} if candidates else {})


_SPECS = (
    # DeepFool: the seed code's settings (top-10 candidates, overshoot 0.02, at most 50 steps).
    # Quick: 3 candidates, a third of the gradients per step; on the 20 seed images with
    # EfficientNet-Lite0 every image still breaks, in the same 2-5 steps as with 10.
    AttackSpec(
        "deepfool",
        "L2DeepFoolAttack",
        False,
        50,
        20,
        "minimal L2 (the paper's attack)",
        candidates=10,
        quick_candidates=3,
    ),
    AttackSpec("fgsm", "LinfFastGradientAttack", True, 1, 1, "one signed-gradient step"),
    AttackSpec("bim", "LinfBasicIterativeAttack", True, 10, 5, "iterated FGSM"),
    AttackSpec("pgd", "LinfPGD", True, 40, 10, "projected gradient descent, random start"),
    # foolbox's default is 9 x 10000 steps, far too slow on a CPU.
    AttackSpec("cw", "L2CarliniWagnerAttack", False, 100, 10, "Carlini-Wagner L2, 5 rounds"),
)
CATALOG: dict[str, AttackSpec] = {spec.name: spec for spec in _SPECS}
ATTACKS: tuple[str, ...] = tuple(CATALOG)
#: What ``lltd evaluate`` runs unless ``--attacks`` says otherwise.
DEFAULT_EVALUATE_ATTACKS: tuple[str, ...] = ("deepfool", "fgsm", "pgd", "cw")
CW_BINARY_SEARCH_STEPS = 5


def spec(name: str) -> AttackSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise UsageError(f"unknown attack {name!r}; choose one of {', '.join(ATTACKS)}") from None


def is_bounded(name: str) -> bool:
    return spec(name).bounded


def default_epsilon(name: str) -> float | None:
    """L-inf budget of a bounded attack; ``None`` for the minimal-norm ones."""
    return spec(name).default_epsilon


def check_epsilon(name: str, epsilon: float | None) -> float | None:
    """The budget ``name`` runs with (its default when ``epsilon`` is None); one check for all."""
    if not spec(name).bounded:
        if epsilon is not None:
            raise UsageError(f"{name} finds a minimal perturbation and takes no --epsilon")
        return None
    epsilon = default_epsilon(name) if epsilon is None else epsilon
    if not 0 < epsilon <= 1:
        raise UsageError(f"--epsilon is an L-inf budget in (0, 1] (8/255 = 0.0314), not {epsilon}")
    return epsilon


def help_text() -> str:
    return ", ".join(f"{s.name} ({s.steps} steps)" for s in _SPECS)
