"""The sanity checks of the adaptive evaluation exactly at their tolerance (one image or 2 %,
whichever is larger): the steps, Square and epsilon checks pass at it and fail one image over, and
BPDA through the identity is plain PGD. In-process, on a linear model whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="lltd.evaluate.sanity needs the [attack] extra")

from lltd.evaluate import sanity
from lltd.evaluate.adaptive import DefenseAttack
from lltd.evaluate.defenses import Defense, Step


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
    half, last = 100 * (n - 1) / n, 100 * (n - 1 - late) / n
    assert check.detail == f"webp: {half:.1f} % after 50 steps, {last:.1f} % after 100" + (
        "" if passed else " (still falling: more steps needed)"
    )
    assert check.name == "steps flatten (webp)"
    assert check.data[-1] == (100, pytest.approx((n - 1 - late) / n))


@pytest.mark.parametrize(
    ("steps", "broken_at", "detail"),
    [
        (100, 30, "webp: 90.0 % after 50 steps, 90.0 % after 100"),
        (
            31,
            15,
            "webp: 100.0 % after 10 steps, 90.0 % after 31 (still falling: more steps needed)",
        ),
    ],
)
def test_the_halfway_point_is_the_curve_mark_nearest_half_the_steps_the_earlier_on_a_tie(
    steps: int, broken_at: int, detail: str
) -> None:
    """Two images of 20 fall at ``broken_at``. Of 100 steps, the mark at 50 already counts them;
    of 31 the curve has marks at 10 and 20 only, and 15 (31 // 2) ties: the earlier mark, 10,
    before they fell, so they fell in the second half. The message names the mark whose accuracy
    it gives (it said "after 15 steps" beside the accuracy after 10)."""
    check = sanity.steps_check(_attack([broken_at] * 2 + [-1] * 18), steps)
    assert check.detail == detail
    assert check.passed is not detail.endswith("needed)")


def test_a_curve_at_100_percent_halfway_is_still_judged_only_0_percent_is_not_informative() -> None:
    falling = sanity.steps_check(_attack([80] * 2 + [-1] * 18), 100)
    assert falling.passed is False
    assert falling.detail == (
        "webp: 100.0 % after 50 steps, 90.0 % after 100 (still falling: more steps needed)"
    )
    done = sanity.steps_check(_attack([0, 3, 10, 10]), 31)
    assert done.passed is None
    assert done.detail == (
        "webp: 0.0 % after 10 steps, 0.0 % after 31 (nothing was left to break after 10 steps)"
    )
    assert done.name == "steps flatten (webp)"


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
    assert check.detail == f"webp: Square broke {extra} of the {n - 2} images BPDA-PGD left" + (
        "" if passed else " (the gradient attack is weaker: suspect masked gradients)"
    )
    assert check.name == "Square does not beat BPDA (webp)"


def test_a_square_check_with_no_image_left_standing_is_not_informative() -> None:
    check = sanity.square_check(_attack([0, 3, 7], [True, True, True]))
    assert check.passed is None
    assert check.detail == "webp: BPDA-PGD left no image for Square to test"
    assert check.name == "Square does not beat BPDA (webp)"


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


def test_the_epsilon_check_judges_the_largest_epsilon_alone_with_a_quarter_of_the_steps() -> None:
    """160 falls only at 64/255: the curve's last point differs from every earlier one."""
    from test_adaptive_units import Brightness, grey

    from lltd.evaluate.adaptive import AdaptiveSettings

    images, labels = grey([130] * 8 + [160, 250]), np.zeros(10, dtype=np.int64)
    settings = AdaptiveSettings(8 / 255, steps=60)
    check = sanity.epsilon_check(
        Brightness(), sanity.IDENTITY, images, labels, settings, lambda _: None
    )
    assert [a for _, a in check.data] == [1.0, 0.2, 0.2, 0.2, 0.2, 0.1]
    assert check.passed is True
    assert check.detail == "identity: 10.0 % at epsilon 64/255 (15 steps)"


@pytest.fixture
def pgd_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str | None, dict]]:
    """Each PGD run a check starts (its defense's name and its settings); the runs are real."""
    calls: list[tuple[str | None, dict]] = []
    real = sanity.pgd

    def recording(
        model: object, defense: Defense | None, images: np.ndarray, labels: np.ndarray,
        epsilon: float, **settings: object,
    ) -> object:  # fmt: skip
        calls.append((getattr(defense, "name", None), {"epsilon": epsilon, **settings}))
        return real(model, defense, images, labels, epsilon, **settings)

    monkeypatch.setattr(sanity, "pgd", recording)
    return calls


