"""``lltd evaluate`` and its reference task, on the real reference model (trained once per session).

Set ``LLTD_TEST_CACHE_DIR`` to a folder to keep the trained reference model between runs; otherwise
it is trained (about 2-3 minutes on 2 cores) into a temporary cache once per session.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from report_check import load_report  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import lltd.cli.evaluate  # noqa: E402, F401  (registers `evaluate` on the app: run alone, nothing else does)
from lltd.cli.root import app  # noqa: E402
from lltd.evaluate import reference  # noqa: E402
from lltd.evaluate.bpda import DefendedModel, to_pixels, to_uint8  # noqa: E402
from lltd.evaluate.data import load_folder, true_class  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, make_defense, parse_defenses  # noqa: E402
from lltd.models import ClassNames  # noqa: E402

# Hang protection only, generous: the shared quick report (adaptive included) runs within the
# first test that uses it, in whatever order, and took over 20 minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.torch, pytest.mark.timeout(3600)]

QUICK_ATTACKS = ("deepfool", "fgsm", "pgd", "cw")
QUICK_DEFENSES = (
    "none", "webp", "flip", "webp+flip", "jpeg", "bit-depth", "median", "webp-band", "randomized"
)  # fmt: skip
QUICK_LIMIT = 24
SWEEP = (30, 90)


@pytest.fixture(scope="session")
def model(reference_model: torch.nn.Module) -> torch.nn.Module:
    return reference_model


def independent_predictions(images: np.ndarray) -> np.ndarray:
    """The reference CNN's classes, computed from the cached state_dict without lltd's loaders."""
    net = reference.build_model()
    net.load_state_dict(torch.load(reference.weights_path(), weights_only=True))
    net.eval()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        return net((x - mean) / std).argmax(1).numpy()


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["evaluate", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="session")
def quick_report(reference_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``lltd evaluate --quick --adaptive --sweep-quality`` run, shared by the tests."""
    out = tmp_path_factory.mktemp("report")
    code, stdout, stderr = run_cli(
        "-o", out, "--quick", "--limit", str(QUICK_LIMIT), "--adaptive",
        "--sweep-quality", f"{SWEEP[0]}..{SWEEP[1]}:{SWEEP[1] - SWEEP[0]}", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, stderr
    assert "Top-1 accuracy" in stdout  # the rich table
    return out


# -- the reference task ------------------------------------------------------------------------


def test_reference_model_reaches_90_percent_on_its_test_split(model: torch.nn.Module) -> None:
    images, labels = reference.reference_dataset("test")
    assert images.shape == (288, 64, 64, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [24] * len(reference.CLASS_NAMES)
    accuracy = float((independent_predictions(images) == labels).mean())
    assert accuracy >= 0.90, accuracy
    assert reference.accuracy(model, images, labels) == pytest.approx(accuracy)


def test_reference_splits_are_fixed_and_disjoint() -> None:
    test_a, labels_a = reference.reference_dataset("test")
    test_b, labels_b = reference.reference_dataset("test")
    assert np.array_equal(test_a, test_b) and np.array_equal(labels_a, labels_b)
    train, _ = reference.reference_dataset("train")
    # Checkerboard cells: no test crop equals any training crop, anywhere.
    train_keys = {crop.tobytes() for crop in train}
    assert not any(crop.tobytes() in train_keys for crop in test_a)
    train_cells, test_cells = reference._cells("train"), reference._cells("test")
    assert not set(train_cells) & set(test_cells)
    assert len(train_cells) + len(test_cells) == reference._GRID**2


def test_weights_are_keyed_by_the_code(reference_cache: Path) -> None:
    path = reference.weights_path()
    assert path.parent == reference_cache / "reference"
    assert reference.code_hash() in path.name and path.is_file()


# -- defenses and BPDA --------------------------------------------------------------------------


def photo_crop() -> np.ndarray:
    images, _ = reference.reference_dataset("test")
    return images[0]


def test_defenses_are_the_transformations_they_name() -> None:
    image = photo_crop()
    parameters = DefenseParameters(webp_quality=60, jpeg_quality=75, bits=3, median_size=3)
    defenses = {d.name: d for d in parse_defenses(",".join(QUICK_DEFENSES), parameters)}
    assert list(defenses) == list(QUICK_DEFENSES)
    assert np.array_equal(defenses["none"](image), image)
    assert np.array_equal(defenses["flip"](image), image[:, ::-1])
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="WEBP", quality=60, method=4)
    webp = np.asarray(Image.open(buffer).convert("RGB"))
    assert np.array_equal(defenses["webp"](image), webp)
    assert np.array_equal(defenses["webp+flip"](image), webp[:, ::-1])
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=75)
    assert np.array_equal(defenses["jpeg"](image), np.asarray(Image.open(buffer)))
    squeezed = defenses["bit-depth"](image)
    assert len(np.unique(squeezed)) <= 8 and np.abs(squeezed.astype(int) - image).max() <= 19
    median = np.asarray(Image.fromarray(image).filter(ImageFilter.MedianFilter(3)))
    assert np.array_equal(defenses["median"](image), median)


