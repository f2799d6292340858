"""The attacks lltd knows (``lltd.attack.catalog``, issue 27), in-process: every entry's foolbox
class, kind, steps and candidates exactly; the settings a full and a ``--quick`` run take; the
budget each attack runs with and the one-line refusals. Torch-free, as the module is."""

from __future__ import annotations

import dataclasses

import pytest

from lltd.attack import catalog
from lltd.attack.catalog import (
    ATTACKS,
    CATALOG,
    DEFAULT_EVALUATE_ATTACKS,
    DEFAULT_LINF_EPSILON,
    AttackSpec,
    check_epsilon,
    default_epsilon,
    help_text,
    is_bounded,
    spec,
)
from lltd.common.errors import UsageError


def test_the_catalog_holds_five_attacks_in_this_order_with_these_settings() -> None:
    assert ATTACKS == ("deepfool", "fgsm", "bim", "pgd", "cw")
    assert list(CATALOG.values()) == [
        AttackSpec("deepfool", "L2DeepFoolAttack", False, 50, 20,
                   "minimal L2 (the paper's attack)", candidates=10, quick_candidates=3),
        AttackSpec("fgsm", "LinfFastGradientAttack", True, 1, 1, "one signed-gradient step"),
        AttackSpec("bim", "LinfBasicIterativeAttack", True, 10, 5, "iterated FGSM"),
        AttackSpec("pgd", "LinfPGD", True, 40, 10, "projected gradient descent, random start"),
        AttackSpec("cw", "L2CarliniWagnerAttack", False, 100, 10, "Carlini-Wagner L2, 5 rounds"),
    ]  # fmt: skip
    assert DEFAULT_EVALUATE_ATTACKS == ("deepfool", "fgsm", "pgd", "cw")
    assert catalog.CW_BINARY_SEARCH_STEPS == 5


def test_a_spec_is_a_frozen_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec("pgd").steps = 1  # type: ignore[misc]
    assert {
        spec("pgd"),
        AttackSpec("pgd", "LinfPGD", True, 40, 10, CATALOG["pgd"].description),
    } == {spec("pgd")}


def test_a_spec_without_candidates_has_none() -> None:
    entry = AttackSpec("x", "X", True, 3, 2)
    assert (entry.description, entry.candidates, entry.quick_candidates) == ("", None, None)


def test_settings_of_a_full_and_a_quick_run() -> None:
    assert spec("deepfool").settings() == {"steps": 50, "candidates": 10}
    assert spec("deepfool").settings(quick=True) == {"steps": 20, "candidates": 3}
    assert spec("pgd").settings() == {"steps": 40}
    assert spec("pgd").settings(quick=True) == {"steps": 10}
    assert spec("cw").settings(True) == {"steps": 10}
    zero = AttackSpec("z", "Z", False, 7, 4, candidates=0, quick_candidates=2)
    assert zero.settings() == {"steps": 7}  # no candidates given: none passed on


def test_the_bounded_attacks_default_to_8_of_255() -> None:
    assert DEFAULT_LINF_EPSILON == 8 / 255
    assert [default_epsilon(name) for name in ATTACKS] == [None, 8 / 255, 8 / 255, 8 / 255, None]
    assert [is_bounded(name) for name in ATTACKS] == [False, True, True, True, False]
    assert spec("fgsm").default_epsilon == 8 / 255 and spec("cw").default_epsilon is None


def test_an_unknown_attack_is_one_line_naming_the_choices() -> None:
    for call in (spec, is_bounded, default_epsilon):
        with pytest.raises(UsageError) as caught:
            call("pdg")
        assert (
            str(caught.value) == "unknown attack 'pdg'; choose one of deepfool, fgsm, bim, pgd, cw"
        )
        assert caught.value.__suppress_context__


def test_check_epsilon_gives_the_budget_a_run_takes() -> None:
    assert check_epsilon("pgd", None) == 8 / 255
    assert check_epsilon("bim", 0.5) == 0.5
    assert check_epsilon("fgsm", 1) == 1  # the upper bound is allowed
    assert check_epsilon("pgd", 1e-9) == 1e-9
    assert check_epsilon("deepfool", None) is None
    assert check_epsilon("cw", None) is None


@pytest.mark.parametrize("epsilon", [0, -0.1, 1.0000001, 2, 255])
def test_a_budget_outside_0_1_is_refused(epsilon: float) -> None:
    with pytest.raises(UsageError) as caught:
        check_epsilon("pgd", epsilon)
    assert str(caught.value) == (
        f"--epsilon is an L-inf budget in (0, 1] (8/255 = 0.0314), not {epsilon}"
    )


@pytest.mark.parametrize("name", ["deepfool", "cw"])
def test_a_minimal_perturbation_attack_takes_no_budget(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_epsilon(name, 0.1)
    assert str(caught.value) == f"{name} finds a minimal perturbation and takes no --epsilon"


def test_help_text_names_each_attack_and_its_steps() -> None:
    assert help_text() == (
        "deepfool (50 steps), fgsm (1 steps), bim (10 steps), pgd (40 steps), cw (100 steps)"
    )
