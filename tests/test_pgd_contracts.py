"""BPDA-PGD's contracts in-process, on tiny models whose gradients are known: the 8-bit ball, the
step schedule (epsilon/4, then epsilon/8), the step an image broke at, the random start and its
seed per batch, the batch size under the copy budget, progress, and the patience a randomised
defense must be beaten for."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="lltd.evaluate.pgd needs the [attack] extra")

import torch.nn.functional as F  # noqa: E402

from lltd.evaluate import pgd as pgd_module  # noqa: E402
from lltd.evaluate.bpda import SURROGATE_SIGMA, to_pixels  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402
from lltd.evaluate.pgd import (  # noqa: E402
    LOSSES,
    RANDOM_PATIENCE,
    loss_values,
    pgd,
    quantized_ball,
    step_size,
)

pytestmark = pytest.mark.torch

EPS = 8 / 255
P = DefenseParameters()


class Mean(torch.nn.Module):
    """Class 0 when the mean pixel is above ``threshold``, else class 1: every pixel's gradient
    has the same sign, so each PGD step moves every pixel by exactly one step size."""

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.seen.append(pixels.detach().clone())
        mean = pixels.flatten(1).mean(1) - self.threshold
        return torch.stack([mean, -mean], 1) * self.scale


class LeftHeavy(torch.nn.Module):
    """Class 0 when the left half is brighter than the right: a horizontal flip swaps it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        half = pixels.shape[-1] // 2
        left, right = pixels[..., :half].flatten(1).sum(1), pixels[..., half:].flatten(1).sum(1)
        return torch.stack([left - right, right - left], 1) * self.scale


def grey(levels: list[int], side: int = 4) -> np.ndarray:
    return np.stack([np.full((side, side, 3), level, dtype=np.uint8) for level in levels])


def zeros(count: int) -> np.ndarray:
    return np.zeros(count, dtype=np.int64)


def test_the_defaults_are_the_documented_ones() -> None:
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(pgd).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    assert defaults == {
        "steps": 100, "loss": "ce", "random_start": False, "eot": 1, "seed": 0, "batch": 48,
        "sigma": SURROGATE_SIGMA, "progress": None,
    }  # fmt: skip


def test_the_ball_is_the_whole_8_bit_levels_within_epsilon() -> None:
    assert quantized_ball(8 / 255) == 8 / 255
    assert quantized_ball(8.99 / 255) == 8 / 255
    assert quantized_ball(8 / 255 - 1e-9) == 8 / 255  # float noise below a whole level
    assert quantized_ball((8 - 1.5e-6) / 255) == 7 / 255  # more than 1e-6 levels short: not noise
    assert quantized_ball(7.99 / 255) == 7 / 255
    assert quantized_ball(0.5 / 255) == 0 and quantized_ball(1.0) == 1.0


def test_steps_are_a_quarter_of_epsilon_for_the_first_half_then_an_eighth() -> None:
    assert [step_size(8.0, step, 10) for step in range(10)] == [2.0] * 5 + [1.0] * 5
    assert [step_size(8.0, step, 5) for step in range(5)] == [2.0] * 2 + [1.0] * 3
    assert step_size(8.0, 0, 1) == 1.0 and step_size(8.0, 0, 2) == 2.0


def test_the_losses_are_cross_entropy_and_the_carlini_wagner_margin() -> None:
    logits = torch.tensor([[2.0, 0.5, 1.0], [0.0, 3.0, -1.0], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 2, 1])
    assert LOSSES == ("ce", "margin")
    ce = loss_values(logits, labels, "ce")
    assert torch.allclose(ce, F.cross_entropy(logits, labels, reduction="none"))
    assert ce.shape == (3,)
    # The best other class minus the true one: positive once misclassified.
    assert loss_values(logits, labels, "margin").tolist() == [-1.0, 4.0, 0.0]
    with pytest.raises(ValueError) as refused:
        loss_values(logits, labels, "hinge")
    assert str(refused.value) == "loss must be one of ('ce', 'margin'), not 'hinge'"
    with pytest.raises(ValueError) as refused:
        pgd(Mean(), None, grey([100]), zeros(1), EPS, loss="CE")
    assert str(refused.value) == "loss must be one of ('ce', 'margin'), not 'CE'"


