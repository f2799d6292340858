"""The adaptive evaluation's bookkeeping in-process, on a linear model whose answers are known.

``attack_defense`` runs the real PGD and Square attacks here; only their inputs and outputs are
recorded (a spy around them), so which images each run attacks, with which settings, and how the
results are merged can be checked exactly. test_adaptive.py checks the same code end to end on the
trained reference model (minutes); these run in seconds, once per mutant.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lltd.evaluate import adaptive  # noqa: E402
from lltd.evaluate.adaptive import (  # noqa: E402
    BPDA,
    SQUARE,
    AdaptiveSettings,
    DefenseAttack,
    attack_defense,
    defended_predictions,
)
from lltd.evaluate.bpda import to_pixels  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402
from lltd.evaluate.pgd import pgd as real_pgd  # noqa: E402

pytestmark = pytest.mark.torch

SIDE = 4
EPS = 8 / 255


class Brightness(torch.nn.Module):
    """Class 0 when the image is brighter than mid-grey (sum of its values over 24), else 1."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * SIDE * SIDE, 2)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[0] = 1.0
            self.linear.bias.copy_(torch.tensor([-1.5 * SIDE * SIDE, 0.0]))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(pixels.flatten(1).float())


class LeftHeavy(torch.nn.Module):
    """Class 0 when the left half is brighter than the right: a flip changes its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        half = pixels.shape[-1] // 2
        left = pixels[..., :half].flatten(1).sum(1)
        right = pixels[..., half:].flatten(1).sum(1)
        return torch.stack([left - right, right - left], 1) * self.scale


def grey(levels: list[int]) -> np.ndarray:
    return np.stack([np.full((SIDE, SIDE, 3), level, dtype=np.uint8) for level in levels])


def sided(count: int, seed: int = 0) -> np.ndarray:
    """Images brighter on one side or the other, at random."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 100, (count, SIDE, 2 * SIDE, 3), dtype=np.uint8)
    for image, left in zip(out, rng.integers(0, 2, count), strict=True):
        image[:, :SIDE] += 150 if left else 0
        image[:, SIDE:] += 0 if left else 150
    return out


def test_the_settings_are_the_documented_ones() -> None:
    full = AdaptiveSettings(0.03)
    assert (full.steps, full.restarts, full.losses, full.eot, full.square_queries, full.seed) == (
        100, 2, ("ce", "margin"), 8, 1000, 0,
    )  # fmt: skip
    quick = AdaptiveSettings.quick(0.03, seed=4)
    assert (quick.steps, quick.restarts, quick.eot, quick.square_queries, quick.seed) == (
        20, 1, 2, 50, 4,
    )  # fmt: skip
    assert quick.epsilon == 0.03 and AdaptiveSettings.quick(0.1).seed == 0
    assert full.as_dict() == {
        "epsilon": 0.03,
        "steps": 100,
        "restarts": 2,
        "losses": ["ce", "margin"],
        "eot": 8,
        "square_queries": 1000,
        "step_size": "epsilon/4, then epsilon/8 for the second half",
        "surrogate": "Gaussian low-pass, sigma 1.5 px, through webp, jpeg and median; exact "
        "through flip and resize-pad",
        "surrogate_sigmas": [1.5],
    }
    assert full.surrogate_sigmas == quick.surrogate_sigmas == (1.5,)
    assert [full.sigma(restart) for restart in range(3)] == [1.5, 1.5, 1.5]


def test_predictions_are_the_models_on_the_defended_pixels() -> None:
    model = LeftHeavy()
    images = sided(10)
    plain = model(to_pixels(images)).argmax(1).numpy()
    assert np.array_equal(defended_predictions(model, None, images), plain)
    assert np.array_equal(
        defended_predictions(model, make_defense("none", DefenseParameters()), images), plain
    )
    flipped = defended_predictions(model, make_defense("flip", DefenseParameters()), images)
    assert np.array_equal(flipped, 1 - plain)  # the flip swaps the halves: every answer changes
    assert defended_predictions(model, None, images[:0]).shape == (0,)
    assert defended_predictions(model, None, images[:0]).dtype == np.int64


