"""``lltd.evaluate.run`` in-process, on tiny models whose answers are known: the options and their
refusals word for word, the rows, the per-image worst case with precomputed sets (paired and
unpaired), the per-source split, the adaptive path's checks and curves, and the parameters the
report records."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="lltd.evaluate.run needs the [attack] extra")

from lltd.attack.catalog import DEFAULT_EVALUATE_ATTACKS  # noqa: E402
from lltd.common.errors import UsageError  # noqa: E402
from lltd.evaluate import run  # noqa: E402
from lltd.evaluate.adaptive import BPDA, SQUARE, AdaptiveSettings  # noqa: E402
from lltd.evaluate.data import Dataset, join  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense  # noqa: E402
from lltd.evaluate.run import EvaluateOptions, evaluate  # noqa: E402

pytestmark = pytest.mark.torch

P = DefenseParameters()
EPS = 8 / 255


class LeftHeavy(torch.nn.Module):
    """Class 0 when the left half is brighter than the right: a horizontal flip swaps it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        half = pixels.shape[-1] // 2
        left, right = pixels[..., :half].flatten(1).sum(1), pixels[..., half:].flatten(1).sum(1)
        return torch.stack([left - right, right - left], 1) * self.scale


def sided(lefts: list[bool], side: int = 4) -> np.ndarray:
    """Images brighter on the left (True) or on the right, far beyond any 8/255 budget."""
    out = np.full((len(lefts), side, side, 3), 20, dtype=np.uint8)
    for image, left in zip(out, lefts, strict=True):
        image[:, : side // 2 if left else side] = 200 if left else 20
        image[:, side // 2 :] = 20 if left else 200
    return out


def dataset(lefts: list[bool], labels: list[int], source: str = "clean", names=None) -> Dataset:
    return Dataset(
        sided(lefts), np.asarray(labels, dtype=np.int64), source,
        names=names if names is not None else [f"i{k}" for k in range(len(lefts))],
    )  # fmt: skip


def options(**changes) -> EvaluateOptions:
    defenses = changes.pop("defenses", [make_defense("none", P), make_defense("flip", P)])
    return EvaluateOptions(attacks=changes.pop("attacks", ("none",)), defenses=defenses, **changes)


# -- the options -------------------------------------------------------------------------------


def test_the_defaults_are_the_documented_ones() -> None:
    o = EvaluateOptions()
    assert tuple(o.attacks) == DEFAULT_EVALUATE_ATTACKS and tuple(o.defenses) == ()
    assert o.parameters == DefenseParameters() and o.epsilon is None and o.adaptive is False
    assert (o.adaptive_steps, o.restarts, o.eot, o.square_queries, o.surrogate_sigmas) == (
        None, None, None, None, None,
    )  # fmt: skip
    assert tuple(o.sweep_qualities) == () and o.match_size is False and o.quick is False
    assert o.seed == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.seed = 1  # type: ignore[misc]
    assert (run.QUICK_IMAGES, run.MAX_SIGMA, run.MAIN_DEFENSE) == (60, 32.0, "webp+flip")
    assert run.STRONGER_SUBSAMPLE == 64


def test_attack_settings_come_from_the_catalog_full_or_quick() -> None:
    full, quick = EvaluateOptions(), EvaluateOptions(quick=True)
    assert full.attack_settings("deepfool") == {"steps": 50, "candidates": 10}
    assert quick.attack_settings("deepfool") == {"steps": 20, "candidates": 3}
    assert (full.steps("pgd"), quick.steps("pgd"), full.steps("bim"), quick.steps("bim")) == (
        40, 10, 10, 5,
    )  # fmt: skip


def test_epsilon_applies_to_the_bounded_attacks_only_and_defaults_to_8_of_255() -> None:
    assert EvaluateOptions().epsilon_for("fgsm") == EPS
    assert EvaluateOptions(epsilon=0.1).epsilon_for("pgd") == 0.1
    assert EvaluateOptions(epsilon=0.1).epsilon_for("deepfool") is None
    assert EvaluateOptions().epsilon_for("cw") is None
    assert EvaluateOptions().linf_epsilon() == EPS
    assert EvaluateOptions(epsilon=0.05).linf_epsilon() == 0.05


def test_adaptive_settings_are_full_or_quick_with_each_override_that_is_given() -> None:
    assert EvaluateOptions(epsilon=0.05, seed=3).adaptive_settings() == AdaptiveSettings(
        0.05, seed=3
    )
    assert EvaluateOptions(quick=True, seed=2).adaptive_settings() == AdaptiveSettings.quick(EPS, 2)
    got = EvaluateOptions(
        quick=True, adaptive_steps=7, restarts=3, eot=4, square_queries=9,
        surrogate_sigmas=(0.0, 2.0),
    ).adaptive_settings()  # fmt: skip
    assert (got.steps, got.restarts, got.eot, got.square_queries, got.surrogate_sigmas) == (
        7, 3, 4, 9, (0.0, 2.0),
    )  # fmt: skip
    assert got.epsilon == EPS and got.seed == 0
    one = EvaluateOptions(eot=5).adaptive_settings()
    assert (one.steps, one.restarts, one.eot, one.square_queries) == (100, 2, 5, 1000)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attacks": ("fgsm", "blur")},
         "unknown attack 'blur'; choose from deepfool, fgsm, bim, pgd, cw (or none)"),
        ({"attacks": ("none",), "epsilon": 0.1},
         "--epsilon 0.1: none of the attacks (none) takes a budget; add fgsm, bim or pgd, "
         "or --adaptive"),
        ({"attacks": ("deepfool", "cw"), "epsilon": 0.1},
         "--epsilon 0.1: none of the attacks (deepfool, cw) takes a budget; add fgsm, bim or "
         "pgd, or --adaptive"),
        ({"attacks": ("pgd",), "epsilon": 1.5},
         "--epsilon is an L-inf budget in (0, 1] (8/255 = 0.0314), not 1.5"),
        ({"attacks": ("pgd",), "restarts": 0}, "--restarts must be at least 1, not 0"),
        ({"attacks": ("pgd",), "eot": 0}, "--eot must be at least 1, not 0"),
        ({"attacks": ("pgd",), "eot": -2}, "--eot must be at least 1, not -2"),
        ({"attacks": ("pgd",), "surrogate_sigmas": ()},
         "--surrogate-sigmas: widths must be 0-32 px, one or more"),
        ({"attacks": ("pgd",), "surrogate_sigmas": (1.0, 32.5, -1.0)},
         "--surrogate-sigmas: widths must be 0-32 px, one or more, not 32.5"),
        ({"attacks": ("pgd",), "surrogate_sigmas": (-0.5,)},
         "--surrogate-sigmas: widths must be 0-32 px, one or more, not -0.5"),
    ],
)  # fmt: skip
def test_each_bad_option_is_refused_in_one_line(changes, message) -> None:
    with pytest.raises(UsageError) as refused:
        EvaluateOptions(**changes).validate()
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"attacks": ("none",)}, {"attacks": ("fgsm",), "epsilon": 1.0},
        {"attacks": ("none",), "epsilon": 0.1, "adaptive": True},
        {"attacks": ("deepfool", "pgd"), "epsilon": 0.1},
        {"attacks": ("pgd",), "restarts": 1, "eot": 1},
        {"attacks": ("pgd",), "surrogate_sigmas": (0.0, 32.0)},
    ],
)  # fmt: skip
def test_options_at_the_edge_of_their_ranges_are_taken(changes) -> None:
    EvaluateOptions(**changes).validate()