@pytest.mark.parametrize("loss", LOSSES)
def test_every_pixel_moves_by_the_scheduled_steps_and_stays_in_the_ball(loss: str) -> None:
    # 4 steps of 8 levels: 2 + 2, then 1 + 1 (the last iterate is judged, not moved).
    clean = grey([250, 200])
    result = pgd(Mean(), None, clean, zeros(2), EPS, steps=4, loss=loss)
    assert result.adversarial.tolist() == grey([244, 194]).tolist()
    assert result.broken_at.tolist() == [-1, -1] and result.broken_at.dtype == np.int64
    odd = pgd(Mean(), None, clean, zeros(2), EPS, steps=5, loss=loss)  # 2 + 2 + 1 + 1 + 1
    assert odd.adversarial.tolist() == grey([243, 193]).tolist()
    long = pgd(Mean(), None, clean, zeros(2), EPS, steps=20, loss=loss)  # capped at 8
    assert long.adversarial.tolist() == grey([242, 192]).tolist()
    assert pgd(Mean(), None, clean, zeros(2), EPS, steps=0).adversarial.tolist() == clean.tolist()
    assert clean.tolist() == grey([250, 200]).tolist()  # the caller's images are left alone


def test_the_ball_is_clipped_to_0_and_255() -> None:
    image = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    image[0, :2] = 3
    image[0, 2:] = 253
    # Class 0 below level 25.5 is out of reach: darkened 8 levels, clipped at 0.
    dark = pgd(Mean(0.1), None, image, zeros(1), EPS, steps=20).adversarial[0]
    assert dark[:2].max() == 0 and dark[2:].min() == dark[2:].max() == 245
    # Class 1 (dark) above level 229.5 is out of reach: brightened, clipped at 255.
    bright = pgd(Mean(0.9), None, image, np.ones(1, dtype=np.int64), EPS, steps=20)
    assert bright.adversarial[0, :2].max() == 11 and bright.adversarial[0, 2:].min() == 255
    assert bright.broken_at.tolist() == [-1]


def test_an_image_is_kept_as_it_was_at_the_step_that_broke_it() -> None:
    clean = grey([100, 130, 250])
    model = Mean()
    result = pgd(model, None, clean, zeros(3), EPS, steps=4)
    # 100 is wrong as it is; 130 - 2 - 2 = 126 is below mid-grey at step 2; 250 never breaks.
    assert result.broken_at.tolist() == [0, 2, -1]
    assert result.adversarial.tolist() == grey([100, 126, 244]).tolist()
    # A broken image is not attacked further: the model saw 3, then 2, 2, 1 and 1 images.
    assert [len(seen) for seen in model.seen] == [3, 2, 2, 1, 1]
    # The model is shown 8-bit images (plain PGD rounds the iterate, as a saved image is).
    for seen in model.seen:
        assert torch.equal(seen, seen.mul(255).round().div(255))


def test_the_attack_stops_when_every_image_is_broken() -> None:
    model = Mean()
    result = pgd(model, None, grey([100, 129]), zeros(2), EPS, steps=50)
    assert result.broken_at.tolist() == [0, 1]
    assert result.adversarial.tolist() == grey([100, 127]).tolist()
    assert len(model.seen) == 2


def test_the_iterate_the_model_sees_is_rounded_to_8_bits_but_steps_add_up_unrounded() -> None:
    # 2.5 levels a step: the model sees 250 - 2.5 k rounded; 4 steps of 10/255: 2.5+2.5+1.25+1.25.
    model = Mean()
    result = pgd(model, None, grey([250]), zeros(1), 10 / 255, steps=4)
    assert [round(float(seen[0, 0, 0, 0]) * 255, 3) for seen in model.seen] == [
        250, 248, 245, 244, 242,
    ]  # fmt: skip
    assert result.adversarial.tolist() == grey([242]).tolist()


