"""The headline of an evaluation is the per-image worst case: an image counts as robust only if
it survives every attack of the report, each alone leaves more (issue 25)."""

from __future__ import annotations

import numpy as np
import pytest

from lltd.evaluate.report import epsilon_label, markdown
from lltd.evaluate.stats import wilson, worst_case

pytest.importorskip("torch")  # lltd.evaluate.data and .run load the models' helpers


def _rows(accuracies: dict[str, float], n: int) -> list[dict]:
    return [
        {"attack": a, "defense": "webp", "accuracy": v, "restored": None, "n": n}
        for a, v in accuracies.items()
    ]


def test_two_attacks_that_break_different_images_leave_neither() -> None:
    n = 10
    survival = {
        "webp": {
            "none": np.ones(n, bool),
            "pgd": np.array([1] * 5 + [0] * 5, bool),  # breaks the second half
            "bpda-pgd": np.array([0] * 5 + [1] * 5, bool),  # breaks the first half
        }
    }
    rows = _rows({"none": 1.0, "pgd": 0.5, "bpda-pgd": 0.5}, n)
    entry = worst_case(rows, survival)["webp"]
    assert entry["accuracy"] == 0.0 and entry["robust"] == 0 and entry["attack"] == "union"
    assert entry["alone"] == {"none": 10, "pgd": 5, "bpda-pgd": 5}
    assert entry["min_row"] == {"accuracy": 0.5, "attack": "pgd"}
    assert entry["interval"] == list(wilson(0.0, n))
    # An image the defended classifier gets wrong clean is not robust either.
    survival["webp"] = {"none": np.array([0] + [1] * 9, bool), "pgd": np.ones(n, bool)}
    assert worst_case(_rows({"none": 0.9, "pgd": 1.0}, n), survival)["webp"]["accuracy"] == 0.9
    # Without per-image outcomes (an older report) it is the minimum of the rows.
    assert worst_case(rows)["webp"]["accuracy"] == 0.5


def test_precomputed_images_pair_with_the_clean_image_they_were_made_from() -> None:
    from lltd.evaluate.data import pair, pairing_key
    from lltd.evaluate.run import _paired

    clean = ["n01443537 goldfish", "n01443537 goldfish-2", "n01534433 junco"]
    adversarial = [
        "Adv_n01534433 junco-n01530575 brambling",
        "Adv_n01443537 goldfish-2-n02606052 rock beauty",  # the longest clean stem wins
        "Adv_n09999999 stranger-n01530575 brambling",
        "n01443537 goldfish",
    ]
    index = pair(clean, adversarial)
    assert index.tolist() == [2, 1, -1, 0]
    assert pairing_key("Adv_x-y") == "x-y" and pairing_key("plain") == "plain"
    # Per clean image: right only if every adversarial version made from it is right.
    correct = np.array([False, True, False, True])
    assert _paired(correct, index, 3).tolist() == [True, True, False]


def test_epsilon_labels_say_what_a_sub_level_budget_really_was() -> None:
    assert epsilon_label(8 / 255) == "8/255" and epsilon_label(1 / 255) == "1/255"
    assert epsilon_label(0.25 / 255) == "0.25/255 (floored to 0/255)"
    assert epsilon_label(2 / 255 * 0.75) == "1.5/255 (floored to 1/255)"
    report = {
        "model": "m", "data": "d", "n_images": 10, "attacks": [], "rows": _rows({}, 10),
        "worst_case": {}, "adaptive": {"steps": 2}, "sanity": [],
        "parameters": {"defense_labels": {}},
        "curves": {"webp": {"epsilon": [(0.25 / 255, 0.9), (0.5 / 255, 0.9), (1 / 255, 0.4)]}},
    }  # fmt: skip
    text = markdown(report)
    assert "0.25/255 (floored to 0/255): 90.0, 0.5/255 (floored to 0/255): 90.0, 1/255: 40.0" in (
        text
    )