def test_each_image_keeps_its_own_draw_whichever_subset_is_predicted() -> None:
    model = LeftHeavy()
    images = sided(40, seed=1)
    random_flip = make_defense("flip-random", DefenseParameters())
    everyone = defended_predictions(model, random_flip, images)
    assert np.array_equal(everyone, defended_predictions(model, random_flip, images))  # seeded
    plain = model(to_pixels(images)).argmax(1).numpy()
    assert 0 < (everyone != plain).sum() < len(images)  # some flipped sideways, some not
    for index in (np.array([3, 17, 39]), np.array([39, 0, 5, 6]), np.arange(40)[::-1]):
        part = defended_predictions(model, random_flip, images[index], index)
        assert np.array_equal(part, everyone[index]), index
    # The deployed system's draws are not the attacker's (whose generator starts at seed 0).
    attacker = random_flip.draws(40, np.random.default_rng(0))
    attacked_view = random_flip.batch(images, draws=attacker)
    assert not np.array_equal(model(to_pixels(attacked_view)).argmax(1).numpy(), everyone)


def test_many_images_are_predicted_in_batches_without_losing_one() -> None:
    model = Brightness()
    levels = list(np.random.default_rng(2).integers(0, 256, 301))
    got = defended_predictions(model, None, grey(levels))
    assert np.array_equal(got, [0 if level * 3 * SIDE * SIDE / 255 > 24 else 1 for level in levels])


def test_the_steps_curve_and_accuracies() -> None:
    attack = DefenseAttack(
        "x",
        broken=np.array([True, True, True, False]),
        broken_at=np.array([0, 2, 7, -1]),
        square_broken=np.array([True, True, True, True]),
        runs=[],
        seconds=0.0,
    )
    assert attack.accuracy(BPDA) == 0.25 and attack.accuracy(SQUARE) == 0.0
    assert attack.steps_curve(600) == [
        (0, 0.75), (1, 0.75), (2, 0.5), (5, 0.5), (10, 0.25), (20, 0.25), (50, 0.25),
        (100, 0.25), (200, 0.25), (500, 0.25), (600, 0.25),
    ]  # fmt: skip
    assert attack.steps_curve(7) == [(0, 0.75), (1, 0.75), (2, 0.5), (5, 0.5), (7, 0.25)]


@pytest.fixture
def spy(monkeypatch):
    """Record every PGD and Square call of attack_defense (the real attacks still run)."""
    calls: dict[str, list[dict]] = {"pgd": [], "square": []}
    real_pgd, real_square = adaptive.pgd, adaptive.square_attack

    def pgd(model, defense, images, labels, epsilon, **kw):
        calls["pgd"].append(
            {"defense": defense, "images": images.copy(), "labels": labels.copy(), **kw}
        )
        return real_pgd(model, defense, images, labels, epsilon, **kw)

    def square(model, defense, images, labels, epsilon, **kw):
        calls["square"].append({"defense": defense, "images": images.copy(), **kw})
        return real_square(model, defense, images, labels, epsilon, **kw)

    monkeypatch.setattr(adaptive, "pgd", pgd)
    monkeypatch.setattr(adaptive, "square_attack", square)
    return calls


# Mid-grey is 127.5: 100 is wrong from the start, 130 is within the budget, 250 is not.
LEVELS, LABELS = [100, 130, 250], np.zeros(3, dtype=np.int64)


