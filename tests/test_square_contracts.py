"""The Square attack's contracts in-process, on tiny models whose answers are known: the window
schedule exactly, the stripes it starts from, the window it moves, the 8-bit ball it stays in,
the query it reports, and the defense it attacks through."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="lltd.evaluate.square needs the [attack] extra")

from lltd.evaluate.bpda import to_pixels  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402
from lltd.evaluate.square import square_attack, window_fraction  # noqa: E402

pytestmark = pytest.mark.torch

SIDE = 8
EPS = 8 / 255  # exactly 8 levels


class Brightness(torch.nn.Module):
    """Class 0 when the mean pixel is above 0.5 (mid-grey, level 127.5), else class 1; records
    every batch it is shown (the 8-bit images as pixels)."""

    def __init__(self, give_up_after: int | None = None) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []
        self.give_up_after = give_up_after  # calls; then it answers class 1 to everything

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.seen.append(pixels.detach().clone())
        mean = pixels.flatten(1).mean(1)
        if self.give_up_after is not None and len(self.seen) > self.give_up_after:
            mean = torch.zeros_like(mean)
        return torch.stack([mean - 0.5, 0.5 - mean], 1) * self.scale


class LeftHeavy(torch.nn.Module):
    """Class 0 when the left half is brighter than the right: a flip swaps its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        half = pixels.shape[-1] // 2
        left, right = pixels[..., :half].flatten(1).sum(1), pixels[..., half:].flatten(1).sum(1)
        return torch.stack([left - right, right - left], 1) * self.scale


def grey(levels: list[int], side: int = SIDE) -> np.ndarray:
    return np.stack([np.full((side, side, 3), level, dtype=np.uint8) for level in levels])