def test_a_random_start_is_uniform_in_the_ball_and_seeded_per_batch() -> None:
    clean = grey([128, 128, 128, 128], side=6)
    first = pgd(Mean(2.0), None, clean, zeros(4), EPS, steps=0, random_start=True)
    moved = first.adversarial.astype(int) - 128
    assert moved.min() == -8 and moved.max() == 8  # spread over the whole ball
    assert len(np.unique(moved)) == 17
    # Uniform over the ball: centred on the clean image, no level much more likely than another.
    assert abs(moved.mean()) < 1
    assert max(np.bincount(moved.ravel() + 8)) < 2 * moved.size / 17
    assert not np.array_equal(first.adversarial[0], first.adversarial[1])
    again = pgd(Mean(2.0), None, clean, zeros(4), EPS, steps=0, random_start=True)
    assert np.array_equal(again.adversarial, first.adversarial)
    other = pgd(Mean(2.0), None, clean, zeros(4), EPS, steps=0, random_start=True, seed=1)
    assert not np.array_equal(other.adversarial, first.adversarial)
    # The batch starting at image s is seeded with seed + s: alone, it is the same attack.
    split = pgd(Mean(2.0), None, clean, zeros(4), EPS, steps=0, random_start=True, batch=2)
    alone = pgd(Mean(2.0), None, clean[2:], zeros(2), EPS, steps=0, random_start=True, seed=2)
    assert np.array_equal(split.adversarial[2:], alone.adversarial)
    whole = pgd(Mean(2.0), None, clean[:2], zeros(2), EPS, steps=0, random_start=True)
    assert np.array_equal(split.adversarial[:2], whole.adversarial)
    # Without a random start the attack begins at the clean image.
    assert np.array_equal(pgd(Mean(2.0), None, clean, zeros(4), EPS, steps=0).adversarial, clean)


def test_a_random_start_near_0_or_255_stays_inside_the_image_range() -> None:
    clean = grey([2, 253], side=8)
    got = pgd(Mean(2.0), None, clean, zeros(2), EPS, steps=0, random_start=True).adversarial
    assert got[0].min() == 0 and got[0].max() == 10
    assert got[1].min() == 245 and got[1].max() == 255


def test_progress_counts_every_step_of_every_batch_and_a_batch_that_broke_early_in_full() -> None:
    heard: list[tuple[int, int]] = []
    pgd(Mean(), None, grey([250] * 5), zeros(5), EPS, steps=3, batch=2,
        progress=lambda done, total: heard.append((done, total)))  # fmt: skip
    assert heard == [(k, 12) for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)]
    heard.clear()
    pgd(Mean(), None, grey([100, 100, 250]), zeros(3), EPS, steps=3, batch=2,
        progress=lambda done, total: heard.append((done, total)))  # fmt: skip
    assert heard == [(4, 8), (5, 8), (6, 8), (7, 8), (8, 8)]  # the first batch: wrong at once


def test_the_batch_shrinks_so_all_copies_of_one_step_stay_within_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pgd_module._COPY_BUDGET == 80 * 224 * 224  # pixels

    def batches(images: np.ndarray, defense=None, eot: int = 1, batch: int = 48) -> int:
        totals: list[int] = []
        pgd(Mean(2.0), defense, images, zeros(len(images)), EPS, steps=0, eot=eot, batch=batch,
            progress=lambda done, total: totals.append(total))  # fmt: skip
        return totals[-1]

    # A budget of 160 pixels: 4 x 4 images, 5 copies each -> 2 a batch.
    monkeypatch.setattr(pgd_module, "_COPY_BUDGET", 160)
    images = grey([128] * 3)
    flip_random, flip = make_defense("flip-random", P), make_defense("flip", P)
    assert batches(images, flip_random, eot=5) == 2
    assert batches(images[:2], flip_random, eot=5) == 1
    assert batches(images, flip_random, eot=3) == 1  # 160 // 48: 3 a batch
    assert batches(images, flip, eot=5) == 1  # a deterministic defense runs one copy: 10 a batch
    assert batches(images, None, eot=5) == 1
    assert batches(grey([128] * 5), None, batch=2) == 3  # the caller's 2 is less
    assert batches(grey([128] * 12), None) == 2  # 160 // 16 = 10 is less than 48
    # Images bigger than the whole budget still go, one at a time.
    assert batches(grey([128, 128], side=13)) == 2
    empty = pgd(Mean(), None, np.zeros((0, 4, 4, 3), np.uint8), zeros(0), EPS)
    assert empty.broken_at.size == 0 and empty.adversarial.shape == (0, 4, 4, 3)