def test_bad_defense_parameters_are_usage_errors(tmp_path: Path) -> None:
    cases = [
        (["--defenses", "none,blur"], "unknown defense 'blur'"),
        (["--median-size", "4"], "--median-size must be odd"),
        (["--bits", "0"], "--bits must be between 1 and 8"),
        (["--attacks", "magic"], "unknown attack 'magic'"),
        (["--sweep-quality", "10,x"], "--sweep-quality takes integers"),
        (["--sweep-quality", "10,20,...,95"], "95 is not on the 10,20 step"),
        (["--quality-range", "40..80"], "--quality-range must be LOW-HIGH"),
        (["--quality-range", "80-40"], "--quality-range must satisfy"),
        (["--resize-pad", "0.9"], "--resize-pad must be between"),
        (["--adversarial", tmp_path / "missing"], "--adversarial"),
        (["--epsilon", "2"], "--epsilon"),
        (["--model", "resnet18"], "--data (or --adversarial) is required"),
        (["--data", tmp_path / "missing"], "not a folder"),
        (["--surrogate-sigmas", "1.5,wide"], "--surrogate-sigmas 1.5,wide: not a comma list"),
        (["--surrogate-sigmas", " , "], "--surrogate-sigmas is empty"),
        (["--surrogate-sigmas", "1.5,-1"], "widths must be 0-32 px, one or more, not -1"),
        (["--surrogate-sigmas", "nan"], "not nan"),
    ]
    for extra, needle in cases:
        code, _, stderr = run_cli("-o", tmp_path / "out", *extra)
        assert code == 2, (extra, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith("lltd: error: "), stderr
        assert needle in stderr, (needle, stderr)
        assert not (tmp_path / "out").exists()


def test_bpda_runs_the_real_defense_forward_and_the_surrogate_backward(
    model: torch.nn.Module,
) -> None:
    from lltd.evaluate.bpda import low_pass

    images, _ = reference.reference_dataset("test")
    images = images[::40]
    defense = make_defense("webp+flip", DefenseParameters())
    defended = DefendedModel(model, defense)
    pixels = to_pixels(images).requires_grad_(True)
    logits = defended(pixels)
    with torch.no_grad():
        expected = model(to_pixels(defense.batch(images)))
    assert torch.allclose(logits, expected, atol=1e-5)
    logits[:, 0].sum().backward()
    # The gradient of the model at the real defended image, taken back through the flip
    # exactly and through WebP by the low-pass surrogate: J^T g with J = flip o blur.
    real = to_pixels(defense.batch(images)).requires_grad_(True)
    model(real)[:, 0].sum().backward()
    start = to_pixels(images).requires_grad_(True)
    (torch.flip(low_pass(start, 1.5), dims=(-1,)) * real.grad).sum().backward()
    assert torch.allclose(pixels.grad, start.grad, atol=1e-5)
    assert pixels.grad.abs().sum() > 0
    # sigma 0 is plain BPDA: the identity through WebP, the flip still exact.
    plain = to_pixels(images).requires_grad_(True)
    DefendedModel(model, defense, sigma=0)(plain)[:, 0].sum().backward()
    assert torch.allclose(plain.grad, torch.flip(real.grad, dims=(-1,)), atol=1e-5)
    assert not torch.allclose(plain.grad, pixels.grad, atol=1e-5)
    assert np.array_equal(to_uint8(to_pixels(images)), images)


# -- the report ---------------------------------------------------------------------------------


def test_report_schema(quick_report: Path) -> None:
    report = load_report(quick_report / "results.json")  # lltd.report/1
    assert report["command"] == "evaluate" and report["output"] == str(quick_report)
    assert report["model"] == "reference" and report["data"] == "reference:test"
    assert report["n_images"] == QUICK_LIMIT
    assert report["settings"]["quick"] is True and report["settings"]["adaptive"] is True
    rows = report["rows"]
    for row in rows:
        assert set(row) == {"attack", "defense", "accuracy", "restored", "n"}
        assert 0 <= row["accuracy"] <= 1 and row["n"] == QUICK_LIMIT
        assert row["restored"] is None or 0 <= row["restored"] <= 1
    adaptive_names = ("bpda-pgd", "square")
    oblivious = {(r["attack"], r["defense"]) for r in rows if r["attack"] not in adaptive_names}
    assert oblivious == {(a, d) for a in ("none", *QUICK_ATTACKS) for d in QUICK_DEFENSES}
    for name in adaptive_names:
        assert [r["defense"] for r in rows if r["attack"] == name] == list(QUICK_DEFENSES)
    # The headline: per defense, the images right clean and under every attack (the per-image
    # union), never above the minimum over the rows, with its interval.
    for defense in QUICK_DEFENSES:
        attacked = [
            r["accuracy"] for r in rows if r["defense"] == defense and r["attack"] != "none"
        ]
        worst = report["worst_case"][defense]
        assert worst["accuracy"] <= min(attacked) + 1e-9  # rows are 1 - mean(broken): rounding
        assert worst["robust"] == len(report["survivors"][defense])
        assert worst["accuracy"] == pytest.approx(worst["robust"] / QUICK_LIMIT)
        assert worst["min_row"]["accuracy"] == min(attacked)
        assert worst["interval"][0] <= worst["accuracy"] <= worst["interval"][1]
    assert {check["name"] for check in report["sanity"]} >= {
        "BPDA through identity == plain PGD", "epsilon to ~0 (webp+flip)",
        "steps flatten (webp)", "Square does not beat BPDA (webp)",
    }  # fmt: skip
    # "restored" is 0 without a defense: nothing the attack fooled comes back by itself.
    assert all(r["restored"] in (0.0, None) for r in rows if r["defense"] == "none")
    # The adaptive attack is stronger than the oblivious one on the defended model, and leaves
    # nothing on the undefended one. (How far it gets on the reference task is what the report
    # measures: the full run's figures and failing step checks are in bench/evaluate/.)
    accuracy = {(r["attack"], r["defense"]): r["accuracy"] for r in rows}
    assert accuracy["bpda-pgd", "none"] == 0.0
    assert accuracy["bpda-pgd", "webp+flip"] < accuracy["pgd", "webp+flip"]
    assert report["worst_case"]["webp+flip"]["accuracy"] <= accuracy["bpda-pgd", "webp+flip"]

    with (quick_report / "results.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["attack"], r["defense"]) for r in table] == [
        (r["attack"], r["defense"]) for r in rows
    ]
    assert [float(r["accuracy"]) for r in table] == [r["accuracy"] for r in rows]

    markdown = (quick_report / "results.md").read_text()
    assert "| attack | none | webp q60 | flip | webp q60 + flip | jpeg q75 | 4-bit |" in markdown
    clean = next(r for r in rows if r["attack"] == "none" and r["defense"] == "none")
    assert f"| none | {100 * clean['accuracy']:.1f} |" in markdown

    sweep = report["sweep"]
    assert {(s["codec"], s["quality"], s["attack"]) for s in sweep} == {
        (c, q, a) for c in ("webp", "jpeg") for q in SWEEP for a in ("none", *QUICK_ATTACKS)
    }
    for codec in ("webp", "jpeg"):
        low, high = (
            next(s for s in sweep if (s["codec"], s["quality"], s["attack"]) == (codec, q, "none"))
            for q in SWEEP
        )
        assert 0 < low["mean_bytes"] < high["mean_bytes"]
    for name in ("accuracy.png", "quality.png"):
        with Image.open(quick_report / name) as plot:
            assert plot.format == "PNG" and plot.width > 300
    assert not [p for p in quick_report.iterdir() if p.name.startswith(".")]  # no temporaries


def quick_indices() -> np.ndarray:
    """The images --limit picks: evenly spread over the 288 test crops."""
    return np.linspace(0, 287, QUICK_LIMIT).round().astype(int)


def test_none_none_is_the_clean_accuracy(quick_report: Path) -> None:
    report = json.loads((quick_report / "results.json").read_text())
    images, labels = reference.reference_dataset("test")
    images, labels = images[quick_indices()], labels[quick_indices()]
    predictions = independent_predictions(images)
    cells = {(r["attack"], r["defense"]): r for r in report["rows"]}
    assert cells["none", "none"]["accuracy"] == pytest.approx(float((predictions == labels).mean()))
    mirrored = independent_predictions(np.ascontiguousarray(images[:, :, ::-1]))
    assert cells["none", "flip"]["accuracy"] == pytest.approx(float((mirrored == labels).mean()))
    wrong = predictions != labels
    if wrong.any():
        restored = float((mirrored[wrong] == labels[wrong]).mean())
        assert cells["none", "flip"]["restored"] == pytest.approx(restored)


def test_attacks_lower_the_accuracy(quick_report: Path) -> None:
    report = json.loads((quick_report / "results.json").read_text())
    cells = {(r["attack"], r["defense"]): r["accuracy"] for r in report["rows"]}
    clean = cells["none", "none"]
    assert clean >= 0.8
    for attack in QUICK_ATTACKS:
        assert cells[attack, "none"] <= clean - 0.3, (attack, cells[attack, "none"])
    # DeepFool and CW keep going until the model is fooled (and survive 8-bit rounding).
    assert cells["deepfool", "none"] <= 0.2 and cells["cw", "none"] <= 0.2
    fooled = {a["attack"]: a["fooled"] for a in report["attacks"] if "against" not in a}
    for attack in QUICK_ATTACKS:
        assert fooled[attack] == pytest.approx(1 - cells[attack, "none"])


# -- data folders and errors --------------------------------------------------------------------


def test_folder_data_in_imagefolder_layout(model: torch.nn.Module, tmp_path: Path) -> None:
    """Reference crops saved as PNGs in class folders give the same clean accuracy."""
    images, labels = reference.reference_dataset("test")
    picked = np.arange(0, len(labels), 24)  # one per class
    for index in picked:
        name = reference.CLASS_NAMES[labels[index]]
        path = tmp_path / "data" / name / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[index]).save(path)
    options = ["--attacks", "fgsm", "--defenses", "none,flip", "--no-plots", "--quiet"]
    code, _, stderr = run_cli("--data", tmp_path / "data", "-o", tmp_path / "out", *options)
    assert code == 0, stderr
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["n_images"] == len(picked) and report["data"] == str(tmp_path / "data")
    expected = float((independent_predictions(images[picked]) == labels[picked]).mean())
    none = next(r for r in report["rows"] if (r["attack"], r["defense"]) == ("none", "none"))
    assert none["accuracy"] == pytest.approx(expected)
    assert not (tmp_path / "out" / "accuracy.png").exists()


