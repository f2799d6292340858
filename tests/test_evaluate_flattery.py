"""A report that cannot flatter (issue 25), on the real reference model through the real CLI:
a crippled adaptive attack is flagged on the report's first line, and --match-size compares
WebP with JPEG at equal bytes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

pytestmark = [pytest.mark.torch, pytest.mark.timeout(1200)]


def test_a_crippled_adaptive_attack_is_flagged_on_the_first_line(
    reference_cache: Path, tmp_path: Path, run_lltd
) -> None:
    """The issue's weak run (2 steps, 1 restart, 100 Square queries, epsilon 1/255) read "All 4
    sanity checks passed" with a worst case above its own epsilon curve."""
    out = tmp_path / "out"
    result = run_lltd(
        "evaluate", "--model", "reference", "--defenses", "webp", "--adaptive",
        "--adaptive-steps", "2", "--restarts", "1", "--square-queries", "100",
        "--epsilon", "1/255", "--attacks", "fgsm", "--limit", "48", "--no-plots",
        "--device", "cpu", "--threads", "1", "-o", out,
        env={"LLTD_CACHE_DIR": str(reference_cache)}, timeout=1100,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1].startswith("lltd: wrote")
    assert "SANITY CHECKS FAILED" in result.stderr  # the terminal's first line of the table
    lines = (out / "results.md").read_text().splitlines()
    assert lines[2].startswith("**SANITY CHECKS FAILED"), lines[2]
    report = json.loads((out / "results.json").read_text())
    verdicts = {check["name"]: check["passed"] for check in report["sanity"]}
    assert verdicts["epsilon curve not below the headline (webp)"] is False
    assert report["sanity_passed"] is False
    (at_headline,) = [
        a for e, a in report["curves"]["webp"]["epsilon"] if e == pytest.approx(1 / 255)
    ]
    worst = report["worst_case"]["webp"]
    assert at_headline < worst["accuracy"] - 1 / 48
    # The headline is the per-image union: the survivors listed, no more than any row leaves.
    rows = [r for r in report["rows"] if r["defense"] == "webp"]
    assert worst["robust"] == len(report["survivors"]["webp"]) == round(worst["accuracy"] * 48)
    assert worst["accuracy"] <= min(r["accuracy"] for r in rows)
    assert worst["alone"]["bpda-pgd"] == round(48 * next(
        r["accuracy"] for r in rows if r["attack"] == "bpda-pgd"
    ))  # fmt: skip


def test_match_size_pairs_each_webp_quality_with_the_jpeg_of_equal_bytes(
    reference_cache: Path, tmp_path: Path, run_lltd
) -> None:
    from lltd.evaluate import reference
    from lltd.evaluate.defenses import webp_bytes

    out = tmp_path / "out"
    result = run_lltd(
        "evaluate", "--model", "reference", "--defenses", "none", "--attacks", "fgsm",
        "--limit", "24", "--match-size", "--sweep-quality", "40,80", "--adaptive",
        "--adaptive-steps", "5", "--restarts", "1", "--square-queries", "10", "--device", "cpu",
        "--threads", "1", "-o", out, env={"LLTD_CACHE_DIR": str(reference_cache)}, timeout=1100,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "results.json").read_text())
    entries = report["match_size"]
    assert [(e["codec"], e["webp_quality"]) for e in entries] == [
        ("webp", 40), ("jpeg", 40), ("webp", 80), ("jpeg", 80)
    ]  # fmt: skip
    images, _ = reference.reference_dataset("test")
    images = images[np.linspace(0, len(images) - 1, 24).round().astype(int)]

    def jpeg_mean(quality: int) -> float:  # Pillow directly, not lltd's helper
        sizes = []
        for image in images:
            path = tmp_path / "probe.jpg"
            Image.fromarray(image).save(path, format="JPEG", quality=quality)
            sizes.append(path.stat().st_size)
        return float(np.mean(sizes))

    jpeg_sizes = {q: jpeg_mean(q) for q in range(1, 101)}
    for webp, jpeg in zip(entries[::2], entries[1::2], strict=True):
        target = np.mean([len(webp_bytes(image, webp["quality"])) for image in images])
        assert webp["mean_bytes"] == pytest.approx(target)
        assert jpeg["mean_bytes"] == pytest.approx(jpeg_sizes[jpeg["quality"]])
        best = min(abs(size - target) for size in jpeg_sizes.values())
        assert abs(jpeg["mean_bytes"] - target) == pytest.approx(best)
        for entry in (webp, jpeg):
            assert entry["bits_per_pixel"] == pytest.approx(8 * entry["mean_bytes"] / 64 / 64)
            assert entry["size_ratio"] == pytest.approx(entry["mean_bytes"] / webp["mean_bytes"])
            assert entry["worst"] <= min(entry["oblivious"], entry["adaptive"]) + 1e-9
            assert entry["oblivious"] <= entry["clean"] + 1e-9
    assert entries[2]["mean_bytes"] > entries[0]["mean_bytes"]  # q80 is larger than q40
    with (out / "match_size.csv").open(newline="") as handle:
        assert [row["codec"] for row in csv.DictReader(handle)] == ["webp", "jpeg"] * 2
    with Image.open(out / "size.png") as plot:
        assert plot.format == "PNG" and plot.width > 300
    assert "## WebP against JPEG at equal size" in (out / "results.md").read_text()
