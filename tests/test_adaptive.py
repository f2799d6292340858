"""The adaptive evaluation: BPDA-PGD, EOT, the Square attack and the sanity checks.

Small models first (a linear classifier whose answers are known in closed form), then the
reference CNN (trained once per session, see conftest.reference_cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from lltd.evaluate import sanity  # noqa: E402
from lltd.evaluate.adaptive import AdaptiveSettings, attack_defense, defended_predictions  # noqa: E402
from lltd.evaluate.bpda import DefendedModel, to_pixels  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402
from lltd.evaluate.pgd import pgd, quantized_ball  # noqa: E402
from lltd.evaluate.report import markdown  # noqa: E402
from lltd.evaluate.square import square_attack, window_fraction  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
EPS = 8 / 255


class Linear(torch.nn.Module):
    """Two classes; class 0 wins by ``margin(x) = w . (x - 128/255)`` with every weight positive.

    On a flat gray image of level g the margin is ``sum(w) * (g - 128) / 255``, and the best L-inf
    attack (every pixel lowered by epsilon = 8/255) removes ``sum(w) * 8 / 255`` of it: exactly
    the images with g < 136 are breakable (g = 136 only reaches a tie, which class 0 keeps).
    """

    def __init__(self, side: int = 8) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        weights = torch.from_numpy(rng.uniform(0.5, 1.5, (1, 3, side, side))).float()
        self.w = torch.nn.Parameter(weights, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        margin = ((x - 128 / 255) * self.w).flatten(1).sum(1)
        return torch.stack([margin, torch.zeros_like(margin)], 1)


def linear_model(levels=(129, 130, 132, 134, 135, 136, 137, 140, 150, 180)):
    images = np.stack([np.full((8, 8, 3), level, dtype=np.uint8) for level in levels])
    breakable = np.array(levels) < 136
    return Linear(), images, np.zeros(len(levels), dtype=np.int64), breakable


@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_pgd_breaks_exactly_what_the_budget_allows_on_a_linear_model(loss: str) -> None:
    model, images, labels, breakable = linear_model()
    result = pgd(model, None, images, labels, EPS, steps=30, loss=loss, batch=len(images))
    predictions = model(to_pixels(result.adversarial)).argmax(1).numpy()
    assert np.array_equal(predictions != labels, breakable)
    delta = result.adversarial.astype(int) - images
    assert np.abs(delta).max() <= round(255 * quantized_ball(EPS))  # inside the 8-bit ball
    assert ((result.broken_at >= 0) == breakable).all()


def test_square_attack_matches_the_known_optimum_of_a_linear_model() -> None:
    # Random search needs most pixels right: levels that a half-good perturbation breaks.
    model, images, labels, breakable = linear_model((130, 131, 132, 136, 140, 150))
    adversarial, broken_at = square_attack(model, None, images, labels, EPS, queries=400)
    predictions = model(to_pixels(adversarial)).argmax(1).numpy()
    # Gradient-free, it still finds every breakable image and never one it cannot break.
    assert np.array_equal(predictions != labels, breakable)
    assert ((broken_at >= 0) == breakable).all()
    assert np.abs(adversarial.astype(int) - images).max() <= 8
    assert window_fraction(0.05, 0, 1000) == 0.05 and window_fraction(0.05, 999, 1000) < 0.001


def test_square_attack_is_seeded() -> None:
    model, images, labels, _ = linear_model()
    a = square_attack(model, None, images, labels, EPS, queries=20, seed=3)[0]
    b = square_attack(model, None, images, labels, EPS, queries=20, seed=3)[0]
    assert np.array_equal(a, b)


def test_bpda_through_the_identity_is_plain_pgd(reference_model) -> None:
    from lltd.evaluate import reference

    images, labels = reference.reference_dataset("test")
    images, labels = images[::24], labels[::24]
    settings = AdaptiveSettings(2 / 255, steps=12)
    check = sanity.identity_check(reference_model, images, labels, settings)
    assert check.passed, check.detail
    assert f"{len(labels)}/{len(labels)} identical" in check.detail


def test_eot_draws_fresh_parameters_per_copy_and_is_reproducible(reference_model) -> None:
    from lltd.evaluate import reference

    images, _ = reference.reference_dataset("test")
    defense = make_defense("flip-random", DefenseParameters())
    assert defense.random and not make_defense("webp+flip", DefenseParameters()).random
    draws = defense.draws(64, np.random.default_rng(5))
    assert {d.flip for d in draws} == {"horizontal", "vertical"}
    assert draws == defense.draws(64, np.random.default_rng(5))
    pixels = to_pixels(images[:1]).repeat(16, 1, 1, 1).requires_grad_(True)
    defended = DefendedModel(reference_model, defense, np.random.default_rng(1))
    defended(pixels)[:, 0].sum().backward()
    # Each copy got its own draw: the gradients differ between the two flip axes.
    grads = pixels.grad.flatten(1)
    assert len({tuple(g[:20].tolist()) for g in grads}) == 2


def test_randomised_defenses_are_the_kernels_and_bpda_follows_their_geometry(
    reference_model,
) -> None:
    from lltd.defense import kernel
    from lltd.evaluate.bpda import surrogate, to_uint8

    parameters = DefenseParameters(quality_range=(40, 80), resize_pad=0.2)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    randomized = make_defense("randomized", parameters)
    draw = randomized.draws(1, np.random.default_rng(2))[0]
    expected = kernel.apply_array(image, randomized.settings, draw)
    assert np.array_equal(randomized.apply_drawn(image, draw), expected)
    qualities = {d.quality for d in make_defense("webp-band", parameters).draws(200, None)}
    assert min(qualities) >= 40 and max(qualities) <= 80 and len(qualities) > 20
    # Without the lossy step, the surrogate is the real transformation up to resampling.
    geometric = make_defense("resize-pad", parameters)
    draws = geometric.draws(8, np.random.default_rng(3))
    yy, xx = np.mgrid[0:32, 0:32]
    smooth = np.dstack([xx * 7, yy * 7, (xx + yy) * 3]).astype(np.uint8)
    pixels = to_pixels(np.repeat(smooth[None], 8, axis=0))
    real = geometric.batch(np.repeat(smooth[None], 8, axis=0), draws=draws).astype(int)
    approx = to_uint8(surrogate(geometric, pixels, draws)).astype(int)
    assert (real == 0).all(axis=3).any() and np.abs(real - approx).mean() < 1.5


def test_the_adaptive_attack_attacks_the_defended_model(reference_slice) -> None:
    """The flip alone is no defense against an attacker who knows it: an attack computed on the
    undefended model and then flipped keeps much accuracy, the adaptive one keeps none."""
    model, images, labels = reference_slice
    flip = make_defense("flip", DefenseParameters())
    oblivious = pgd(model, None, images, labels, EPS, steps=20)
    kept = float((defended_predictions(model, flip, oblivious.adversarial) == labels).mean())
    settings = AdaptiveSettings(EPS, steps=20, restarts=1, losses=("ce",), square_queries=10)
    adaptive = attack_defense(model, flip, images, labels, settings, square=False)
    assert kept >= 0.25, kept
    assert adaptive.accuracy("bpda-pgd") <= 0.05


def test_the_adaptive_attack_has_converged(reference_slice) -> None:
    """More steps, restarts and losses do not lower the accuracy further (one image of slack)."""
    model, images, labels = reference_slice
    jpeg = make_defense("jpeg", DefenseParameters())
    small = AdaptiveSettings(2 / 255, steps=25, restarts=1, losses=("ce",))
    large = AdaptiveSettings(2 / 255, steps=50, restarts=2, losses=("ce", "margin"))
    first = attack_defense(model, jpeg, images, labels, small, square=False)
    second = attack_defense(model, jpeg, images, labels, large, square=False)
    assert 0 < first.accuracy("bpda-pgd") < 1  # a budget where the answer is not trivial
    assert first.accuracy("bpda-pgd") - second.accuracy("bpda-pgd") <= 1 / len(labels) + 1e-9
    assert sanity.steps_check(second, large.steps).passed


def test_eot_breaks_the_randomised_defense(reference_slice) -> None:
    model, images, labels = reference_slice
    randomized = make_defense("randomized", DefenseParameters())
    settings = AdaptiveSettings(EPS, steps=20, restarts=1, losses=("ce",), eot=4)
    result = attack_defense(model, randomized, images, labels, settings, square=False)
    clean = float((defended_predictions(model, randomized, images) == labels).mean())
    transfer = pgd(model, None, images, labels, EPS, steps=20).adversarial
    oblivious = float((defended_predictions(model, randomized, transfer) == labels).mean())
    adaptive = result.accuracy("bpda-pgd")
    assert adaptive <= clean - 0.25 and adaptive < oblivious, (adaptive, oblivious, clean)


def test_what_eot_counts_as_broken_stays_broken_under_fresh_draws(reference_slice) -> None:
    """An image leaves the attack on a randomised defense only once it is robustly adversarial:
    stopping at the first step whose draws were all fooled kept images that fresh draws of the
    defense classified correctly again (here 85 % of fresh draws fooled them, at worst 44 %)."""
    model, images, labels = reference_slice
    randomized = make_defense("randomized", DefenseParameters())
    result = pgd(model, randomized, images, labels, EPS, steps=20, eot=4, seed=0)
    retired = result.broken_at >= 0
    assert retired.sum() >= len(images) // 2
    fooled = []
    with torch.no_grad():
        for seed in range(16):
            draws = randomized.draws(len(images), np.random.default_rng(100 + seed))
            defended = randomized.batch(result.adversarial, draws=draws)
            fooled.append(model(to_pixels(defended)).argmax(1).numpy() != labels)
    rate = np.mean(fooled, axis=0)[retired]
    assert rate.mean() >= 0.95 and rate.min() >= 0.75, rate


def test_epsilon_sanity_check_reaches_zero(reference_slice) -> None:
    model, images, labels = reference_slice
    webp_flip = make_defense("webp+flip", DefenseParameters())
    settings = AdaptiveSettings(EPS, steps=40)
    check = sanity.epsilon_check(model, webp_flip, images, labels, settings, lambda _: None)
    assert check.passed, check.detail
    accuracies = [accuracy for _, accuracy in check.data]
    assert accuracies[0] > accuracies[-1] == 0.0


def _attack(broken_at: list[int], square: list[bool]):
    from lltd.evaluate.adaptive import DefenseAttack

    at = np.array(broken_at)
    return DefenseAttack("webp", at >= 0, at, np.array(square), [], 0.0)


def test_steps_and_square_checks_fail_when_they_should() -> None:
    n = 10
    still_falling = _attack([90] * 5 + [-1] * 5, [False] * n)  # half break in the last steps
    flat = _attack([3] * 5 + [-1] * 5, [False] * n)
    assert sanity.steps_check(still_falling, 100).passed is False
    assert sanity.steps_check(flat, 100).passed is True
    masked = _attack([-1] * n, [True] * n)  # Square breaks everything, the gradient nothing
    assert sanity.square_check(masked).passed is False
    assert sanity.square_check(_attack([3] * 5 + [-1] * 5, [True] * 5 + [False] * 5)).passed


def test_checks_with_nothing_to_test_are_not_informative() -> None:
    """ImageNet's "Square broke 0 of the 0 images left" and "0 % after 50 steps, 0 % after
    100" could not have failed: they are reported as such (None), never as passed."""
    n = 10
    everything_at_once = _attack([2] * n, [True] * n)
    square = sanity.square_check(everything_at_once)
    assert square.passed is None and "no image for Square" in square.detail
    steps = sanity.steps_check(everything_at_once, 100)
    assert steps.passed is None and "nothing was left to break" in steps.detail
    # One image standing halfway is enough for the check to be able to fail.
    assert sanity.steps_check(_attack([2] * 9 + [80], [True] * n), 100).passed is True
    assert sanity.steps_check(_attack([2] * 8 + [80, -1], [True] * 9 + [False]), 100).passed
    assert sanity.stronger_check("webp", 64, 0, 0).passed is None
    assert sanity.stronger_check("webp", 64, 10, 1).passed is True
    assert sanity.stronger_check("webp", 64, 10, 2).passed is False
    curve = [(1 / 255, 0.4), (2 / 255, 0.2), (4 / 255, 0.1)]
    assert sanity.curve_check("webp", curve, 1 / 255, 0.85, 20).passed is False
    assert sanity.curve_check("webp", curve, 1 / 255, 0.40, 20).passed is True
    assert sanity.curve_check("webp", curve, 1 / 255, 0.45, 20).passed is True  # one image
    assert sanity.curve_check("webp", curve, 4 / 255, 0.0, 20).passed is None


