"""``lltd attack``: labels, names, manifest, saved examples that still fool the model, determinism,
and the one-line error for missing weights. No network: the models are built here."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import guarded_pythonpath

from lltd.attack.labels import label_hint
from lltd.attack.naming import MAX_NAME_BYTES, UniqueNames, adversarial_name

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("foolbox")

from PIL import Image  # noqa: E402
from report_check import load_report  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lltd.attack.run import QUANTIZATION_SCALES  # noqa: E402
from lltd.cli import app  # noqa: E402
from lltd.models import ClassNames, read_synset_words  # noqa: E402

pytestmark = pytest.mark.torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# A tiny classifier, importable as ``--model <module>:build``: 32 x 32 input, fast on one core.
TINY_SOURCE = """
import torch
from torch import nn

def build(num_classes=10):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=2), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(32 * 6 * 6, num_classes),
    )
    net.input_size = 32
    return net

def build1000():
    return build(1000)
"""

# Ten classes with names that need care in a file name: spaces, an apostrophe, a slash.
CLASS_NAMES = [
    "tench", "goldfish", "yellow lady's slipper", "AC/DC adapter", "rock beauty",
    "junco", "kite", "tree frog", "spoonbill", "white wolf",
]  # fmt: skip


def synset(index: int) -> str:
    return f"n{index + 1:08d}"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # Two torch threads on a busy 2-core runner are ~100x slower than one for these tiny models.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The module name of the tiny model (``<name>:build``, ``<name>:build1000``)."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "lltd_tiny_net.py").write_text(TINY_SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", guarded_pythonpath(folder, *sys.path))
    yield "lltd_tiny_net"
    sys.modules.pop("lltd_tiny_net", None)


@pytest.fixture
def synset_words(tmp_path: Path) -> Path:
    path = tmp_path / "synset_words.txt"
    path.write_text(
        "".join(f"{synset(i)} {name}, alias {i}\n" for i, name in enumerate(CLASS_NAMES))
    )
    return path


def reference_classify(module: str, pixels: np.ndarray, builder: str = "build") -> int:
    """The tiny model's class for a 32 x 32 x 3 uint8 image, computed without lltd."""
    net = getattr(__import__(module), builder)().eval()
    x = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return int(net((x - mean) / std).argmax(1))


def random_image(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR))
    return np.clip(smooth.astype(int) + rng.integers(-20, 20, smooth.shape), 0, 255).astype(
        np.uint8
    )