def test_each_sweep_attack_is_one_clean_cross_entropy_run_with_eot_seed_1_and_the_first_width(
    pgd_calls: list[tuple[str | None, dict]],
) -> None:
    """The ε curve is the weaker attack the headline is checked against: one run (clean start,
    cross-entropy) of a quarter of the steps, with the run's EOT on a randomised defense, a fixed
    seed (the same curve in every run), and the first run's surrogate width."""
    from test_adaptive_units import Brightness, grey

    from lltd.defense.settings import DefenseSettings
    from lltd.evaluate.adaptive import AdaptiveSettings

    flips = Defense("flip-random", "random flip", settings=DefenseSettings(None, flip="random"))
    settings = AdaptiveSettings(16 / 255, steps=48, eot=3, surrogate_sigmas=(0.7, 2.0))
    images, labels = grey([130, 250]), np.zeros(2, dtype=np.int64)
    check = sanity.epsilon_check(Brightness(), flips, images, labels, settings, lambda _: None)
    assert check.data[-1][1] == 0.5  # 250 stands: a flip keeps an image's mean
    attacked = [round(call["epsilon"] * 255, 6) for _, call in pgd_calls]
    assert attacked == [4, 8, 16, 32, 64, 128]
    assert {name for name, _ in pgd_calls} == {"flip-random"}
    for _, call in pgd_calls:
        assert {k: v for k, v in call.items() if k != "epsilon"} == {
            "steps": 12, "eot": 3, "seed": 1, "sigma": 0.7,
        }  # fmt: skip


def test_bpda_through_the_identity_is_attacked_exactly_like_plain_pgd(
    pgd_calls: list[tuple[str | None, dict]],
) -> None:
    from lltd.evaluate.adaptive import AdaptiveSettings

    model, images, labels = _brightness_case(3)
    for steps, quick in ((60, 15), (8, 10)):  # a quarter of the steps, at least 10
        pgd_calls.clear()
        check = sanity.identity_check(model, images, labels, AdaptiveSettings(8 / 255, steps=steps))
        assert check.passed is True
        (plain, plain_settings), (through, through_settings) = pgd_calls
        assert (plain, through) == (None, "identity")
        assert plain_settings == through_settings
        assert plain_settings["steps"] == quick and plain_settings["epsilon"] == 8 / 255


