"""The oblivious attacks' settings come from the catalog (full run and ``--quick``), and what
they find survives the 8-bit rounding of a saved image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from lltd.attack.catalog import ATTACKS, CATALOG  # noqa: E402
from lltd.evaluate.data import Dataset  # noqa: E402
from lltd.evaluate.oblivious import attack_images, predict  # noqa: E402
from lltd.evaluate.run import EvaluateOptions  # noqa: E402

pytestmark = pytest.mark.torch


def test_deepfool_quick_uses_fewer_candidates_and_the_full_run_the_papers_ten() -> None:
    assert CATALOG["deepfool"].settings(quick=False) == {"steps": 50, "candidates": 10}
    assert CATALOG["deepfool"].settings(quick=True) == {"steps": 20, "candidates": 3}
    for name in ATTACKS:
        entry = CATALOG[name]
        assert EvaluateOptions(quick=True).attack_settings(name) == entry.settings(True)
        assert EvaluateOptions().attack_settings(name)["steps"] == entry.steps
        if name != "deepfool":  # only DeepFool has candidates
            assert set(entry.settings(True)) == {"steps"}


class _Brightness(torch.nn.Module):
    """Two classes split by mean brightness at 128.3/255: linear, so DeepFool is exact."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # foolbox and .parameters() need one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.mean(dim=(1, 2, 3)) - 128.3 / 255) * 1000 + self.anchor
        return torch.stack([-score, score], dim=1)


def test_minimal_attacks_below_one_8bit_level_are_stretched_before_rounding() -> None:
    # Gray 128 images of class 0: DeepFool moves every pixel by about 0.3 of an 8-bit level,
    # which rounding erases; the perturbation must be stretched before it is rounded.
    model = _Brightness().eval()
    images = np.full((4, 8, 8, 3), 128, dtype=np.uint8)
    labels = np.zeros(4, dtype=np.int64)
    assert (predict(model, images) == labels).all()
    data = Dataset(images, labels, "gray")
    adversarial = attack_images(model, data, "deepfool", None, {"steps": 5, "candidates": 2}, 0)
    assert adversarial.dtype == np.uint8
    assert (predict(model, adversarial) != labels).all()
    # One 8-bit level everywhere: the stretched perturbation, rounded.
    assert (adversarial == 129).all()


def test_quick_evaluate_runs_deepfool_with_the_catalogs_quick_candidates(
    seed_data: Path, tmp_path: Path, run_lltd
) -> None:
    pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is not installed")
    reports, progress = {}, {}
    for mode in ("--quick", None):
        out = tmp_path / (mode or "full")
        result = run_lltd(
            "evaluate", "--model", "efficientnet-lite0", "--data", seed_data / "original",
            "--synsets", seed_data / "synset_words.txt", "--attacks", "deepfool",
            "--defenses", "none", "--limit", "2", "--no-plots", "--device", "cpu",
            *([mode] if mode else []), "-o", out, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        reports[mode] = json.loads((out / "results.json").read_text())
        progress[mode] = result.stderr
    quick, full = reports["--quick"], reports[None]
    assert "attack deepfool (2 images, 20 steps, 3 candidates)" in progress["--quick"]
    assert "attack deepfool (2 images, 50 steps, 10 candidates)" in progress[None]
    assert quick["settings"]["candidates"] == {"deepfool": 3}
    assert quick["settings"]["steps"] == {"deepfool": 20}
    assert full["settings"]["candidates"] == {"deepfool": 10}
    assert full["settings"]["steps"] == {"deepfool": 50}
    for report in (quick, full):
        # Both seed images stay fooled after the 8-bit rounding (stretched where needed).
        rows = {(r["attack"], r["defense"]): r["accuracy"] for r in report["rows"]}
        assert rows["none", "none"] == 1.0 and rows["deepfool", "none"] == 0.0


def test_the_perturbation_is_reported_as_mean_linf_and_mean_l2_on_the_0_1_scale() -> None:
    from lltd.evaluate.oblivious import perturbation

    clean = np.full((2, 2, 2, 3), 100, dtype=np.uint8)
    adversarial = clean.copy()
    adversarial[0, 0, 0, 0] = 151  # image 0: one pixel +51 (0.2)
    adversarial[1, :, :, :] = 49  # image 1: every value -51 (12 of them)
    found = perturbation(clean, adversarial)
    assert found == pytest.approx({"mean_linf": 0.2, "mean_l2": (0.2 + (12 * 0.04) ** 0.5) / 2})


def test_float_pixels_are_clamped_to_0_255_unrounded_and_channels_last() -> None:
    from lltd.evaluate.oblivious import to_float_pixels

    pixels = torch.tensor([[[[1.5, 0.5]], [[-0.2, 0.25]], [[1.0, 0.0]]]])  # 1 x 3 x 1 x 2
    out = to_float_pixels(pixels)
    assert out.shape == (1, 1, 2, 3)
    assert out.tolist() == [[[[255.0, 0.0, 255.0], [127.5, 63.75, 0.0]]]]


def test_progress_hears_the_count_attacked_after_each_batch() -> None:
    from lltd.evaluate import oblivious

    count = oblivious._ATTACK_BATCH + 2
    images = np.full((count, 4, 4, 3), 100, dtype=np.uint8)
    data = Dataset(images, np.zeros(count, dtype=np.int64), "gray")
    heard: list[int] = []
    out = attack_images(_Brightness().eval(), data, "fgsm", 2 / 255, {"steps": 1}, 0, heard.append)
    assert heard == [oblivious._ATTACK_BATCH, count]
    assert out.shape == images.shape and out.dtype == np.uint8


class _Mean(torch.nn.Module):
    """Class 1 where an image's mean pixel passes 128/255."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.mean(dim=(1, 2, 3)) - 128 / 255) * 1000 + self.anchor
        return torch.stack([-score, score], dim=1)


def test_a_stretch_takes_the_first_scale_that_fools_and_keeps_pixels_inside_0_255() -> None:
    """48 values: 16 at 128 pushed +0.49 of a level, 16 at 128 pushed +0.47, 8 at 0 not
    pushed, 8 at 240 pushed to 255. Rounded as found (scale 1.0) the mean is 127.8: not
    fooled. At 1.05 the first 16 round up (mean 128.2): fooled, and that is the image kept;
    1.1 would round the second 16 up too. The pushed 240s land past 255 and are clipped there
    (not wrapped to 0), the 0s stay 0."""
    from lltd.evaluate.oblivious import _stretch

    base = np.array([128] * 32 + [0] * 8 + [240] * 8, dtype=np.float32)
    delta = np.array([0.49] * 16 + [0.47] * 16 + [0] * 8 + [15] * 8, dtype=np.float32)
    clean = base.astype(np.uint8).reshape(1, 4, 4, 3)
    found = torch.from_numpy(((base + delta) / 255).reshape(1, 4, 4, 3)).permute(0, 3, 1, 2)
    labels = np.zeros(1, dtype=np.int64)
    model = _Mean().eval()
    assert (predict(model, np.round(base + delta).astype(np.uint8).reshape(1, 4, 4, 3)) == 0).all()
    kept = _stretch(model, clean, found, labels).reshape(-1)
    expected = [129] * 16 + [128] * 16 + [0] * 8 + [255] * 8
    assert kept.tolist() == expected