# -- rows, pairing and the worst case -------------------------------------------------------------


def test_a_row_is_the_accuracy_and_the_share_of_fooled_images_restored() -> None:
    row = run._row("a", "d", np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]),
                   np.array([True, False, True, False]))  # fmt: skip
    assert (row.attack, row.defense, row.accuracy, row.restored, row.n) == ("a", "d", 0.5, 0.5, 4)
    none = run._row("a", "d", np.array([0, 0]), np.array([0, 1]), np.array([False, False]))
    assert none.restored is None and none.accuracy == 0.5 and none.n == 2
    assert isinstance(row.accuracy, float) and isinstance(row.restored, float)


def test_an_image_is_right_under_a_precomputed_set_when_every_version_made_from_it_is() -> None:
    correct = np.array([True, False, True, False, True])
    assert run._paired(correct, None, 5) is correct
    index = np.array([0, 0, 2, -1, 3])
    # Image 0: one version wrong; 1: none made (right); 2: right; 3: its one version right. The
    # wrong version made from no clean image (-1) counts for none (not for the last one).
    assert run._paired(correct, index, 4).tolist() == [False, True, True, True]


def test_clean_and_defended_rows_with_per_image_survival_and_sources() -> None:
    data = join([dataset([True, True], [0, 1], "a"), dataset([False, False], [1, 1], "b")])
    report = evaluate(LeftHeavy(), data, options())
    assert report["rows"] == [
        {"attack": "none", "defense": "none", "accuracy": 0.75, "restored": 0.0, "n": 4},
        {"attack": "none", "defense": "flip", "accuracy": 0.25, "restored": 1.0, "n": 4},
    ]
    assert report["survivors"] == {"none": [0, 2, 3], "flip": [1]}
    assert report["worst_case"]["none"]["accuracy"] == 0.75
    assert report["worst_case"]["flip"]["accuracy"] == 0.25
    assert report["by_source"] == {
        "a": {"n": 2, "none": {"clean": 0.5, "worst": 0.5}, "flip": {"clean": 0.5, "worst": 0.5}},
        "b": {"n": 2, "none": {"clean": 1.0, "worst": 1.0}, "flip": {"clean": 0.0, "worst": 0.0}},
    }
    assert report["attacks"] == [] and report["sweep"] == [] and report["match_size"] is None
    assert report["adaptive"] is None and report["sanity"] == [] and report["sanity_passed"]
    assert report["curves"] == {}
    single = evaluate(LeftHeavy(), dataset([True, False], [0, 0]), options())
    assert single["by_source"] == {
        "clean": {
            "n": 2,
            "none": {"clean": 0.5, "worst": 0.5},
            "flip": {"clean": 0.5, "worst": 0.5},
        }
    }