def save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["attack", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# -- labels and names (pure) ---------------------------------------------------------------------


def test_label_from_file_name_folder_or_nothing() -> None:
    seed = label_hint(Path("original/n01443537 goldfish.JPEG"))
    assert (seed.synset, seed.name, seed.source) == ("n01443537", "goldfish", "filename")
    adv = label_hint(Path("Adv_n01443537 goldfish-n02606052 rock beauty.png"))
    assert (adv.synset, adv.name) == ("n01443537", "goldfish")  # the true label comes first
    lady = label_hint(Path("Adv_n03124170 yellow lady's slipper-n01443537 goldfish_f.png"))
    assert (lady.synset, lady.name) == ("n03124170", "yellow lady's slipper")
    flipped = label_hint(Path("n01443537 goldfish_f.png"))
    assert (flipped.synset, flipped.name) == ("n01443537", "goldfish")
    train = label_hint(Path("n01443537_10026.JPEG"))
    assert (train.synset, train.name) == ("n01443537", None)
    folder = label_hint(Path("val/n01443537/ILSVRC2012_val_00000293.JPEG"))
    assert (folder.synset, folder.name, folder.source) == ("n01443537", None, "folder")
    assert label_hint(Path("holiday/cat.jpg")) is None
    assert label_hint(Path("n0144353 short synset.png")) is None


def test_label_resolves_by_synset_else_by_unique_name() -> None:
    from lltd.attack.labels import resolve

    with_synsets = ClassNames(("tench", "goldfish"), ("n01440764", "n01443537"))
    assert resolve(label_hint(Path("n01443537 whatever.png")), with_synsets) == 1
    names_only = ClassNames(("tench", "goldfish", "crane", "crane"))
    assert resolve(label_hint(Path("n09999999 Goldfish.png")), names_only) == 1
    assert resolve(label_hint(Path("n09999999 crane.png")), names_only) is None  # ambiguous
    assert resolve(label_hint(Path("n01443537/x.png")), names_only) is None
    assert resolve(None, names_only) is None


def test_adversarial_names_are_safe_and_unique() -> None:
    assert (
        adversarial_name("n01443537 goldfish", "n02606052 rock beauty")
        == "Adv_n01443537 goldfish-n02606052 rock beauty.png"
    )
    odd = adversarial_name("3 AC/DC adapter", "4 back\\slash\x00 nul: *?")
    assert odd == "Adv_3 AC_DC adapter-4 back_slash_ nul_ __.png"
    assert "/" not in odd and "\x00" not in odd
    long = adversarial_name("n00000001 " + "é" * 300, "n00000002 " + "x" * 300)
    assert len(long.encode()) <= MAX_NAME_BYTES and long.endswith(".png")
    assert "-n00000002 " in long  # both labels keep their synset
    names = UniqueNames()
    assert [names.claim(n) for n in ("Adv_a-b.png", "Adv_a-b.png", "ADV_A-B.png")] == [
        "Adv_a-b.png",
        "Adv_a-b (2).png",
        "ADV_A-B (3).png",  # case-insensitive file systems would merge them
    ]


def test_synset_words_keep_the_first_name_in_index_order(synset_words: Path) -> None:
    classes = read_synset_words(synset_words)
    assert classes.names[2] == "yellow lady's slipper"
    assert classes.synsets[:2] == ("n00000001", "n00000002")
    assert classes.label(3) == "n00000004 AC/DC adapter"
    assert ClassNames(("a", "b")).label(1) == "1 b"


# -- end to end ----------------------------------------------------------------------------------


def labelled_folder(root: Path, module: str) -> dict[str, int]:
    """Images named after the class the tiny model gives them (so the clean prediction is right),
    one in an ImageFolder subfolder, one unlabelled, one with a wrong label, two broken files.
    Returns input (relative) -> true class for the labelled ones."""
    truth: dict[str, int] = {}
    for seed in range(4):
        pixels = random_image(seed)
        cls = reference_classify(module, pixels)
        name = f"{synset(cls)} {CLASS_NAMES[cls]}.png".replace("/", "-")
        name = f"{seed} {name}" if seed == 3 else name  # seed 3: no leading synset
        save(root / name, pixels)
        truth[name] = cls
    pixels = random_image(10)
    cls = reference_classify(module, pixels)
    save(root / synset(cls) / "photo.png", pixels)
    truth[f"{synset(cls)}/photo.png"] = cls
    pixels = random_image(11)
    wrong = (reference_classify(module, pixels) + 1) % 10
    save(root / f"{synset(wrong)} {CLASS_NAMES[wrong].replace('/', '-')}.png", pixels)
    (root / "empty.png").write_bytes(b"")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return truth


def test_attack_writes_adversarial_pngs_and_an_honest_manifest(
    tmp_path: Path, tiny: str, synset_words: Path
) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    truth = labelled_folder(inputs, tiny)
    code, _, stderr = run(
        inputs, "-o", out, "--model", f"{tiny}:build", "--synsets", synset_words,
        "--json", tmp_path / "report.json", "--device", "cpu",
    )  # fmt: skip
    assert code == 1, stderr  # two unreadable inputs
    assert "Traceback" not in stderr
    assert "lltd: failed: empty.png: empty file (0 bytes)" in stderr.splitlines()
    assert any(line.startswith("lltd: failed: corrupt.jpg: ") for line in stderr.splitlines())
    import lltd

    assert json.loads((tmp_path / "report.json").read_text())["lltd_version"] == lltd.__version__

    rows = {row["input"]: row for row in read_manifest(out / "manifest.csv")}
    assert len(rows) == 8  # every input is reported, broken or not
    assert rows["empty.png"]["status"] == rows["corrupt.jpg"]["status"] == "bad_input"
    by_status = {status: [r for r in rows.values() if r["status"] == status] for status in
                 ("ok", "attack_failed", "clean_misclassified", "bad_input")}  # fmt: skip
    assert len(by_status["clean_misclassified"]) == 1
    assert len(by_status["ok"]) >= 3, rows
    classes = read_synset_words(synset_words)

    for name, row in rows.items():
        if row["status"] == "bad_input":
            continue
        expected_source = (
            "prediction" if name.startswith("3 ") else "folder" if "/" in name else "filename"
        )
        assert row["label_source"] == expected_source, row
        if name in truth:
            assert int(row["true_class"]) == truth[name]
        assert row["true_label"] == classes.label(int(row["true_class"]))
        assert row["clean_label"] == classes.label(int(row["clean_class"]))

    saved_files = sorted(p.name for p in out.glob("*.png"))
    assert saved_files == sorted(r["output"] for r in by_status["ok"])
    for row in by_status["ok"]:
        true_class, saved_class = int(row["true_class"]), int(row["saved_class"])
        # The name says true label first, then what the saved image is classified as.
        shown = saved_class if saved_class != true_class else int(row["adversarial_class"])
        assert row["output"].startswith(
            adversarial_name(classes.label(true_class), classes.label(shown))[: -len(".png")]
        )
        assert (
            "AC_DC" in row["output"] or "AC/DC" not in row["true_label"] + row["adversarial_label"]
        )
        # Re-read the saved 8-bit PNG and classify it independently of lltd.
        with Image.open(out / row["output"]) as image:
            assert image.size == (32, 32) and image.mode == "RGB"
            pixels = np.asarray(image)
        again = reference_classify(tiny, pixels)
        assert again == saved_class
        assert (row["saved_still_adversarial"] == "true") == (again != true_class)
        # The perturbation sizes describe the saved file (0-255 units) against the clean input.
        clean = np.asarray(Image.open(inputs / row["input"]).convert("RGB")).astype(float)
        diff = pixels.astype(float) - clean
        assert float(row["l2"]) == pytest.approx(np.sqrt((diff**2).sum()), abs=1e-3)
        assert float(row["linf"]) == np.abs(diff).max()
        assert 1 <= int(row["steps"]) <= 50
    assert sum(r["saved_still_adversarial"] == "true" for r in by_status["ok"]) >= 3

    report = load_report(tmp_path / "report.json")  # lltd.report/1, totals from the records
    assert report["command"] == "attack"
    assert report["totals"]["files"] == 8
    assert report["totals"]["bad_input"] == 2
    assert [r["input"] for r in report["files"]] == list(rows)
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_same_seed_same_bytes_other_seed_other_start(tmp_path: Path, tiny: str) -> None:
    inputs = tmp_path / "in"
    for seed in range(3):
        save(inputs / f"img{seed}.png", random_image(seed))
    outputs = {}
    for run_name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / run_name
        code, _, stderr = run(inputs, "-o", out, "--model", f"{tiny}:build", "--attack", "pgd",
                              "--epsilon", "0.1", "--steps", "5", "--seed", seed,
                              "--quiet")  # fmt: skip
        assert code == 0, stderr
        assert stderr == ""  # --quiet
        outputs[run_name] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(outputs["a"]) >= 2
    assert outputs["a"] == outputs["b"]
    # PGD starts at a random point: another seed gives other pixels.
    assert outputs["a"]["manifest.csv"] != outputs["c"]["manifest.csv"] or any(
        outputs["a"][name] != outputs["c"].get(name) for name in outputs["a"]
    )


@pytest.mark.parametrize("attack", ["fgsm", "bim", "pgd", "cw", "deepfool"])
def test_each_attack_through_the_library(tiny: str, attack: str) -> None:
    from lltd.attack.attacks import run_attack
    from lltd.attack.catalog import default_epsilon
    from lltd.models import load_pixel_classifier

    classifier = load_pixel_classifier(f"{tiny}:build", device="cpu")
    images = torch.stack([torch.from_numpy(random_image(s)).permute(2, 0, 1) for s in range(4)])
    images = images.float() / 255
    labels = classifier.predict(images)
    result = run_attack(classifier.model, images, labels, attack, seed=0, steps=None)
    assert result.adversarial.shape == images.shape
    assert float(result.adversarial.min()) >= 0 and float(result.adversarial.max()) <= 1
    predicted = classifier.predict(result.adversarial)
    assert torch.equal(result.success, predicted != labels)
    assert int(result.success.sum()) >= 3, (attack, result.success)
    epsilon = default_epsilon(attack)
    if epsilon is not None:
        assert float((result.adversarial - images).abs().max()) <= epsilon + 1e-6
        assert result.steps == [{"fgsm": 1, "bim": 10, "pgd": 40}[attack]] * 4
    elif attack == "deepfool":
        assert all(1 <= s <= 50 for s in result.steps)
    else:
        assert result.steps is None


def test_weights_file_for_a_torchvision_model(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.resnet18(num_classes=10)
    weights = tmp_path / "resnet18.pth"
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, weights)
    inputs, out = tmp_path / "in", tmp_path / "out"
    for seed in range(2):  # not 224 x 224: resized and centre-cropped to 224
        pixels = np.asarray(Image.fromarray(random_image(seed, 64)).resize((300, 260)))
        save(inputs / f"photo {seed}.jpg", pixels)
    code, _, stderr = run(inputs, "-o", out, "--model", "resnet18", "--weights", weights,
                          "--attack", "fgsm", "--epsilon", "0.05", "--device", "cpu")  # fmt: skip
    assert code == 0, stderr
    rows = read_manifest(out / "manifest.csv")
    assert [r["input"] for r in rows] == ["photo 0.jpg", "photo 1.jpg"]
    net.eval()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for row in rows:
        assert row["label_source"] == "prediction" and row["steps"] == "1"
        assert row["status"] in ("ok", "attack_failed")
        assert float(row["linf"]) <= round(0.05 * 255) + 1
        if row["status"] == "ok":
            pixels = np.asarray(Image.open(out / row["output"]))
            assert pixels.shape == (224, 224, 3)
            x = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                again = int(net((x - mean) / std).argmax(1))
            assert (again != int(row["true_class"])) == (row["saved_still_adversarial"] == "true")
    assert any(r["status"] == "ok" for r in rows)


@pytest.mark.timeout(180)
def test_missing_weights_is_one_line_that_says_how_to_fix_it(tmp_path: Path, run_lltd) -> None:
    save(tmp_path / "in" / "a.png", random_image(0))
    # An empty torch hub cache, and a proxy that refuses at once: no download can happen, fast.
    env = {"TORCH_HOME": str(tmp_path / "torch-home"), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}  # fmt: skip
    result = run_lltd("attack", tmp_path / "in", "-o", tmp_path / "out", "--model",
                      "shufflenet_v2_x0_5", "--device", "cpu", env=env, timeout=170)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("lltd: error: ") and "Traceback" not in result.stderr
    expected = tmp_path / "torch-home" / "hub" / "checkpoints" / "shufflenetv2_x0.5-f707e7126e.pth"
    assert str(expected) in line
    assert "https://download.pytorch.org/models/shufflenetv2_x0.5-f707e7126e.pth" in line
    assert "--weights PATH" in line
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_usage_errors_are_one_line(tmp_path: Path, tiny: str) -> None:
    save(tmp_path / "in" / "a.png", random_image(0))
    malformed = tmp_path / "words.txt"
    malformed.write_text("n00000001 tench\nn00000002\n")
    cases = [
        (["--attack", "deepfool", "--epsilon", "0.1"], "takes no --epsilon"),
        (["--attack", "magic"], "--attack must be one of"),
        (["--model", "resnet19"], "did you mean resnet18"),
        (["--model", f"{tiny}:build", "--weights", str(tmp_path / "nope.pth")], "not found"),
        (["--model", f"{tiny}:build", "--attack", "pgd", "--epsilon", "3"], "--epsilon"),
        (
            ["--model", f"{tiny}:build", "--synsets", str(tmp_path / "in" / "a.png")],
            "a.png: cannot read the synset list",
        ),
        (["--model", f"{tiny}:build", "--synsets", str(malformed)], "words.txt:2: expected"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--model", f"{tiny}:build", "--device", "cuda"], "CUDA is not available"))
    for extra, needle in cases:
        code, _, stderr = run(tmp_path / "in", "-o", tmp_path / "out", *extra)
        assert code == 2, (extra, stderr)
        assert stderr.count("\n") == 1 and stderr.startswith("lltd: error: "), stderr
        assert needle in stderr, (needle, stderr)
    code, _, stderr = run(tmp_path / "in", "-o", tmp_path / "in", "--model", f"{tiny}:build")
    assert code == 2 and "must not be the input folder" in stderr


def test_seed_data_labels_and_attack(tmp_path: Path, tiny: str, seed_data: Path) -> None:
    """The seed's file names give the true labels through its synset_words.txt (found beside the
    folder), and a real photo is attacked (the tiny model sees it at 32 x 32)."""
    code, _, stderr = run(seed_data / "original", "-o", tmp_path / "labels", "--model",
                          f"{tiny}:build1000", "--steps", "3", "--quiet")  # fmt: skip
    assert code == 0, stderr
    rows = read_manifest(tmp_path / "labels" / "manifest.csv")
    assert len(rows) == 20
    for row in rows:
        assert row["label_source"] == "filename"
        assert row["true_label"] == Path(row["input"]).stem  # "n01443537 goldfish"
        assert row["status"] in ("ok", "attack_failed", "clean_misclassified")
    code, _, stderr = run(seed_data / "original" / "n01443537 goldfish.JPEG", "-o",
                          tmp_path / "one", "--model", f"{tiny}:build", "--quiet")  # fmt: skip
    assert code == 0, stderr
    (row,) = read_manifest(tmp_path / "one" / "manifest.csv")
    assert row["status"] == "ok" and row["saved_still_adversarial"] == "true", row


def test_attack_help_does_not_import_torch() -> None:
    import subprocess

    code = (
        "import sys\nfrom lltd.cli import main\ntry:\n    main(['attack', '--help'])\n"
        "except SystemExit:\n    pass\nassert 'torch' not in sys.modules\n"
        "assert 'foolbox' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--epsilon" in result.stdout


def test_reference_model_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--model reference`` takes the offline reference CNN from the cache (weights placed
    there directly: training it is lltd evaluate's business and takes minutes)."""
    reference = pytest.importorskip("lltd.evaluate.reference")
    monkeypatch.setenv("LLTD_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = reference.build_model()
    net.train()
    with torch.no_grad():  # give the batch-norm layers statistics, so classes differ by input
        for _ in range(3):
            net(torch.randn(16, 3, 64, 64))
    path = reference.weights_path()
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    for seed in range(3):
        save(tmp_path / "in" / f"{seed}.png", random_image(seed, 80))
    code, _, stderr = run(tmp_path / "in", "-o", tmp_path / "out", "--model", "reference",
                          "--device", "cpu")  # fmt: skip
    assert code == 0, stderr
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert len(rows) == 3
    for row in rows:
        index = int(row["true_class"])
        assert row["true_label"] == f"{index} {reference.CLASS_NAMES[index]}"
        if row["output"]:
            with Image.open(tmp_path / "out" / row["output"]) as image:
                assert image.size == (64, 64)
    assert any(row["status"] == "ok" for row in rows)


# -- --batch-size, --threads, perturbation_scale (README promises) ------------------------------


def five_images(folder: Path) -> Path:
    for seed in range(5):
        save(folder / f"img{seed}.png", random_image(seed))
    return folder


def test_batch_size_changes_only_the_batching(tmp_path: Path, tiny: str) -> None:
    inputs = five_images(tmp_path / "in")
    produced = {}
    for batch in ("2", "8"):  # 2: three batches, the last one partial
        out = tmp_path / f"batch{batch}"
        code, _, stderr = run(inputs, "-o", out, "--model", f"{tiny}:build", "--attack", "fgsm",
                              "--batch-size", batch, "--json", tmp_path / f"{batch}.json",
                              "--quiet")  # fmt: skip
        assert code == 0, stderr
        report = load_report(tmp_path / f"{batch}.json")
        assert report["settings"]["batch_size"] == int(batch)
        assert report["settings"]["epsilon"] == pytest.approx(8 / 255)  # once, as used
        assert report["totals"]["files"] == 5
        produced[batch] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert produced["2"] == produced["8"]


def test_threads_sets_the_torch_threads(tmp_path: Path, tiny: str) -> None:
    inputs = five_images(tmp_path / "in")
    assert torch.get_num_threads() == 1  # the autouse fixture of test_attack
    code, _, stderr = run(inputs, "-o", tmp_path / "out", "--model", f"{tiny}:build",
                          "--attack", "fgsm", "--threads", "2", "--quiet")  # fmt: skip
    assert code == 0, stderr
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("attack", ["deepfool", "fgsm"])
def test_perturbation_scale_is_recorded_for_minimal_norm_attacks(
    tmp_path: Path, tiny: str, attack: str
) -> None:
    inputs = five_images(tmp_path / "in")
    code, _, stderr = run(inputs, "-o", tmp_path / "out", "--model", f"{tiny}:build",
                          "--attack", attack, "--quiet")  # fmt: skip
    assert code in (0, 1), stderr
    rows = [r for r in read_manifest(tmp_path / "out" / "manifest.csv") if r["status"] == "ok"]
    assert rows, "no image was attacked"
    for row in rows:
        scale = float(row["perturbation_scale"])
        if attack == "fgsm":  # bounded: never stretched beyond its epsilon
            assert scale == 1.0, row
        else:
            assert scale in QUANTIZATION_SCALES, row
            if row["saved_still_adversarial"] == "true" and scale > 1:
                # Stretched only because the smaller scales did not survive rounding: the
                # record says so by being adversarial at this scale.
                assert row["saved_class"] != row["true_class"], row


def test_progress_lines_in_a_log_and_none_with_quiet(
    tmp_path: Path, tiny: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off a terminal (a log, nohup) attack says how far it is: a line per interval, here 0 s
    so every image gives one (lltd.common.progress; no timing is asserted)."""
    inputs = five_images(tmp_path / "in")
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    args = (inputs, "--model", f"{tiny}:build", "--attack", "fgsm", "--batch-size", "2")
    code, _, stderr = run(*args, "-o", tmp_path / "loud")
    assert code == 0, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("lltd: attack: ")]
    assert lines[0] == "lltd: attack: 5 images, the model is loaded", stderr
    assert [line.split()[2] for line in lines[1:]] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    assert all(" images/s" in line for line in lines[1:])
    code, _, stderr = run(*args, "-o", tmp_path / "quiet", "--quiet")
    assert code == 0 and stderr == "", stderr