def levels_moved(adversarial: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return adversarial.astype(int) - clean.astype(int)


@pytest.mark.parametrize(
    ("query", "halvings"),
    [(0, 0), (10, 0), (11, 1), (50, 1), (51, 2), (200, 2), (201, 3), (500, 3), (501, 4),
     (1000, 4), (1001, 5), (2000, 5), (2001, 6), (4000, 6), (4001, 7), (6000, 7), (6001, 8),
     (8000, 8), (8001, 9), (10000, 9)],
)  # fmt: skip
def test_the_window_share_halves_after_each_mark_of_the_papers_10000_query_schedule(
    query: int, halvings: int
) -> None:
    assert window_fraction(0.8, query, 10000) == 0.8 / 2**halvings


def test_the_schedule_is_rescaled_to_the_query_budget_and_a_budget_of_0_counts_as_1() -> None:
    # 1000 queries: query q stands at 10 q of the paper's 10 000.
    assert window_fraction(0.8, 1, 1000) == 0.8  # at 10: not past the first mark
    assert window_fraction(0.8, 2, 1000) == 0.4  # at 20
    assert window_fraction(0.8, 100, 1000) == 0.8 / 2**4  # at 1000: past 10, 50, 200, 500
    assert window_fraction(0.8, 999, 1000) == 0.8 / 2**9  # at 9990
    assert window_fraction(0.5, 1, 0) == 0.5 / 2**9  # 1 / max(0, 1) of the way: at 10 000
    assert window_fraction(0.5, 0, 0) == 0.5
    # The position is truncated, not rounded: 11 of 10 001 queries is at 10.999, not past 10.
    assert window_fraction(0.8, 11, 10001) == 0.8


def test_the_defaults_are_the_papers_budget_and_window_share() -> None:
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(square_attack).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    assert defaults == {"queries": 1000, "p_init": 0.05, "seed": 0}


def test_every_query_of_the_budget_is_tried_on_an_image_left_standing_and_a_tie_is_no_break() -> (
    None
):
    model = Brightness()
    _, broken_at = square_attack(model, None, grey([250], 4), np.zeros(1, dtype=np.int64), EPS,
                                 queries=5)  # fmt: skip
    assert broken_at.tolist() == [-1] and len(model.seen) == 1 + 5

    labels = np.zeros(2, dtype=np.int64)
    _, tied = square_attack(Undecided(calls=10), None, grey([100, 250], 4), labels, EPS, queries=3)
    assert tied.tolist() == [-1, -1]


def test_it_starts_from_vertical_stripes_of_plus_or_minus_epsilon_per_channel() -> None:
    clean = grey([100, 130, 250])
    adversarial, broken_at = square_attack(
        Brightness(), None, clean, np.zeros(3, dtype=np.int64), EPS, queries=0
    )
    moved = levels_moved(adversarial, clean)
    # Each column of each channel moved by exactly one budget, up or down (250 + 8 clamps at 255).
    assert set(np.unique(moved[:2])) == {-8, 8}
    assert set(np.unique(moved[2])) == {-8, 5}
    assert (moved == moved[:, :1]).all()  # the same in every row: vertical stripes
    assert not (moved[:2] == moved[:2, :, :1]).all()  # not one shift for the whole row
    # No query: only the start is judged. 100 is wrong as it is; 130 and 250 stand.
    assert broken_at.tolist() == [0, -1, -1]
    assert broken_at.dtype == np.int64


def test_the_budget_is_the_whole_8_bit_levels_within_epsilon() -> None:
    clean = grey([128])
    adversarial, _ = square_attack(
        Brightness(), None, clean, np.zeros(1, dtype=np.int64), 8.9 / 255, queries=0
    )
    assert set(np.unique(levels_moved(adversarial, clean))) == {-8, 8}


def test_each_query_resets_one_square_window_of_the_scheduled_side_in_every_row_it_covers() -> None:
    # 8 x 8 images, share 0.25 at query 1 of 1000: a 4 x 4 window (sqrt(0.25 * 64)).
    for p_init, side in ((0.25, 4), (1.0, 7), (0.001, 1)):  # at most H - 1, at least 1
        model = Brightness(give_up_after=2)  # the start and the first query, then broken
        clean = grey([250])
        _, broken_at = square_attack(model, None, clean, np.zeros(1, dtype=np.int64), EPS,
                                     queries=1000, p_init=p_init, seed=5)  # fmt: skip
        start, *candidates = (seen.mul(255).round().int().numpy()[0] for seen in model.seen)
        assert len(candidates) == 2 and broken_at.tolist() == [2]
        candidate = candidates[0]  # the first query's window is the scheduled one
        differs = (candidate != start).any(0)
        rows, columns = np.flatnonzero(differs.any(1)), np.flatnonzero(differs.any(0))
        assert len(rows) == side, p_init  # a column of the window changes in all its rows
        assert rows.max() - rows.min() == side - 1 and columns.max() - columns.min() < side
        # Inside the window: the clean image moved by one sign per channel (clamped at 255).
        delta = candidate[:, rows.min() : rows.max() + 1] - 250
        assert set(np.unique(delta)) <= {-8, 5}


class Undecided(torch.nn.Module):
    """The same logit for both classes (a margin of 0: no query ever improves on it) for its
    first ``calls`` calls, then class 1 for everything; records what it is shown."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.calls, self.seen = calls, []

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        self.seen.append(pixels.mul(255).round().int().numpy())
        out = torch.zeros(len(pixels), 2)
        if len(self.seen) > self.calls:
            out[:, 1] = 1.0
        return out * self.scale


def test_each_window_lies_wholly_inside_the_image_at_every_offset_it_can_take() -> None:
    # 100 000 queries: the first 100 all stand before the schedule's first mark, so every window
    # is 7 x 7 (share 1 of an 8 x 8 image, at most H - 1): it starts at row 0 or 1, column 0 or 1.
    model = Undecided(calls=41)
    square_attack(model, None, grey([128]), np.zeros(1, dtype=np.int64), EPS, queries=100_000,
                  p_init=1.0)  # fmt: skip
    start, *candidates = (seen[0] for seen in model.seen[:41])  # nothing is ever kept
    tops, columns_changed = set(), set()
    for candidate in candidates:
        differs = (candidate != start).any(0)
        rows, columns = np.flatnonzero(differs.any(1)), np.flatnonzero(differs.any(0))
        # Every row of the window changes where a column does (the stripes are vertical); of
        # its columns, those whose stripe already had the window's signs do not.
        assert rows.tolist() == list(range(rows[0], rows[0] + 7))
        assert columns.max() - columns.min() < 7
        tops.add(int(rows[0]))
        columns_changed.update(columns.tolist())
    assert tops == {0, 1} and columns_changed == set(range(8))


def test_the_query_that_broke_an_image_is_the_first_whose_candidate_the_model_got_wrong() -> None:
    model = Brightness()
    clean = grey([129], 4)  # wrong below mid-grey: most of it moved down by the budget
    adversarial, broken_at = square_attack(model, None, clean, np.zeros(1, dtype=np.int64), EPS,
                                           queries=40, p_init=0.8)  # fmt: skip
    means = [float(seen.mean()) for seen in model.seen]  # call 0: the start; call q: query q
    first_wrong = next(call for call, mean in enumerate(means) if mean < 0.5)
    assert broken_at.tolist() == [first_wrong] and first_wrong > 0
    assert len(means) == first_wrong + 1  # not queried once broken
    assert adversarial.astype(float).mean() < 127.5
    assert set(np.unique(levels_moved(adversarial, clean))) <= {-8, 8}


class Count(torch.nn.Module):
    """Class 0 until more than ``threshold`` values are below mid-grey: its margin is a whole
    number, so a query can tie the two classes exactly."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.threshold, self.counts = threshold, []

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        dark = (pixels < 0.5).flatten(1).sum(1).float()
        self.counts.append(int(dark[0]))
        return torch.stack([self.threshold - dark, torch.zeros_like(dark)], 1) * self.scale


def test_a_query_that_only_ties_the_classes_is_no_break_the_first_past_the_tie_is() -> None:
    model = Count(26)
    _, broken_at = square_attack(model, None, grey([130], 4), np.zeros(1, dtype=np.int64), EPS,
                                 queries=60, p_init=0.3)  # fmt: skip
    first_past = next(call for call, count in enumerate(model.counts) if count > 26)
    assert broken_at.tolist() == [first_past]
    assert 26 in model.counts[:first_past]  # a tie was kept on the way (a better margin: 0)


def test_a_query_is_kept_only_when_it_lowers_the_margin_and_the_attack_is_seeded() -> None:
    clean = grey([128, 250], 4)
    labels = np.zeros(2, dtype=np.int64)
    kw = {"queries": 30, "p_init": 0.8}
    model = Brightness()
    adversarial, broken_at = square_attack(model, None, clean, labels, EPS, **kw)
    assert broken_at[1] == -1
    # What the 250 image ends as is the darkest candidate it was shown (a darker one is better).
    shown = [seen[-1].sum() for seen in model.seen]
    assert to_pixels(adversarial[1:]).sum() == pytest.approx(float(min(shown)), abs=1e-3)
    start, _ = square_attack(Brightness(), None, clean, labels, EPS, queries=0)
    assert adversarial[1].astype(int).sum() < start[1].astype(int).sum()
    assert set(np.unique(levels_moved(adversarial[1], clean[1]))) <= {-8, 5}
    # The same seed gives the same attack; another seed another one.
    again = square_attack(Brightness(), None, clean, labels, EPS, **kw)
    assert np.array_equal(again[0], adversarial) and np.array_equal(again[1], broken_at)
    other = square_attack(Brightness(), None, clean, labels, EPS, **kw, seed=1)
    assert not np.array_equal(other[0], adversarial)


def test_a_broken_image_is_no_longer_queried_and_the_attack_stops_when_none_stands() -> None:
    model = Brightness()
    clean = grey([131, 100])
    _, broken_at = square_attack(model, None, clean, np.zeros(2, dtype=np.int64), EPS,
                                 queries=1000, p_init=0.5)  # fmt: skip
    assert broken_at[1] == 0 and 0 < broken_at[0] < 1000
    # The start (both images), then one image per query until it broke: then no more queries.
    assert [len(seen) for seen in model.seen] == [2] + [1] * int(broken_at[0])


def test_the_margin_is_taken_on_the_defended_8_bit_images() -> None:
    # A left-heavy image is class 0 bare and class 1 through the flip: broken before any query.
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 60, (2, SIDE, SIDE, 3), dtype=np.uint8)
    clean[:, :, : SIDE // 2] += 190
    labels = np.zeros(2, dtype=np.int64)
    model = LeftHeavy()
    assert model(to_pixels(clean)).argmax(1).tolist() == [0, 0]
    _, bare = square_attack(model, None, clean, labels, EPS, queries=5)
    flip = make_defense("flip", DefenseParameters())
    _, defended = square_attack(model, flip, clean, labels, EPS, queries=5)
    assert bare.tolist() == [-1, -1] and defended.tolist() == [0, 0]
    # The model sees 8-bit images: every value it is shown is a whole level.
    spy = Brightness()
    square_attack(spy, None, grey([250]), np.zeros(1, dtype=np.int64), 8.5 / 255, queries=4)
    for seen in spy.seen:
        assert torch.allclose(seen * 255, (seen * 255).round(), atol=1e-4)


def test_a_randomised_defense_draws_fresh_parameters_on_every_query() -> None:
    # Brighter on the left, the same top and bottom: the image the model sees tells the draw
    # (a horizontal flip puts the bright half on the right, a vertical one leaves it).
    spy = Brightness()
    clean = np.full((1, SIDE, SIDE, 3), 30, dtype=np.uint8)
    clean[:, :, : SIDE // 2] = 200  # mean 115: class 1 even 8 levels brighter
    flip_random = make_defense("flip-random", DefenseParameters())
    square_attack(spy, flip_random, clean, np.ones(1, dtype=np.int64), EPS, queries=7)
    half = SIDE // 2
    left_bright = [bool(seen[0, :, :, :half].mean() > seen[0, :, :, half:].mean())
                   for seen in spy.seen]  # fmt: skip
    assert len(left_bright) == 8 and set(left_bright) == {True, False}

    model = LeftHeavy()
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 60, (1, SIDE, SIDE, 3), dtype=np.uint8)
    clean[:, :, : SIDE // 2] += 190
    flip_random = make_defense("flip-random", DefenseParameters())
    _, broken_at = square_attack(model, flip_random, clean, np.zeros(1, dtype=np.int64), EPS,
                                 queries=50)  # fmt: skip
    # Half the draws flip the image (class 1: broken): within a few queries one does.
    assert 0 <= broken_at[0] < 10
