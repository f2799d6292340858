"""The sanity checks of the adaptive evaluation exactly at their tolerance (one image or 2 %,
whichever is larger): the steps, Square and epsilon checks pass at it and fail one image over, and
BPDA through the identity is plain PGD. In-process, on a linear model whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="lltd.evaluate.sanity needs the [attack] extra")

from lltd.evaluate import sanity
from lltd.evaluate.adaptive import DefenseAttack


def test_the_tolerance_is_one_image_or_two_percent_whichever_is_larger() -> None:
    assert sanity.tolerance(20) == pytest.approx(0.05, abs=2e-9)
    assert sanity.tolerance(50) == pytest.approx(0.02, abs=2e-9)
    assert sanity.tolerance(49) == pytest.approx(1 / 49, abs=2e-9)
    assert sanity.tolerance(1000) == pytest.approx(0.02, abs=2e-9)
    assert sanity.tolerance(0) == pytest.approx(1.0, abs=2e-9)
    # Exactly one image (or 2 %) is within it, despite float rounding.
    assert sanity.tolerance(20) >= 1 / 20 and sanity.tolerance(100) >= 2 / 100


def _attack(broken_at: list[int], square: list[bool] | None = None) -> DefenseAttack:
    at = np.array(broken_at)
    square_broken = np.array(square if square is not None else [False] * len(at))
    return DefenseAttack("webp", at >= 0, at, square_broken, [], 0.0)


@pytest.mark.parametrize(
    ("n", "late", "passed"),
    [(20, 1, True), (20, 2, False), (100, 2, True), (100, 3, False), (10, 1, True)],
)
def test_the_steps_check_fails_exactly_when_more_than_the_tolerance_falls_in_the_second_half(
    n: int, late: int, passed: bool
) -> None:
    """``late`` images break after step 50 of 100; the rest never do, one broke at step 3."""
    at = [3] + [80] * late + [-1] * (n - late - 1)
    check = sanity.steps_check(_attack(at), 100)
    assert check.passed is passed, check.detail
    half = (n - 1) / n
    assert check.detail.startswith(f"webp: {100 * half:.1f} % after 50 steps")
    assert ("still falling" in check.detail) is not passed
    assert check.data[-1] == (100, pytest.approx((n - 1 - late) / n))


def test_the_steps_curve_counts_an_image_broken_at_step_k_as_broken_from_k_on() -> None:
    curve = dict(_attack([0, 1, 5, 50, -1]).steps_curve(50))
    assert list(curve) == [0, 1, 2, 5, 10, 20, 50]
    assert curve == {0: 0.8, 1: 0.6, 2: 0.6, 5: 0.4, 10: 0.4, 20: 0.4, 50: pytest.approx(0.2)}


@pytest.mark.parametrize(
    ("n", "extra", "passed"), [(20, 1, True), (20, 2, False), (100, 2, True), (100, 3, False)]
)
def test_the_square_check_fails_exactly_when_square_breaks_more_than_the_tolerance(
    n: int, extra: int, passed: bool
) -> None:
    at = [4] * 2 + [-1] * (n - 2)  # two broken by PGD, which Square "breaks" again
    square = [True] * 2 + [True] * extra + [False] * (n - 2 - extra)
    check = sanity.square_check(_attack(at, square))
    assert check.passed is passed, check.detail
    assert check.detail.startswith(f"webp: Square broke {extra} of the {n - 2} images")
    assert ("masked gradients" in check.detail) is not passed


# The attack-based checks, on a linear model whose answers are known (tests/test_adaptive_units.py):
# class 0 while an image's mean is above 0.5. PGD darkens each image by epsilon at most.
def _brightness_case(bright: int) -> tuple[object, np.ndarray, np.ndarray]:
    from test_adaptive_units import Brightness, grey

    levels = [130] * (10 - bright) + [250] * bright  # 130: broken by a large epsilon; 250: never
    return Brightness(), grey(levels), np.zeros(10, dtype=np.int64)


@pytest.mark.parametrize(("bright", "passed"), [(1, True), (2, False)])
def test_the_epsilon_check_passes_exactly_when_at_most_the_tolerance_survives_the_largest_epsilon(
    bright: int, passed: bool
) -> None:
    from lltd.evaluate.adaptive import AdaptiveSettings

    model, images, labels = _brightness_case(bright)
    said: list[str] = []
    settings = AdaptiveSettings(8 / 255, steps=4)
    check = sanity.epsilon_check(model, sanity.IDENTITY, images, labels, settings, said.append)
    assert check.passed is passed, check.detail
    assert [round(e * 255, 6) for e, _ in check.data] == [2, 4, 8, 16, 32, 64]
    assert [a for _, a in check.data] == [1.0] + [bright / 10] * 5  # 130 falls at 4/255
    assert check.name == "epsilon to ~0 (identity)"
    assert check.detail == f"identity: {10 * bright:.1f} % at epsilon 64/255 (10 steps)"
    assert said[0] == "  epsilon 0.0078 on identity: 100.0 %" and len(said) == 6


def test_the_epsilon_sweep_never_goes_past_epsilon_1() -> None:
    from lltd.evaluate.adaptive import AdaptiveSettings

    model, images, labels = _brightness_case(0)
    check = sanity.epsilon_check(
        model, sanity.IDENTITY, images, labels, AdaptiveSettings(0.2, steps=40), lambda _: None
    )
    assert [e for e, _ in check.data] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.0])
    assert check.passed and check.data[-1][1] == 0.0
    assert check.detail.endswith("(10 steps)")


def test_bpda_through_the_identity_is_plain_pgd_image_for_image() -> None:
    from lltd.evaluate.adaptive import AdaptiveSettings

    model, images, labels = _brightness_case(3)
    check = sanity.identity_check(model, images, labels, AdaptiveSettings(64 / 255, steps=40))
    assert check.passed, check.detail
    assert check.detail == "10/10 identical images; accuracy 30.0 % plain, 30.0 % through BPDA"
    assert check.as_dict() == {
        "name": "BPDA through identity == plain PGD", "passed": True, "detail": check.detail,
        "data": None,
    }  # fmt: skip