def test_a_report_with_failing_checks_says_so_at_its_top() -> None:
    report = {
        "model": "m", "data": "d", "n_images": 10, "attacks": [], "curves": {},
        "rows": [{"attack": "none", "defense": "webp", "accuracy": 0.9, "restored": None, "n": 10},
                 {"attack": "bpda-pgd", "defense": "webp", "accuracy": 0.5, "restored": None,
                  "n": 10}],
        "worst_case": {"webp": {"clean": 0.9, "accuracy": 0.5, "attack": "bpda-pgd", "n": 10,
                                "interval": [0.24, 0.76]}},
        "adaptive": {"steps": 100},
        "sanity": [{"name": "steps flatten (webp)", "passed": False, "detail": "still falling"},
                   {"name": "BPDA through identity == plain PGD", "passed": True, "detail": ""}],
        "parameters": {"defense_labels": {"webp": "webp q60"}},
    }  # fmt: skip
    text = markdown(report)
    top = text.split("## Worst case")[0]
    assert "SANITY CHECKS FAILED (1 of 2)" in top and "steps flatten (webp): still falling" in top
    assert "| webp q60 | 90.0 | **50.0** | 24.0-76.0 | bpda-pgd | 10 |" in text
    report["sanity"][0]["passed"] = True
    assert "All 2 informative sanity checks" in markdown(report).split("## Worst case")[0]
    # A check with nothing to test is neither passed nor failed, and the top says so.
    report["sanity"][0]["passed"] = None
    top = markdown(report).split("## Worst case")[0]
    assert "All 1 informative sanity checks" in top and "1 more had nothing to test" in top
    assert "- not informative: steps flatten (webp)" in markdown(report)
    report["sanity"][1]["passed"] = None
    assert markdown(report).split("\n")[2].startswith("**NO SANITY CHECK COULD FAIL**")


def test_precomputed_adversarial_folder_is_evaluated_under_every_defense(
    reference_slice, reference_cache: Path, tmp_path: Path, run_lltd
) -> None:
    from PIL import Image

    from lltd.evaluate import reference

    model, images, labels = reference_slice
    adversarial = pgd(model, None, images, labels, EPS, steps=10).adversarial
    folder = tmp_path / "adv"
    for index, (image, label) in enumerate(zip(adversarial, labels, strict=True)):
        target = folder / reference.CLASS_NAMES[label] / f"Adv_{index:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target)
    result = run_lltd(
        "evaluate", "--adversarial", folder, "--model", "reference", "--attacks", "none",
        "--defenses", "none,webp,flip", "-o", tmp_path / "out", "--no-plots", "--device", "cpu",
        env={"LLTD_CACHE_DIR": str(reference_cache)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {(r["attack"], r["defense"]): r["accuracy"] for r in report["rows"]}
    for name in ("none", "webp", "flip"):
        defense = make_defense(name, DefenseParameters())
        expected = float((defended_predictions(model, defense, adversarial) == labels).mean())
        assert rows["precomputed:adv", name] == pytest.approx(expected)
    assert not any(attack == "none" for attack, _ in rows)  # no --data: no clean row