def test_reference_network_with_a_weights_file(reference_cache: Path, tmp_path: Path) -> None:
    """``--weights FILE`` loads a state_dict into the reference network (here: the cached one,
    copied), the same mechanism as for torchvision models; no training happens."""
    copy = tmp_path / "mine.pth"
    copy.write_bytes(reference.weights_path().read_bytes())
    options = ["--attacks", "none", "--defenses", "none", "--limit", str(QUICK_LIMIT), "--quiet"]
    code, _, stderr = run_cli("--weights", copy, "-o", tmp_path / "out", "--no-plots", *options)
    assert code == 0, stderr
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["weights"] == str(copy) and report["rows"][0]["defense"] == "none"
    images, labels = reference.reference_dataset("test")
    expected = independent_predictions(images[quick_indices()]) == labels[quick_indices()]
    assert report["rows"] == [
        {"attack": "none", "defense": "none", "accuracy": pytest.approx(expected.mean()),
         "restored": report["rows"][0]["restored"], "n": QUICK_LIMIT}
    ]  # fmt: skip


def test_true_class_from_synset_names_or_folders(tmp_path: Path) -> None:
    classes = ClassNames(("tench", "goldfish", "great white shark"), ("n01", "n02", "n03"))
    imagenet = ClassNames(
        ("tench", "goldfish", "great white shark"), ("n01440764", "n01443537", "n01484850")
    )
    root = tmp_path
    assert true_class(root / "n01443537 goldfish.JPEG", root, imagenet) == 1
    assert true_class(root / "n01484850" / "x.png", root, imagenet) == 2
    assert true_class(root / "goldfish" / "x.png", root, classes) == 1
    assert true_class(root / "2" / "x.png", root, classes) == 2
    assert true_class(root / "x.png", root, classes) is None
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "cat" / "a.png")
    with pytest.raises(Exception, match="cannot tell its true class"):
        load_folder(tmp_path, classes, 64)
    # Named by a synset the class list does not know (no --synsets): the error says what to pass.
    (tmp_path / "cat" / "a.png").unlink()
    Image.new("RGB", (8, 8)).save(tmp_path / "n09999999 zebra.png")
    with pytest.raises(Exception, match=r"synset n09999999 .*pass --synsets FILE"):
        load_folder(tmp_path, classes, 64)


