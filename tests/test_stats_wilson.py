"""The report's statistics against known values: the 95 % Wilson interval it quotes (Newcombe
1998, Table I, method 3) and each defense's worst case. No torch: these run once per mutant."""

from __future__ import annotations

import pytest

from lltd.evaluate.stats import Z95, wilson, worst_case


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat. Med. 17:857, Table I
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (20, 20, 0.8389, 1.0),
        (8, 10, 0.4902, 0.9433),
    ],
)
def test_the_wilson_interval_equals_the_published_values(
    successes: int, n: int, low: float, high: float
) -> None:
    got = wilson(successes / n, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_the_wilson_interval_is_95_percent_by_default_and_narrows_with_z() -> None:
    assert pytest.approx(1.959963984540054, abs=1e-15) == Z95
    assert wilson(0.5, 100) == wilson(0.5, 100, Z95)
    low, high = wilson(0.5, 100, 1.0)
    assert (low, high) == pytest.approx((0.45025, 0.54975), abs=1e-5)  # z = 1: about 68 %


def test_the_wilson_interval_of_no_images_is_everything() -> None:
    assert wilson(0.0, 0) == (0.0, 1.0)
    assert wilson(1.0, -1) == (0.0, 1.0)


def test_the_wilson_interval_at_0_and_100_percent_holds_the_estimate_and_stays_in_0_1() -> None:
    for n in (1, 2, 20, 1000):
        low, high = wilson(0.0, n)
        assert low == 0.0 < high < 1.0
        low, high = wilson(1.0, n)
        assert 0.0 < low < high == 1.0


def test_the_worst_case_is_the_lowest_accuracy_over_the_attacks_with_its_interval() -> None:
    rows = [
        {"defense": "webp", "attack": "none", "accuracy": 0.9, "n": 20},
        {"defense": "webp", "attack": "pgd", "accuracy": 0.4, "n": 10},
        {"defense": "webp", "attack": "fgsm", "accuracy": 0.6, "n": 20},
        {"defense": "webp", "attack": "cw", "accuracy": 0.4, "n": 20},  # a tie: the first stays
        {"defense": "flip", "attack": "none", "accuracy": 0.8, "n": 20},
    ]
    out = worst_case(rows)
    assert out["webp"] == {
        "clean": 0.9, "accuracy": 0.4, "attack": "pgd", "n": 10, "attacks": 3,
        "interval": list(wilson(0.4, 10)),
    }  # fmt: skip
    # No attack ran: the worst case is the clean accuracy, over the clean run's images.
    assert out["flip"] == {
        "clean": 0.8, "accuracy": 0.8, "attack": "none", "n": 20, "attacks": 0,
        "interval": list(wilson(0.8, 20)),
    }  # fmt: skip


@pytest.mark.parametrize(("accuracy", "n"), [(1.0, 16), (1.0, 40), (0.0, 27)])
def test_the_interval_never_leaves_0_1_even_by_float_rounding(accuracy: float, n: int) -> None:
    """At these n the formula itself gives 1.0000000000000002 or -6.9e-18 (at 95 %)."""
    low, high = wilson(accuracy, n)
    assert 0.0 <= low <= accuracy <= high <= 1.0
    assert (high if accuracy == 1.0 else low) == accuracy


def test_with_per_image_outcomes_the_worst_case_is_the_images_every_attack_leaves() -> None:
    """An attacker picks, per image, whichever attack works (issue 25): the union."""
    import numpy as np

    rows = [
        {"defense": "webp", "attack": "none", "accuracy": 0.75, "n": 4},
        {"defense": "webp", "attack": "pgd", "accuracy": 0.75, "n": 4},
        {"defense": "webp", "attack": "fgsm", "accuracy": 0.5, "n": 4},
        {"defense": "flip", "attack": "none", "accuracy": 1.0, "n": 4},
        {"defense": "flip", "attack": "pgd", "accuracy": 0.5, "n": 4},
        {"defense": "jpeg", "attack": "none", "accuracy": 1.0, "n": 4},
    ]
    survival = {
        "webp": {
            "none": np.array([1, 1, 1, 0], bool),
            "pgd": np.array([1, 0, 1, 1], bool),
            "fgsm": np.array([1, 1, 0, 0], bool),
        },
        "flip": {"pgd": np.array([1, 1, 0, 0], bool)},
    }
    out = worst_case(rows, survival)
    assert out["webp"] == {
        "clean": 0.75, "accuracy": 0.25, "attack": "union", "n": 4, "attacks": 2,
        "min_row": {"accuracy": 0.5, "attack": "fgsm"}, "robust": 1,
        "alone": {"none": 3, "pgd": 3, "fgsm": 2}, "interval": list(wilson(0.25, 4)),
    }  # fmt: skip
    # One outcome: named after it, not "union".
    assert out["flip"]["attack"] == "pgd" and out["flip"]["accuracy"] == 0.5
    assert out["flip"]["min_row"] == {"accuracy": 0.5, "attack": "pgd"}
    # No outcomes for a defense: the minimum of its rows, and no comparison row.
    assert "min_row" not in out["jpeg"] and out["jpeg"]["attack"] == "none"
    two = {"webp": {k: survival["webp"][k] for k in ("none", "pgd")}}
    assert worst_case(rows, two)["webp"]["attack"] == "union"