def test_precomputed_sets_pair_with_their_clean_images_and_join_the_per_image_worst_case() -> None:
    data = dataset([True, True, True], [0, 0, 0], names=["a", "b", "c"])
    # Made from a and b: a's version fools the bare model, b's does not; c was not attacked.
    made = dataset([False, True], [0, 0], "adv", names=["Adv_a-n1", "Adv_b-n2"])
    other = dataset([True, False], [0, 0], "adv2", names=["Adv_b-x", "Adv_c-y"])
    report = evaluate(LeftHeavy(), data, options(), precomputed={"p:one": made, "p:two": other})
    assert report["attacks"] == [
        {"attack": "p:one", "epsilon": None, "steps": None, "fooled": 0.5, "source": "adv",
         "seconds": 0.0, "paired": 2, "images": 2},
        {"attack": "p:two", "epsilon": None, "steps": None, "fooled": 0.5, "source": "adv2",
         "seconds": 0.0, "paired": 2, "images": 2},
    ]  # fmt: skip
    rows = {(r["attack"], r["defense"]): r["accuracy"] for r in report["rows"]}
    assert rows[("p:one", "none")] == 0.5 and rows[("p:two", "none")] == 0.5
    # Per image, bare: a broken by one, c by two; only b survives both.
    assert report["worst_case"]["none"]["accuracy"] == pytest.approx(1 / 3)
    assert report["survivors"]["none"] == [1]
    # Through the flip everything is turned round: only the clean row's wrong answers... none
    # survive the clean set, so none survive at all.
    assert report["survivors"]["flip"] == []