def test_each_run_attacks_only_what_is_still_standing_and_results_merge(spy) -> None:
    model = Brightness()
    settings = AdaptiveSettings(EPS, steps=6, square_queries=20, seed=3)
    said: list[str] = []
    flip = make_defense("flip", DefenseParameters())
    attack = attack_defense(model, flip, grey(LEVELS), LABELS, settings, said.append)
    assert attack.defense == "flip"
    assert attack.broken.tolist() == [True, True, False]
    assert attack.square_broken.tolist() == [True, True, False]
    # Image 0 was wrong before any step; image 1 broke at the step PGD itself reports.
    first = spy["pgd"][0]
    assert np.array_equal(first["images"], grey(LEVELS[1:]))
    expected = real_pgd(model, flip, grey(LEVELS[1:]), LABELS[1:], EPS, **{
        k: v for k, v in first.items() if k not in ("defense", "images", "labels")
    })  # fmt: skip
    assert attack.broken_at.tolist() == [0, int(expected.broken_at[0]), -1]
    assert expected.broken_at[0] > 0
    # Two losses x two restarts: the first run from the clean image, the others from random
    # starts; after the first, only image 2 is left to attack.
    assert [(c["loss"], c["random_start"]) for c in spy["pgd"]] == [
        ("ce", False), ("ce", True), ("margin", False), ("margin", True),
    ]  # fmt: skip
    assert [len(c["images"]) for c in spy["pgd"]] == [2, 1, 1, 1]
    assert all(c["steps"] == 6 and c["eot"] == 1 for c in spy["pgd"])
    # Every attack is on the defended model (the defense is not left out).
    assert all(c["defense"] is flip for c in spy["pgd"] + spy["square"])
    assert len({c["seed"] for c in spy["pgd"]}) == 4 and spy["pgd"][0]["seed"] == 3
    assert [
        {k: v for k, v in run.items() if k != "seconds"} for run in attack.runs
    ] == [
        {"loss": "ce", "restart": 0, "random_start": False, "sigma": 1.5, "attacked": 2,
         "newly_broken": 1},
        {"loss": "ce", "restart": 1, "random_start": True, "sigma": 1.5, "attacked": 1,
         "newly_broken": 0},
        {"loss": "margin", "restart": 0, "random_start": False, "sigma": 1.5, "attacked": 1,
         "newly_broken": 0},
        {"loss": "margin", "restart": 1, "random_start": True, "sigma": 1.5, "attacked": 1,
         "newly_broken": 0},
    ]  # fmt: skip
    assert all(run["seconds"] >= 0 for run in attack.runs) and attack.seconds > 0
    # Square attacks only what BPDA-PGD left, with the settings' budget and seed.
    [square] = spy["square"]
    assert np.array_equal(square["images"], grey(LEVELS[2:]))
    assert (square["queries"], square["seed"]) == (20, 3)
    assert said == [
        "  bpda-pgd flip ce #0: 1/2 broken",
        "  bpda-pgd flip ce #1: 0/1 broken",
        "  bpda-pgd flip margin #0: 0/1 broken",
        "  bpda-pgd flip margin #1: 0/1 broken",
        "  square flip: 0/1 left standing by BPDA-PGD broken",
    ]


def test_run_r_of_each_loss_goes_back_through_the_r_mod_n_th_surrogate_width(
    spy, monkeypatch
) -> None:
    """--surrogate-sigmas: the low-pass BPDA builds on every backward pass has the width of its
    run (run r of each loss: the (r mod n)-th), whatever the other runs used."""
    from lltd.evaluate import bpda

    widths: list[float] = []
    real_low_pass = bpda.low_pass

    def low_pass(pixels, sigma):
        widths.append(sigma)
        return real_low_pass(pixels, sigma)

    monkeypatch.setattr(bpda, "low_pass", low_pass)
    steps, schedule = 2, (0.7, 3.0)
    settings = AdaptiveSettings(EPS, steps=steps, restarts=3, surrogate_sigmas=schedule)
    webp = make_defense("webp", DefenseParameters())
    # Far above mid-grey: no step within the budget breaks them, so every run takes every step.
    attack = attack_defense(
        Brightness(), webp, grey([250, 245]), LABELS[:2], settings, square=False
    )
    assert not attack.broken.any()
    per_run = [0.7, 3.0, 0.7] * 2  # ce runs 0-2, then margin runs 0-2
    assert widths == [width for width in per_run for _ in range(steps)]
    assert [call["sigma"] for call in spy["pgd"]] == per_run
    assert [run["sigma"] for run in attack.runs] == per_run
    assert settings.as_dict()["surrogate_sigmas"] == [0.7, 3.0]
    assert (
        "sigma 0.7, 3 (run r of each loss: the (r mod n)-th) px" in settings.as_dict()["surrogate"]
    )


def test_a_randomised_defense_is_attacked_with_eot_and_square_can_be_left_out(spy) -> None:
    settings = AdaptiveSettings(EPS, steps=3, restarts=1, losses=("margin",), eot=3)
    flip_random = make_defense("flip-random", DefenseParameters())
    attack = attack_defense(Brightness(), flip_random, grey(LEVELS), LABELS, settings, square=False)
    assert [c["eot"] for c in spy["pgd"]] == [3]
    assert spy["pgd"][0]["seed"] == 7  # the margin loss's runs are seeded apart from ce's
    assert spy["square"] == []
    assert attack.square_broken.tolist() == attack.broken.tolist()