def test_the_identity_check_fails_when_an_image_differs_though_the_accuracies_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Plumbing that adds one 8-bit level changes when an image near the boundary falls, not
    whether it falls: the accuracies agree, the images do not, and the check fails."""
    from test_adaptive_units import Brightness, grey

    from lltd.evaluate.adaptive import AdaptiveSettings

    def brighter(image: np.ndarray, _: object) -> np.ndarray:
        return np.minimum(image.astype(np.int16) + 1, 255).astype(np.uint8)

    monkeypatch.setattr(sanity, "IDENTITY", Defense("shift", "+1", (Step("shift", brighter),)))
    images = grey([128, 129, 130, 131, 132, 133, 134, 135, 136, 250])
    labels = np.zeros(10, dtype=np.int64)
    check = sanity.identity_check(Brightness(), images, labels, AdaptiveSettings(2 / 255, steps=40))
    assert check.passed is False
    assert check.detail == "9/10 identical images; accuracy 80.0 % plain, 80.0 % through BPDA"


@pytest.mark.parametrize(
    ("point", "passed"), [(0.25, True), (0.30, True), (0.40, True), (0.20, False)]
)
def test_the_curve_check_fails_exactly_when_the_curve_leaves_more_than_the_tolerance_less(
    point: float, passed: bool
) -> None:
    """The headline leaves 30 % of 20 images; the curve's point at the headline's 8/255 may be
    one image (5 points) below it, not two."""
    curve = [(2 / 255, 0.9), (4 / 255, 0.6), (8 / 255, point), (16 / 255, 0.1), (32 / 255, 0.0)]
    check = sanity.curve_check("webp+flip", curve, 8 / 255, 0.30, 20)
    assert check.passed is passed
    assert check.name == "epsilon curve not below the headline (webp+flip)"
    assert check.detail == (
        f"webp+flip: the epsilon curve leaves {100 * point:.1f} % at 8/255, the worst case 30.0 %"
        + ("" if passed else " (the headline attack is weaker than the curve's: not trustworthy)")
    )


def test_the_curve_check_reads_the_point_nearest_the_headline_epsilon() -> None:
    curve = [(1 / 255, 1.0), (4 / 255, 0.5), (6 / 255, 0.35), (12 / 255, 0.0)]
    low = sanity.curve_check("webp", curve, 0.5 / 255, 0.5, 100)  # nearest: 1/255
    assert low.detail.startswith("webp: the epsilon curve leaves 100.0 % at 0.5/255 (floored")
    middle = sanity.curve_check("webp", curve, 8 / 255, 0.35, 100)  # nearest: 6/255
    assert middle.detail == "webp: the epsilon curve leaves 35.0 % at 8/255, the worst case 35.0 %"
    high = sanity.curve_check("webp", curve, 11 / 255, 0.35, 100)  # nearest: 12/255
    assert high.passed is False and high.detail.startswith("webp: the epsilon curve leaves 0.0 %")


def test_a_headline_of_0_percent_makes_the_curve_check_not_informative() -> None:
    for point in (0.0, 0.1):
        check = sanity.curve_check("webp", [(4 / 255, point), (8 / 255, point)], 8 / 255, 0.0, 20)
        assert check.passed is None
        assert check.detail == (
            f"webp: the epsilon curve leaves {100 * point:.1f} % at 8/255, the worst case 0.0 % "
            "(a curve cannot be below 0 %)"
        )
    full = sanity.curve_check("webp", [(8 / 255, 1.0)], 8 / 255, 1.0, 20)
    assert full.passed is True
    assert full.detail == "webp: the epsilon curve leaves 100.0 % at 8/255, the worst case 100.0 %"


@pytest.mark.parametrize(("broken", "passed"), [(0, True), (1, True), (2, False), (7, False)])
def test_the_stronger_attack_may_break_at_most_one_image_the_report_counts_as_robust(
    broken: int, passed: bool
) -> None:
    check = sanity.stronger_check("webp", 64, 7, broken)
    assert check.passed is passed
    assert check.name == "stronger attack breaks at most one more (webp)"
    assert check.detail == (
        f"webp: {broken} of the 7 images of a 64-image subsample that survive every attack broken"
        " by twice the steps and one more run per loss"
        + ("" if passed else " (the headline attack has not converged)")
    )


def test_a_subsample_without_a_robust_image_makes_the_stronger_check_not_informative() -> None:
    check = sanity.stronger_check("jpeg", 40, 0, 0)
    assert check.passed is None
    assert check.detail == "jpeg: no image of the 40-image subsample survives"
    assert check.name == "stronger attack breaks at most one more (jpeg)"
    assert sanity.stronger_check("jpeg", 40, 1, 1).passed is True  # one robust image, broken