def test_a_randomised_defense_is_beaten_only_after_patience_steps_of_every_draw_wrong() -> None:
    assert RANDOM_PATIENCE == 3
    flip_random = make_defense("flip-random", P)
    # A flip leaves the mean alone: 100 is wrong under every draw, from the start.
    result = pgd(Mean(), flip_random, grey([100, 250]), zeros(2), EPS, steps=3, eot=2)
    assert result.broken_at.tolist() == [RANDOM_PATIENCE - 1, -1]
    assert result.adversarial[0].max() == 100 - 2 - 1  # as it was at step 2 (3 steps: 2, 1, 1)
    short = pgd(Mean(), flip_random, grey([100]), zeros(1), EPS, steps=1, eot=2)
    assert short.broken_at.tolist() == [-1]
    # A deterministic defense is beaten at the first step it is wrong.
    flip = make_defense("flip", P)
    assert pgd(Mean(), flip, grey([100]), zeros(1), EPS, steps=3).broken_at.tolist() == [0]
    # Left-heavy images: a horizontal flip fools the model, a vertical one does not. With 4
    # draws a step some are vertical: never every draw wrong (any one wrong would do by step 2).
    rng = np.random.default_rng(0)
    sided = rng.integers(0, 40, (2, 4, 8, 3), dtype=np.uint8)
    sided[:, :, :4] += 200
    model = LeftHeavy()
    assert model(to_pixels(sided)).argmax(1).tolist() == [0, 0]
    assert pgd(model, flip_random, sided, zeros(2), EPS, steps=3, eot=4).broken_at.tolist() == [
        -1, -1,
    ]  # fmt: skip
    assert pgd(model, flip, sided, zeros(2), EPS, steps=3).broken_at.tolist() == [0, 0]


def test_each_eot_draw_is_a_copy_of_the_iterate() -> None:
    model = Mean()
    flip_random = make_defense("flip-random", P)
    pgd(model, flip_random, grey([250, 200]), zeros(2), EPS, steps=2, eot=3)
    assert [tuple(seen.shape) for seen in model.seen] == [(6, 3, 4, 4)] * 3  # whole images
    assert pgd_module._COPY_BUDGET == 80 * 224 * 224


class Seesaw(torch.nn.Module):
    """Always class 1, but the loss of class 1 grows with brightness on even calls and with
    darkness on odd ones: PGD moves every pixel up, down, up, down."""

    def __init__(self, left_only: bool = False) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.calls, self.left_only = 0, left_only

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        sign = 1.0 if self.calls % 2 == 0 else -1.0
        self.calls += 1
        seen = pixels[..., : pixels.shape[-1] // 2] if self.left_only else pixels
        mean = seen.flatten(1).mean(1) * self.scale
        return torch.stack([sign * mean - 10, -sign * mean], 1)


def test_the_iterate_never_leaves_the_image_range_even_on_its_way_back() -> None:
    # +2, -2, +1, -1 levels: from 254 the first step stops at 255, so the last iterate is 253.
    clean = grey([254, 100])
    result = pgd(Seesaw(), None, clean, np.ones(2, dtype=np.int64), EPS, steps=4)
    assert result.broken_at.tolist() == [-1, -1]
    assert result.adversarial.tolist() == grey([253, 100]).tolist()


def test_pixels_the_loss_does_not_depend_on_are_left_where_they_are() -> None:
    clean = np.full((1, 4, 4, 3), 100, dtype=np.uint8)
    got = pgd(Seesaw(left_only=True), None, clean, np.ones(1, dtype=np.int64), EPS, steps=1)
    assert got.adversarial[0, :, 2:].tolist() == clean[0, :, 2:].tolist()  # no gradient, no step
    assert got.adversarial[0, :, :2].min() == got.adversarial[0, :, :2].max() == 101  # eps/8