def test_without_data_the_first_precomputed_sets_clean_names_are_the_reports_images() -> None:
    made = dataset([False, True, True], [0, 0, 0], "adv", names=["Adv_a-1", "Adv_b-1", "Adv_c-1"])
    # Paired by the first set's keys ("a-1", "b-1", "c-1"), as any other set would be.
    other = dataset([True, True], [0, 0], "adv2", names=["Adv_c-1-z", "Adv_a-1-z"])
    report = evaluate(LeftHeavy(), None, options(), precomputed={"p:1": made, "p:2": other})
    assert [a["paired"] for a in report["attacks"]] == [3, 2]
    assert report["survivors"]["none"] == [1, 2]
    assert report["by_source"] is None
    nothing = evaluate(LeftHeavy(), None, options())
    assert nothing["rows"] == [] and nothing["survivors"] == {} and nothing["attacks"] == []


def test_a_precomputed_set_that_does_not_all_pair_caps_the_worst_case_at_its_row() -> None:
    data = dataset([True, True, True, True], [0, 0, 0, 0], names=["a", "b", "c", "d"])
    # Two of its three images pair; the third (made from "zz") cannot join the union.
    made = dataset([False, False, True], [0, 0, 0], "adv", names=["Adv_a-1", "Adv_zz-1", "Adv_b"])
    report = evaluate(LeftHeavy(), data, options(), precomputed={"p:x": made})
    assert report["attacks"][0]["paired"] == 2 and report["attacks"][0]["images"] == 3
    assert report["attacks"][0]["fooled"] == pytest.approx(2 / 3)
    # Every defense still gets its row for the set (only the union leaves it out).
    assert [(r["attack"], r["defense"]) for r in report["rows"]] == [
        ("none", "none"), ("none", "flip"), ("p:x", "none"), ("p:x", "flip"),
    ]  # fmt: skip
    worst = report["worst_case"]["none"]
    # The clean set alone: 4 of 4; the set's row: 1 of 3. The worst case is at most its row.
    assert (worst["accuracy"], worst["attack"], worst["n"]) == (pytest.approx(1 / 3), "p:x", 3)
    assert worst["interval"] == pytest.approx(list(run.wilson(1 / 3, 3)))
    assert report["survivors"]["none"] == [0, 1, 2, 3]  # the union never saw it
    # A row that is not worse leaves the worst case alone.
    kind = dataset([True, True], [0, 0], "adv", names=["Adv_a-1", "Adv_zz-1"])
    calm = evaluate(LeftHeavy(), data, options(), precomputed={"p:y": kind})["worst_case"]["none"]
    assert calm["accuracy"] == 1.0 and calm["attack"] != "p:y"


def test_a_set_made_from_the_first_clean_image_joins_the_union_and_caps_nothing() -> None:
    data = dataset([True, True, True], [0, 0, 0], names=["a", "b", "c"])
    made = dataset([False], [0], "adv", names=["Adv_a-1"])  # pairs with clean image 0
    worst = evaluate(LeftHeavy(), data, options(), precomputed={"p:a": made})["worst_case"]
    # Its row is 0 of 1; the union leaves b and c: 2 of 3 (no cap at the row).
    assert worst["none"]["accuracy"] == pytest.approx(2 / 3) and worst["none"]["n"] == 3


def test_match_size_runs_on_the_data_when_asked() -> None:
    data = dataset([True, False], [0, 1])
    asked = evaluate(LeftHeavy(), data, options(match_size=True, sweep_qualities=(50,)))
    assert [entry["codec"] for entry in asked["match_size"]] == ["webp", "jpeg"]
    assert evaluate(LeftHeavy(), data, options(sweep_qualities=(50,)))["match_size"] is None
    alone = dataset([True], [0], names=["Adv_x-1"])
    nothing = evaluate(LeftHeavy(), None, options(match_size=True), precomputed={"p": alone})
    assert nothing["match_size"] is None