def test_nothing_is_attacked_when_everything_is_already_wrong(spy) -> None:
    settings = AdaptiveSettings(EPS, steps=3)
    wrong = np.ones(3, dtype=np.int64)  # every image is class 0
    attack = attack_defense(
        Brightness(), make_defense("flip", DefenseParameters()), grey([200] * 3), wrong, settings
    )
    assert spy["pgd"] == [] and spy["square"] == [] and attack.runs == []
    assert attack.broken.all() and attack.broken_at.tolist() == [0, 0, 0]
    assert attack.accuracy(BPDA) == 0.0 and attack.accuracy(SQUARE) == 0.0


def test_the_first_step_any_run_broke_an_image_at_is_kept(monkeypatch) -> None:
    """A randomised defense's own evaluation draw can disagree with every EOT draw the attack
    checked, so an image PGD reported broken (at step 3) may still stand and be attacked again:
    later runs' steps (5; none; none) must not replace the earliest. PGD's results are scripted
    here, since real ones cannot be made to disagree on demand."""
    from lltd.evaluate.pgd import PgdResult

    steps = iter([3, 5, -1, -1])

    def scripted(model, defense, images, labels, epsilon, **kw):
        return PgdResult(images.copy(), np.array([next(steps)] * len(images)))

    monkeypatch.setattr(adaptive, "pgd", scripted)
    settings = AdaptiveSettings(EPS, steps=6)
    flip = make_defense("flip", DefenseParameters())
    attack = attack_defense(Brightness(), flip, grey([250]), LABELS[:1], settings, square=False)
    assert attack.broken.tolist() == [False] and len(attack.runs) == 4
    assert attack.broken_at.tolist() == [3]


def test_predictions_record_no_gradients() -> None:
    """The deployed system's answers only: no autograd graph is kept for them (memory)."""
    seen: list[bool] = []

    class Watching(LeftHeavy):
        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            seen.append(torch.is_grad_enabled())
            return super().forward(pixels)

    defended_predictions(Watching(), make_defense("flip", DefenseParameters()), sided(3))
    assert seen == [False]


def test_square_breaks_what_pgd_left_and_the_times_add_up(monkeypatch) -> None:
    """PGD scripted to break nothing: what Square then breaks counts in its row only."""
    from lltd.evaluate.pgd import PgdResult

    def nothing(model, defense, images, labels, epsilon, **kw):
        return PgdResult(images.copy(), np.full(len(images), -1))

    monkeypatch.setattr(adaptive, "pgd", nothing)
    settings = AdaptiveSettings(EPS, steps=4, restarts=1, square_queries=200)
    flip = make_defense("flip", DefenseParameters())
    before = time.monotonic()
    attack = attack_defense(Brightness(), flip, grey([130, 250]), LABELS[:2], settings)
    took = time.monotonic() - before
    assert attack.broken.tolist() == [False, False]
    assert attack.square_broken.tolist() == [True, False]  # 130 is within reach, 250 is not
    assert attack.accuracy(BPDA) == 1.0 and attack.accuracy(SQUARE) == 0.5
    assert 0 <= attack.seconds <= took
    assert all(0 <= run["seconds"] <= attack.seconds + 0.01 for run in attack.runs)


def test_a_long_bpda_run_gives_plain_progress_lines_in_a_log(monkeypatch) -> None:
    """Off a terminal, BPDA-PGD says how far each run is (steps, rate, time left) at most once
    per interval; the interval is 0 here, so every step gives its line."""
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    settings = AdaptiveSettings(EPS, steps=4, restarts=1, losses=("ce",), square_queries=20)
    said: list[str] = []
    flip = make_defense("flip", DefenseParameters())
    attack_defense(Brightness(), flip, grey([250]), LABELS[:1], settings, said.append)
    lines = [line for line in said if " steps" in line]
    assert lines, said
    assert lines[0].startswith(f"  {BPDA} flip ce #0: 1/5 steps (20 %)")
    assert lines[-1].startswith(f"  {BPDA} flip ce #0: 5/5 steps (100 %)")