@pytest.mark.timeout(600)
def test_missing_weights_is_one_line(tmp_path: Path, run_lltd) -> None:
    (tmp_path / "data" / "n01443537").mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 90, 10)).save(tmp_path / "data" / "n01443537" / "a.png")
    # An empty torch hub cache and a proxy that refuses at once: no download can happen, fast.
    env = {"TORCH_HOME": str(tmp_path / "torch-home"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}  # fmt: skip
    result = run_lltd("evaluate", "--model", "resnet18", "--data", tmp_path / "data", "-o",
                      tmp_path / "out", "--device", "cpu", env=env, timeout=590)  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lltd: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert "resnet18" in lines[0] and "--weights PATH" in lines[0]
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in lines[0]
    assert not (tmp_path / "out").exists()


def test_evaluate_help_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom lltd.cli import main\ntry:\n    main(['evaluate', '--help'])\n"
        "except SystemExit:\n    pass\nassert 'torch' not in sys.modules\n"
        "assert 'matplotlib' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--sweep-quality" in result.stdout


def test_adaptive_attack_is_run_against_the_defended_model(quick_report: Path) -> None:
    """BPDA through the exact flip is white-box PGD on model(flip(x)): it must do as well as PGD
    does on the undefended model, and never worse than oblivious PGD against the flip. Attacking
    the undefended model instead (the bug this catches) leaves the flip's accuracy near the
    oblivious row, far above plain PGD's."""
    rows = json.loads((quick_report / "results.json").read_text())["rows"]
    accuracy = {(row["attack"], row["defense"]): row["accuracy"] for row in rows}
    (bpda,) = {row["attack"] for row in rows if "bpda" in row["attack"]}  # its row's name
    adaptive, oblivious = accuracy[(bpda, "flip")], accuracy[("pgd", "flip")]
    assert adaptive <= oblivious, (adaptive, oblivious)
    assert adaptive <= accuracy[("pgd", "none")] + 0.15, (adaptive, accuracy[("pgd", "none")])
    assert oblivious - adaptive >= 0.15, (adaptive, oblivious)  # the flip fools oblivious PGD


def test_sweep_csv_holds_the_sweep_of_the_report(quick_report: Path) -> None:
    report = json.loads((quick_report / "results.json").read_text())
    with (quick_report / "sweep.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["codec", "quality", "attack", "accuracy", "mean_bytes", "n"]
    assert len(table) == len(report["sweep"]) == 2 * len(SWEEP) * (1 + len(QUICK_ATTACKS))
    for row, entry in zip(table, report["sweep"], strict=True):
        assert (row["codec"], int(row["quality"]), row["attack"]) == (
            entry["codec"], entry["quality"], entry["attack"],
        )  # fmt: skip
        assert float(row["accuracy"]) == entry["accuracy"] and int(row["n"]) == QUICK_LIMIT
        assert float(row["mean_bytes"]) == pytest.approx(entry["mean_bytes"])
