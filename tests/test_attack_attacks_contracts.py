"""The foolbox attacks behind ``lltd attack`` (``lltd.attack.attacks``, issue 27), in-process on
a tiny seeded network and 4 x 4 images: each name builds its foolbox class with the catalog's
settings; a catalog entry whose kind foolbox disagrees with is refused; a run is foolbox's own
run, seeded, projected into the budget and clamped to [0, 1], with honest success flags and
step counts (DeepFool's per image: the fewest steps after which that image is adversarial)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
fb = pytest.importorskip("foolbox")

from lltd.attack import catalog  # noqa: E402
from lltd.attack.attacks import (  # noqa: E402
    _CountingMisclassification,
    _foolbox_attack,
    make_attack,
    run_attack,
    seeded,
)
from lltd.common.errors import UsageError  # noqa: E402

pytestmark = pytest.mark.torch


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(48, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)
    ).eval()


def batch(count: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.nn.Module]:
    """Images in [0, 1] and the tiny model's own classes for them (so each is correct)."""
    model = tiny_model()
    images = torch.from_numpy(np.random.default_rng(seed).random((count, 3, 4, 4))).float()
    with torch.no_grad():
        labels = model(images).argmax(1)
    return images, labels, model


FOOLBOX_CLASSES = {
    "deepfool": "L2DeepFoolAttack",
    "fgsm": "LinfFastGradientAttack",
    "bim": "LinfBasicIterativeAttack",
    "pgd": "LinfPGD",
    "cw": "L2CarliniWagnerAttack",
}


@pytest.mark.parametrize("name", list(FOOLBOX_CLASSES))
def test_each_name_is_its_foolbox_class(name: str) -> None:
    assert _foolbox_attack(name) is getattr(fb.attacks, FOOLBOX_CLASSES[name])
    assert type(make_attack(name)) is getattr(fb.attacks, FOOLBOX_CLASSES[name])