class Masked(torch.nn.Module):
    """Class 0 when the mean pixel is above mid-grey, with its gradient masked (zero): BPDA-PGD
    gets nothing to follow; the gradient-free Square attack does not need one."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = pixels.detach().flatten(1).mean(1) - 0.5 + 0 * pixels.flatten(1).sum(1)
        return torch.stack([mean, -mean], 1) * self.scale


def test_what_square_breaks_beyond_bpda_counts_in_the_rows_and_the_fooled_share() -> None:
    data = dataset([True], [0])
    data.images[:] = 128  # half a level above mid-grey
    o = options(defenses=[make_defense("none", P)], adaptive=True, adaptive_steps=2, restarts=1,
                square_queries=30, eot=1)  # fmt: skip
    report = evaluate(Masked(), data, o)
    rows = {(r["attack"], r["defense"]): r["accuracy"] for r in report["rows"]}
    assert (rows[(BPDA, "none")], rows[(SQUARE, "none")]) == (1.0, 0.0)
    [entry] = report["attacks"]
    assert entry["fooled"] == 1.0
    assert set(entry) == {"attack", "against", "epsilon", "steps", "fooled", "runs", "seconds"}
    assert entry["seconds"] == round(entry["seconds"], 2) and len(entry["runs"]) == 2
    assert report["worst_case"]["none"]["accuracy"] == 0.0


# -- the adaptive path ---------------------------------------------------------------------------


def test_main_defense_is_webp_flip_else_the_first_lossy_one_else_none() -> None:
    names = lambda *ns: [make_defense(n, P) for n in ns]  # noqa: E731
    assert run._main_defense(names("jpeg", "webp+flip", "median")).name == "webp+flip"
    assert run._main_defense(names("none", "flip", "median", "jpeg")).name == "median"
    assert run._main_defense(names("none", "flip", "flip-random")) is None
    assert run._main_defense([]) is None


def test_the_stronger_configuration_doubles_the_steps_adds_a_run_and_moves_the_seed() -> None:
    base = AdaptiveSettings(0.03, steps=7, restarts=2, eot=3, square_queries=11, seed=4)
    harder = run.stronger(base)
    assert (harder.steps, harder.restarts, harder.seed) == (14, 3, 5)
    assert (harder.epsilon, harder.eot, harder.square_queries, harder.losses) == (
        0.03, 3, 11, base.losses,
    )  # fmt: skip


def test_the_adaptive_evaluation_adds_bpda_and_square_rows_checks_and_curves() -> None:
    said: list[str] = []
    data = dataset([True, True, False, False], [0, 0, 1, 1])
    o = options(
        defenses=[make_defense("none", P), make_defense("webp+flip", P)], adaptive=True,
        adaptive_steps=2, restarts=1, square_queries=3, eot=1,
    )  # fmt: skip
    report = evaluate(LeftHeavy(), data, o, said.append)
    rows = {(r["attack"], r["defense"]): r for r in report["rows"]}
    assert (BPDA, SQUARE) == ("bpda-pgd", "square")
    assert set(rows) == {
        ("none", "none"), ("none", "webp+flip"), (BPDA, "none"), (SQUARE, "none"),
        (BPDA, "webp+flip"), (SQUARE, "webp+flip"),
    }  # fmt: skip
    assert rows[(BPDA, "none")] == {
        "attack": BPDA, "defense": "none", "accuracy": 1.0, "restored": None, "n": 4,
    }  # fmt: skip
    assert rows[("none", "webp+flip")]["accuracy"] == 0.0  # the flip turns every answer round
    assert rows[(BPDA, "webp+flip")]["accuracy"] == rows[(SQUARE, "webp+flip")]["accuracy"] == 0
    assert report["adaptive"] == o.adaptive_settings().as_dict()
    assert [a["attack"] for a in report["attacks"]] == ["bpda-pgd + square"] * 2
    first = report["attacks"][0]
    assert (first["against"], first["epsilon"], first["steps"], first["fooled"]) == (
        "none", EPS, 2, 0.0,
    )  # fmt: skip
    assert set(report["curves"]) == {"none", "webp+flip"}
    assert report["curves"]["none"]["steps"][0] == (0, 1.0)
    assert "epsilon" in report["curves"]["webp+flip"]  # the main defense's epsilon sweep
    assert [(check["name"], check["passed"]) for check in report["sanity"]] == [
        ("BPDA through identity == plain PGD", True),
        ("steps flatten (none)", True),
        ("Square does not beat BPDA (none)", True),
        ("steps flatten (webp+flip)", None),
        ("Square does not beat BPDA (webp+flip)", None),
        ("epsilon to ~0 (webp+flip)", True),
        ("epsilon curve not below the headline (webp+flip)", None),
        ("stronger attack breaks at most one more (none)", True),
        ("stronger attack breaks at most one more (webp+flip)", None),
    ]
    assert report["sanity_passed"] is True
    assert report["curves"]["webp+flip"]["epsilon"] == report["sanity"][5]["data"]
    assert said[:3] == [
        "defenses (2 x 1 image sets)",
        "sanity: BPDA through the identity vs plain PGD",
        "adaptive attacks on none (4 images, 2 steps x 1 restarts x 2 losses, surrogate sigma "
        "1.5, Square 3 queries)",
    ]
    assert "sanity: accuracy against epsilon on webp q60 + flip" in said
    assert said[-5] == (
        "sanity: stronger attack on none (4 robust images of 4, 4 steps x 2 restarts)"
    )
    assert report["survivors"] == {"none": [0, 1, 2, 3], "webp+flip": []}


def test_a_randomised_defense_says_its_eot_and_the_stronger_check_skips_what_is_not_robust() -> (
    None
):
    said: list[str] = []
    data = dataset([True, False], [0, 0])  # the second is wrong from the start
    o = options(
        defenses=[make_defense("flip-random", P)], adaptive=True, adaptive_steps=2, restarts=1,
        square_queries=2, eot=2, surrogate_sigmas=(1.5, 3.0),
    )  # fmt: skip
    report = evaluate(LeftHeavy(), data, o, said.append)
    assert any("(2 images, EOT x2, 2 steps x 1 restarts x 2 losses, surrogate sigma 1.5/3, Square "
               "2 queries)" in line for line in said)  # fmt: skip
    stronger = [c for c in report["sanity"] if "stronger" in c["name"]]
    assert len(stronger) == 1
    assert not any("sanity: accuracy against epsilon" in line for line in said)  # none lossy


# -- what the report records ---------------------------------------------------------------------


def test_the_parameters_record_every_setting_of_the_run() -> None:
    o = EvaluateOptions(
        attacks=("none", "deepfool", "pgd"), defenses=[make_defense("none", P),
        make_defense("flip-random", P)], epsilon=0.05, adaptive=True, quick=True, seed=7,
        sweep_qualities=(30, 60), match_size=True, surrogate_sigmas=(1.0, 2.0),
    )  # fmt: skip
    got = run._parameters(o, "cpu")
    assert got == {
        "attacks": ["deepfool", "pgd"],
        "defenses": ["none", "flip-random"],
        "defense_labels": {"none": "none", "flip-random": "flip random"},
        "randomized": ["flip-random"],
        "webp_quality": 60,
        "quality_range": [40, 80],
        "resize_pad": 0.15,
        "jpeg_quality": 75,
        "bits": 4,
        "median_size": 3,
        "epsilon": 0.05,
        "steps": {"deepfool": 20, "pgd": 10},
        "candidates": {"deepfool": 3},
        "adaptive": True,
        "surrogate_sigmas": [1.0, 2.0],
        "sweep_qualities": [30, 60],
        "match_size": True,
        "quick": True,
        "seed": 7,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
    }


# -- evaluate_model: the model by its factory, the data from folders ------------------------------


class LeftHeavyNet(LeftHeavy):
    """LeftHeavy as ``--model`` takes it: a factory's module with its size, classes and
    normalisation (none)."""

    input_size = 4
    categories = ("left", "right")
    mean = (0.0, 0.0, 0.0)
    std = (1.0, 1.0, 1.0)


def left_heavy_net() -> LeftHeavyNet:
    return LeftHeavyNet()


SPEC = f"{__name__}:left_heavy_net"


def image_folder(root, counts: dict[str, list[bool]]):
    from PIL import Image

    for folder, lefts in counts.items():
        (root / folder).mkdir(parents=True)
        for number, image in enumerate(sided(lefts)):
            Image.fromarray(image).save(root / folder / f"{folder}{number}.png")
    return root


def test_evaluate_model_loads_the_model_and_folders_and_reports_them(tmp_path) -> None:
    data = image_folder(tmp_path / "data", {"left": [True, True, False], "right": [False]})
    said: list[str] = []
    o = options()
    report = run.evaluate_model(SPEC, "DEFAULT", data, o, progress=said.append)
    assert (report["model"], report["weights"], report["data"]) == (SPEC, "DEFAULT", str(data))
    assert (report["n_images"], report["classes"], report["input_size"]) == (4, 2, 4)
    assert report["rows"][0] == {
        "attack": "none", "defense": "none", "accuracy": 0.75, "restored": 0.0, "n": 4,
    }  # fmt: skip
    assert report["skipped"] == [] and report["parameters"] == run._parameters(o, "cpu")
    assert set(report["timings_s"]) == {"model", "evaluate", "total"}
    assert report["timings_s"]["total"] >= report["timings_s"]["evaluate"] >= 0
    assert "reference_code_hash" not in report
    assert said[0] == f"evaluating {SPEC} on {data} (4 images)"
    # A limit takes that many, spread over the set; --quick alone would take 60.
    assert run.evaluate_model(SPEC, "DEFAULT", [data], o, limit=2)["n_images"] == 2
    assert run.evaluate_model(SPEC, "DEFAULT", data, options(quick=True))["n_images"] == 4


def test_evaluate_model_joins_folders_and_takes_precomputed_sets_with_or_without_data(
    tmp_path,
) -> None:
    one = image_folder(tmp_path / "one", {"left": [True], "right": [False]})
    two = image_folder(tmp_path / "two", {"left": [False]})
    (two / "left" / "bad.png").write_bytes(b"not a png")
    adv = image_folder(tmp_path / "adv", {"left": [False, False, True]})
    (adv / "left" / "worse.png").write_bytes(b"")
    report = run.evaluate_model(SPEC, "DEFAULT", [one, two], options(), adversarial_dirs=[adv])
    assert report["data"] == f"{one}, {two}, {adv}" and report["n_images"] == 3
    assert set(report["by_source"]) == {str(one), str(two)}
    assert report["skipped"] == [str(two / "left" / "bad.png"), str(adv / "left" / "worse.png")]
    assert [a["attack"] for a in report["attacks"]] == ["precomputed:adv"]
    alone = run.evaluate_model(SPEC, "DEFAULT", None, options(), adversarial_dirs=[adv], limit=2)
    assert (alone["data"], alone["n_images"]) == (str(adv), 2)
    assert alone["attacks"][0]["images"] == 2
    with pytest.raises(UsageError) as refused:
        run.evaluate_model(SPEC, "DEFAULT", [], options())
    assert str(refused.value) == "--data (or --adversarial) is required unless --model reference"
    with pytest.raises(UsageError) as refused:  # the options are checked before the model loads
        run.evaluate_model("no.such.module:factory", "DEFAULT", one, options(eot=0))
    assert str(refused.value) == "--eot must be at least 1, not 0"


class Mean(torch.nn.Module):
    """Class 0 when the mean pixel is above mid-grey, else class 1 (the gradient is the same
    for every pixel: one signed step darkens them all)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        mean = pixels.flatten(1).mean(1) - 0.5
        return torch.stack([mean, -mean], 1) * self.scale


