"""Contracts of ``--sweep-quality`` (lltd/evaluate/sweep.py), pinned exactly: the qualities each
form of the argument gives, the one-line refusals, and the sweep's rows (accuracy and mean size of
the real WebP and JPEG bytes, per codec, quality and attack) on a small fixed linear classifier
(issue 27)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lltd.common.errors import UsageError  # noqa: E402
from lltd.evaluate.defenses import decode, jpeg_bytes, webp_bytes  # noqa: E402
from lltd.evaluate.sweep import parse_qualities, sweep  # noqa: E402


@pytest.mark.parametrize(
    ("text", "qualities"),
    [
        ("10,20,30", [10, 20, 30]),
        ("30, 10,,30,", [30, 10]),  # spaces and empty items ignored, repeats once, order kept
        ("5", [5]),
        ("1..4", [1, 2, 3, 4]),
        ("10..40:10", [10, 20, 30, 40]),
        ("10..45:10", [10, 20, 30, 40]),  # HIGH need not be on the step
        ("7..7", [7]),
        ("10 .. 100 : 45", [10, 55, 100]),
        ("10,20,...,50", [10, 20, 30, 40, 50]),
        ("1,2,...,3", [1, 2, 3]),
        ("100,100,100", [100]),
    ],
)
def test_each_form_of_the_argument_gives_these_qualities(text: str, qualities: list[int]) -> None:
    assert parse_qualities(text) == qualities


STEP = "needs LOW <= HIGH and a step of at least 1"
TAKES = "--sweep-quality takes integers like 10,20,30, a range like 10..100:10 or 10,20,...,100,"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("20..10", f"--sweep-quality '20..10': {STEP}"),
        ("10..20:0", f"--sweep-quality '10..20:0': {STEP}"),
        ("20,10,...,30", f"--sweep-quality '20,10,...,30': {STEP}"),
        ("10,20,...,95", "--sweep-quality '10,20,...,95': 95 is not on the 10,20 step"),
        ("10,x", f"{TAKES} not '10,x'"),
        (",", f"{TAKES} not ','"),
        ("0,50", "--sweep-quality values must be 1..100, not 0"),
        ("50,101", "--sweep-quality values must be 1..100, not 101"),
        ("0..3", "--sweep-quality values must be 1..100, not 0"),
        ("95..101:2", "--sweep-quality values must be 1..100, not 101"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_qualities(text)
    assert str(raised.value) == message


def test_the_ends_of_the_range_are_accepted() -> None:
    assert parse_qualities("1,100") == [1, 100]
    assert parse_qualities("99..100") == [99, 100]


class Linear(torch.nn.Module):
    """A fixed linear classifier of 3 classes on centred pixels: WebP and JPEG at low quality
    change some of its answers."""

    def __init__(self, pixels: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(5)
        self.weight = torch.nn.Parameter(torch.randn(3, pixels, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - 0.5) @ self.weight.T


def _images(count: int, seed: int) -> np.ndarray:
    """Smooth gradients with noise: 16 x 24 RGB, uint8."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, 24)[None, :, None] * rng.uniform(0, 255, (count, 1, 1, 1, 3))
    noise = rng.normal(0, 40, (count, 16, 24, 3))
    return np.clip(ramp[:, 0] + 60 + noise, 0, 255).astype(np.uint8)


def _classes(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """The model's classes, computed here without lltd's helpers."""
    pixels = torch.from_numpy(images.astype(np.float32) / 255).permute(0, 3, 1, 2)
    with torch.no_grad():
        return model(pixels).argmax(1).numpy()


def test_sweep_rows_are_codec_quality_attack_with_accuracy_and_mean_bytes() -> None:
    model = Linear(16 * 24 * 3)
    clean, noisy = _images(6, 1), _images(5, 2)
    sets = {"none": (clean, _classes(model, clean)), "noise": (noisy, _classes(model, noisy))}
    said: list[str] = []
    rows = sweep(model, sets, [5, 90], said.append)
    assert said == ["quality sweep (2 qualities x webp, jpeg)"]
    assert [(r["codec"], r["quality"], r["attack"], r["n"]) for r in rows] == [
        ("webp", 5, "none", 6), ("webp", 5, "noise", 5), ("webp", 90, "none", 6),
        ("webp", 90, "noise", 5), ("jpeg", 5, "none", 6), ("jpeg", 5, "noise", 5),
        ("jpeg", 90, "none", 6), ("jpeg", 90, "noise", 5),
    ]  # fmt: skip
    encoders = {"webp": webp_bytes, "jpeg": jpeg_bytes}
    accuracies = []
    for row in rows:
        images, labels = sets[row["attack"]]
        encoded = [encoders[row["codec"]](image, row["quality"]) for image in images]
        decoded = np.stack([decode(data) for data in encoded])
        assert row["accuracy"] == float(np.mean(_classes(model, decoded) == labels))
        assert row["mean_bytes"] == sum(len(data) for data in encoded) / len(encoded)
        assert type(row["accuracy"]) is float and type(row["mean_bytes"]) is float
        accuracies.append(row["accuracy"])
    # The test is only as good as its classifier: quality must change some of its answers.
    assert min(accuracies) < 1.0 and len(set(accuracies)) > 2
    assert rows[0]["mean_bytes"] < rows[2]["mean_bytes"]  # q5 smaller than q90
    assert rows[4]["mean_bytes"] != rows[0]["mean_bytes"]  # JPEG's bytes, not WebP's