@pytest.mark.parametrize("name", list(FOOLBOX_CLASSES))
def test_a_catalog_entry_whose_kind_foolbox_disagrees_with_is_refused(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = dataclasses.replace(catalog.CATALOG[name], bounded=not catalog.CATALOG[name].bounded)
    monkeypatch.setitem(catalog.CATALOG, name, wrong)
    cls = getattr(fb.attacks, FOOLBOX_CLASSES[name])
    with pytest.raises(TypeError) as caught:
        _foolbox_attack(name)
    assert str(caught.value) == (
        f"catalog says {name} bounded={wrong.bounded}; foolbox {cls} disagrees"
    )


def test_the_catalogs_settings_reach_each_attack() -> None:
    assert vars(make_attack("deepfool")) | {"loss": None} == {
        "steps": 50, "candidates": 10, "overshoot": 0.02, "loss": None
    }  # fmt: skip
    deepfool = make_attack("deepfool", steps=3, candidates=4, overshoot=0.1)
    assert (deepfool.steps, deepfool.candidates, deepfool.overshoot) == (3, 4, 0.1)
    fgsm = make_attack("fgsm")
    assert (fgsm.steps, fgsm.random_start) == (1, False)
    assert make_attack("fgsm", steps=1, random_start=True).random_start is True
    bim = make_attack("bim")
    assert (bim.steps, bim.random_start) == (10, False)
    assert make_attack("bim", steps=2, random_start=True).random_start is True
    pgd = make_attack("pgd")
    assert (pgd.steps, pgd.random_start) == (40, True)  # PGD starts at a random point
    assert make_attack("pgd", steps=7, random_start=False).random_start is False
    assert make_attack("pgd", steps=7).steps == 7
    cw = make_attack("cw")
    assert (cw.binary_search_steps, cw.steps) == (5, 100)
    cw = make_attack("cw", steps=3, binary_search_steps=2)
    assert (cw.binary_search_steps, cw.steps) == (2, 3)


def test_steps_below_one_and_a_multi_step_fgsm_are_one_line_refusals() -> None:
    for name in ("deepfool", "bim", "cw"):
        assert make_attack(name, steps=1).steps == 1
        with pytest.raises(UsageError) as caught:
            make_attack(name, steps=0)
        assert str(caught.value) == "--steps must be at least 1, not 0"
    with pytest.raises(UsageError) as caught:
        make_attack("fgsm", steps=2)
    assert str(caught.value) == "fgsm is a single-step attack; use bim or pgd for --steps > 1"


def test_the_criterion_counts_per_image_how_often_it_said_not_yet() -> None:
    criterion = _CountingMisclassification(torch.tensor([0, 1, 2]))
    assert criterion.counts is None
    logits = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    is_adv = criterion(None, logits)
    assert is_adv.tolist() == [True, False, False]
    assert criterion.counts.tolist() == [0, 1, 1] and criterion.counts.dtype == torch.int64
    criterion(None, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert criterion.counts.tolist() == [0, 1, 2]


def test_seeded_seeds_torch_and_numpy_and_restores_both() -> None:
    cpu = torch.device("cpu")
    torch.manual_seed(1)
    np.random.seed(1)
    with seeded(7, cpu):
        inside = (torch.rand(3), np.random.rand(3))
    after = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(7)
    np.random.seed(7)
    assert torch.equal(inside[0], torch.rand(3)) and np.array_equal(inside[1], np.random.rand(3))
    torch.manual_seed(1)
    np.random.seed(1)
    assert torch.equal(after[0], torch.rand(3)) and np.array_equal(after[1], np.random.rand(3))
    with seeded(2**32 + 7, cpu):  # numpy takes the seed modulo 2**32
        big = np.random.rand(3)
    assert np.array_equal(big, inside[1])


def test_no_seed_leaves_the_generators_running() -> None:
    torch.manual_seed(3)
    np.random.seed(3)
    with seeded(None, torch.device("cpu")):
        inside = (torch.rand(2), np.random.rand(2))
    torch.manual_seed(3)
    np.random.seed(3)
    assert torch.equal(inside[0], torch.rand(2)) and np.array_equal(inside[1], np.random.rand(2))


def foolbox_reference(model, images, labels, attack, epsilon=None, seed=0):
    """What foolbox itself returns for the same attack and seed, clamped as lltd saves it."""
    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    torch.manual_seed(seed)
    np.random.seed(seed)
    if epsilon is None:
        adv = attack.run(fmodel, images, fb.criteria.Misclassification(labels))
    else:
        adv = attack.run(fmodel, images, fb.criteria.Misclassification(labels), epsilon=epsilon)
    return adv.clamp(0, 1)


@pytest.mark.parametrize(
    ("name", "epsilon", "steps"),
    [("pgd", 0.3, 30), ("bim", 0.3, 5), ("fgsm", 0.2, None), ("fgsm", None, None)],
)
def test_a_bounded_run_is_foolboxs_seeded_run_within_the_budget(
    name: str, epsilon: float | None, steps: int | None
) -> None:
    images, labels, model = batch()
    result = run_attack(model, images, labels, name, epsilon, seed=5, steps=steps)
    budget = catalog.check_epsilon(name, epsilon)
    expected = foolbox_reference(model, images, labels, make_attack(name, steps=steps), budget, 5)
    assert torch.equal(result.adversarial, expected)
    assert float((result.adversarial - images).abs().max()) <= budget + 1e-6
    with torch.no_grad():
        predicted = model(result.adversarial).argmax(1)
    assert torch.equal(result.predictions, predicted)
    assert torch.equal(result.success, predicted != labels)
    assert bool(result.success.any())  # the flags are checked on images that do fool
    assert result.steps == [make_attack(name, steps=steps).steps] * len(images)


def test_pgd_with_another_seed_starts_elsewhere() -> None:
    images, labels, model = batch()
    a = run_attack(model, images, labels, "pgd", 0.1, seed=5, steps=2)
    b = run_attack(model, images, labels, "pgd", 0.1, seed=6, steps=2)
    assert not torch.equal(a.adversarial, b.adversarial)


def test_inputs_are_clamped_and_labels_taken_as_int64() -> None:
    images, labels, model = batch()
    outside = images * 1.5 - 0.25  # some pixels below 0 or above 1
    result = run_attack(model, outside, labels.to(torch.int32), "fgsm", 0.05, seed=0)
    clean = outside.clamp(0, 1)
    expected = foolbox_reference(model, clean, labels, make_attack("fgsm"), 0.05, 0)
    assert torch.equal(result.adversarial, expected)
    assert result.success.dtype == torch.bool and result.predictions.dtype == torch.int64


def test_a_minimal_norm_run_takes_no_budget() -> None:
    images, labels, model = batch()
    with pytest.raises(UsageError):
        run_attack(model, images, labels, "deepfool", 0.1)
    result = run_attack(model, images, labels, "cw", seed=0, steps=3)
    expected = foolbox_reference(
        model, images, labels, make_attack("cw", steps=3), None, 0
    )  # fmt: skip
    assert torch.equal(result.adversarial, expected)
    assert result.steps is None  # binary search x steps: no single count


def test_deepfools_count_is_the_fewest_steps_after_which_each_image_fools() -> None:
    images, labels, model = batch(8, seed=2)
    result = run_attack(model, images, labels, "deepfool", seed=0, steps=6)
    expected = foolbox_reference(model, images, labels, make_attack("deepfool", steps=6))
    assert torch.equal(result.adversarial, expected)
    fewest = []
    for i in range(len(images)):
        for steps in range(0, 7):
            if steps == 6:
                fewest.append(6)  # not adversarial yet: every step counted
                break
            if steps == 0:
                adversarial = images[i : i + 1]
            else:
                attack = make_attack("deepfool", steps=steps)
                adversarial = foolbox_reference(model, images, labels, attack)[i : i + 1]
            with torch.no_grad():
                if int(model(adversarial).argmax(1)) != int(labels[i]):
                    fewest.append(steps)
                    break
    assert result.steps == fewest
    assert max(fewest) >= 2  # the network is not linear: some images take several steps