def test_an_oblivious_attack_is_run_once_on_the_bare_model_and_reported(tmp_path) -> None:
    pytest.importorskip("foolbox", reason="the oblivious attacks need the [attack] extra")
    data = Dataset(
        np.stack([np.full((4, 4, 3), level, np.uint8) for level in (130, 250, 250)]),
        np.zeros(3, dtype=np.int64), "grey", names=["a", "b", "c"],
    )  # fmt: skip
    said: list[str] = []
    o = options(attacks=("none", "fgsm"), defenses=[make_defense("none", P)])
    report = evaluate(Mean(), data, o, said.append)
    [entry] = report["attacks"]
    # One signed step of 8 levels: 130 -> 122 is fooled, 250 -> 242 is not.
    assert set(entry) == {"attack", "epsilon", "steps", "fooled", "mean_linf", "mean_l2", "seconds"}
    assert (entry["attack"], entry["epsilon"], entry["steps"]) == ("fgsm", EPS, 1)
    assert entry["fooled"] == pytest.approx(1 / 3)
    assert entry["mean_linf"] == pytest.approx(8 / 255) and entry["mean_l2"] > 0
    assert 0 <= entry["seconds"] == round(entry["seconds"], 2) < 600
    assert said[0] == "attack fgsm (3 images, 1 steps)"
    rows = {(r["attack"], r["defense"]): r for r in report["rows"]}
    assert rows[("fgsm", "none")]["accuracy"] == pytest.approx(2 / 3)
    assert rows[("fgsm", "none")]["restored"] == 0.0
    assert report["survivors"]["none"] == [1, 2]


