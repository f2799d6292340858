"""README promises of ``lltd evaluate`` not covered by test_evaluate.py: ``--quick`` takes 60
images, ``--jpeg-quality`` sets the JPEG defense, and the reference model is trained again when
its code changes (the cache is keyed by the code, never a stale model)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from report_check import load_report  # noqa: E402
from test_evaluate import QUICK_LIMIT, independent_predictions, quick_indices, run_cli  # noqa: E402

from lltd.evaluate import reference  # noqa: E402

pytestmark = pytest.mark.torch

CLEAN_ONLY = ["--attacks", "none", "--no-plots", "--quiet", "--device", "cpu"]


def test_quick_takes_60_images(reference_cache: Path, tmp_path: Path) -> None:
    code, _, stderr = run_cli("--quick", "--defenses", "none", "-o", tmp_path, *CLEAN_ONLY)
    assert code == 0, stderr
    report = load_report(tmp_path / "results.json")  # lltd.report/1, as every report
    assert report["n_images"] == 60 and report["settings"]["quick"] is True
    assert report["rows"][0]["n"] == 60


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_jpeg_quality_sets_the_jpeg_defense(reference_cache: Path, tmp_path: Path) -> None:
    limit = ["--limit", str(QUICK_LIMIT)]
    args = ["--defenses", "jpeg", "--jpeg-quality", "20", *limit, *CLEAN_ONLY]
    code, _, stderr = run_cli("-o", tmp_path, *args)
    assert code == 0, stderr
    report = json.loads((tmp_path / "results.json").read_text())
    (row,) = report["rows"]
    assert row["defense"] == "jpeg", row
    images, labels = reference.reference_dataset("test")
    picked = quick_indices()
    defended = np.stack([jpeg(image, 20) for image in images[picked]])
    expected = float((independent_predictions(defended) == labels[picked]).mean())
    assert row["accuracy"] == pytest.approx(expected)
    default = np.stack([jpeg(image, 75) for image in images[picked]])
    # The default quality gives another accuracy here, so an ignored option would be caught.
    assert expected != float((independent_predictions(default) == labels[picked]).mean())
    assert "jpeg q20" in (tmp_path / "results.md").read_text()


def test_the_reference_model_is_trained_again_when_its_code_changes(
    reference_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private cache holding this code's weights: what the stand-in "trains" stays in tmp_path.
    monkeypatch.setenv("LLTD_CACHE_DIR", str(tmp_path / "cache"))
    current = reference.weights_path()
    current.parent.mkdir(parents=True)
    shutil.copyfile(reference_cache / "reference" / current.name, current)
    trained: list[Path] = []

    def train(destination: Path | None = None, progress=None) -> Path:  # a stand-in: seconds
        assert destination is not None
        shutil.copyfile(current, destination)
        trained.append(destination)
        return destination

    monkeypatch.setattr(reference, "train", train)
    reference.load_reference_model()
    assert trained == []  # this code's weights are cached: no training
    edited = tmp_path / "reference.py"
    edited.write_text(Path(reference.__file__).read_text() + "\n# a change to the training code\n")
    monkeypatch.setattr(reference, "__file__", str(edited))
    assert reference.weights_path() != current  # another key: the old weights are not used
    with pytest.raises(Exception, match="no trained reference model"):
        reference.load_reference_model(train_if_missing=False)
    reference.load_reference_model()
    assert trained == [reference.weights_path()]
    assert current.is_file()  # the other code's weights stay cached


def test_surrogate_sigmas_schedule_the_runs_and_show_in_the_settings(
    reference_cache: Path, tmp_path: Path
) -> None:
    """--surrogate-sigmas 0.7,3 with 3 runs per loss: runs 0, 1, 2 of each loss go back through
    widths 0.7, 3, 0.7, and the report's settings and adaptive settings say so."""
    code, _, stderr = run_cli(
        "--defenses", "webp", "--attacks", "none", "--adaptive", "--adaptive-steps", "2",
        "--restarts", "3", "--surrogate-sigmas", "0.7,3", "--square-queries", "5",
        "--limit", "6", "--no-plots", "--quiet", "--device", "cpu", "--threads", "1",
        "-o", tmp_path,
    )  # fmt: skip
    assert code == 0, stderr
    report = load_report(tmp_path / "results.json")
    assert report["settings"]["surrogate_sigmas"] == [0.7, 3.0]
    assert report["adaptive"]["surrogate_sigmas"] == [0.7, 3.0]
    (webp,) = [a for a in report["attacks"] if a.get("against") == "webp"]
    runs = [(run["loss"], run["restart"], run["sigma"]) for run in webp["runs"]]
    # 2 steps at 8/255 leave images standing through all six runs on the 64x64 crops.
    assert runs == [(loss, r, [0.7, 3.0, 0.7][r]) for loss in ("ce", "margin") for r in range(3)]
    assert "sigma 0.7, 3 (run r of each loss" in (tmp_path / "results.md").read_text()