def test_a_minimal_attack_says_its_other_settings_and_takes_no_budget() -> None:
    pytest.importorskip("foolbox", reason="the oblivious attacks need the [attack] extra")
    data = Dataset(np.full((2, 4, 4, 3), 130, np.uint8), np.zeros(2, dtype=np.int64), "grey")
    said: list[str] = []
    o = options(attacks=("deepfool",), defenses=[make_defense("none", P)], quick=True)
    [entry] = evaluate(Mean(), data, o, said.append)["attacks"]
    assert said[0] == "attack deepfool (2 images, 20 steps, 3 candidates)"
    assert (entry["attack"], entry["epsilon"], entry["steps"], entry["fooled"]) == (
        "deepfool", None, 20, 1.0,
    )  # fmt: skip


def test_evaluate_model_times_the_model_the_evaluation_and_the_whole_to_the_hundredth(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    data = image_folder(tmp_path / "data", {"left": [True], "right": [False]})
    ticks = iter([100.0, 102.3456, 103.0, 110.1234, 110.9876])  # start, loaded, read, done, end
    monkeypatch.setattr(run, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))
    report = run.evaluate_model(SPEC, "DEFAULT", data, options())
    assert report["timings_s"] == {"model": 2.35, "evaluate": 7.12, "total": 10.99}


def test_an_unreadable_adversarial_folder_is_named_by_its_own_option(tmp_path) -> None:
    data = image_folder(tmp_path / "data", {"left": [True]})
    empty = tmp_path / "adv"
    empty.mkdir()
    with pytest.raises(UsageError) as refused:
        run.evaluate_model(SPEC, "DEFAULT", data, options(), adversarial_dirs=[empty])
    assert str(refused.value) == f"--adversarial {empty}: no images found"


def test_evaluate_model_says_every_source_it_reads(tmp_path) -> None:
    one = image_folder(tmp_path / "one", {"left": [True], "right": [False]})
    adv = image_folder(tmp_path / "adv", {"left": [False]})
    said: list[str] = []
    run.evaluate_model(
        SPEC, "DEFAULT", one, options(), adversarial_dirs=[adv], progress=said.append
    )
    assert said[0] == f"evaluating {SPEC} on {one}, {adv} (2 images)"


def test_an_attack_ticks_its_images_under_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("foolbox", reason="the oblivious attacks need the [attack] extra")
    from lltd.common.progress import INTERVAL_VARIABLE

    monkeypatch.setenv(INTERVAL_VARIABLE, "0")  # a line at every update
    data = Dataset(np.full((2, 4, 4, 3), 130, np.uint8), np.zeros(2, dtype=np.int64), "grey")
    said: list[str] = []
    evaluate(
        Mean(), data, options(attacks=("fgsm",), defenses=[make_defense("none", P)]), said.append
    )
    ticks = [line for line in said if line.startswith("attack fgsm:")]
    assert ticks and ticks[-1].startswith("attack fgsm: 2/2 images (100 %), ")
