"""One report shape, ``lltd.report/1``, for compress, flip, defend, attack and evaluate: each
report validates against ``lltd/report.schema.json`` (shipped as package data), gives its
settings once, every file record the same fields with real sizes, and totals counted from the
records. (attack's and evaluate's reports are checked where their tests write them:
test_attack.py, test_evaluate.py; evaluate's document shape here, in-process.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from report_check import check_report, load_report, schema

SHAPE = {"input", "output", "outcome", "bytes_before", "bytes_after", "error"}


@pytest.fixture
def mixed(sample_dir: Path) -> Path:
    """The sample images plus a file that is no image and one skipped by name."""
    (sample_dir / "broken.png").write_bytes(b"not a png at all")
    (sample_dir / "skip-me.png").write_bytes((sample_dir / "astronaut.png").read_bytes())
    return sample_dir


def test_compress_report_every_outcome(mixed, run_lltd, tmp_path) -> None:
    out, path = tmp_path / "out", tmp_path / "r.json"
    result = run_lltd(
        "compress", mixed, "-o", out, "--json", path, "--quiet",
        "--ignore-transparency-image", "--ignore-filename-match", "skip-me",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # broken.png failed
    report = load_report(path)
    assert (report["schema"], report["command"]) == ("lltd.report/1", "compress")
    # The settings once: no copies of options, backend or replace beside them.
    assert not {"options", "backend", "replace"} & set(report)
    assert report["settings"]["options"]["quality"] == 100
    by_outcome: dict[str, list[dict]] = {}
    for record in report["files"]:
        assert set(record) >= SHAPE, record
        by_outcome.setdefault(record["outcome"], []).append(record)
    assert {"converted", "larger", "transparency", "failed", "name_match"} <= set(by_outcome)
    for record in report["files"]:  # real sizes: what lies at input and output
        assert record["bytes_before"] > 0
        if record["output"] is None:
            assert record["bytes_after"] is None
        else:
            assert record["bytes_after"] == os.path.getsize(record["output"]) > 0
    larger = by_outcome["larger"][0]  # once "bytes_after": 0
    assert larger["bytes_after"] == larger["bytes_before"]  # the original, kept in origin/
    assert by_outcome["name_match"][0]["output"] is None
    totals = report["totals"]
    assert totals["saved_bytes"] == sum(
        r["bytes_before"] - r["bytes_after"] for r in by_outcome["converted"]
    )


@pytest.mark.parametrize("command", ["flip", "defend"])
def test_flip_and_defend_reports(command, mixed, run_lltd, tmp_path) -> None:
    path = tmp_path / "r.json"
    result = run_lltd(command, mixed, "-o", tmp_path / "out", "--json", path, "--quiet")
    assert result.returncode == 1, result.stderr
    report = load_report(path)
    assert report["command"] == command
    assert report["totals"]["failed"] == 1
    assert not {"direction", "suffix", "format", "quality", "order"} & set(report)
    again = run_lltd(command, mixed, "-o", tmp_path / "out", "--json", path, "--quiet")
    assert again.returncode == 1, again.stderr
    assert load_report(path)["totals"]["already_done"] == report["totals"]["converted"]


def test_evaluate_document_shape(tmp_path) -> None:
    """results.json's envelope, from a report as lltd.evaluate.run builds it."""
    from lltd.evaluate.report import as_document

    skipped = tmp_path / "bad.png"
    skipped.write_bytes(b"junk")
    report = {
        "model": "reference", "weights": None, "data": "reference:test", "n_images": 4,
        "classes": 10, "input_size": 32, "rows": [], "worst_case": {}, "attacks": [],
        "sweep": [], "adaptive": None, "sanity": [], "sanity_passed": True, "curves": {},
        "skipped": [str(skipped)], "parameters": {"defense_labels": {}},
        "timings_s": {"total": 1.5},
    }  # fmt: skip
    document = check_report(as_document(report, tmp_path))
    assert document["settings"] == {"defense_labels": {}} and "parameters" not in document
    assert document["files"][0]["bytes_before"] == 4
    assert document["totals"] == {"files": 5, "evaluated": 4, "failed": 1, "seconds": 1.5}


def test_the_schema_refuses_the_old_shapes() -> None:
    """The checks can fail: a report in the shapes before lltd.report/1 is refused."""
    old_attack = {
        "lltd_version": "0.1.0", "input": "in", "output": "out", "epsilon": None,
        "options": {"epsilon": None}, "summary": {"images": 0}, "images": [],
    }  # fmt: skip
    larger = {"input": "a.jpg", "output": "o/origin/a.jpg", "outcome": "larger",
              "bytes_before": 10, "bytes_after": None, "error": None}  # fmt: skip
    new = {
        "schema": "lltd.report/1", "command": "compress", "lltd_version": "0.1.0",
        "input": "in", "output": "o", "settings": {}, "encoder": {"name": None},
        "files": [larger], "totals": {"files": 1, "larger": 1, "bytes_before": 10,
        "bytes_after": 0, "seconds": 0.1},
    }  # fmt: skip
    for bad in (old_attack, new):
        with pytest.raises(AssertionError):
            check_report(bad)
    assert schema()["properties"]["schema"] == {"const": "lltd.report/1"}


@pytest.mark.parametrize(
    "path",
    [
        "bench/evaluate/results.json",
        "bench/evaluate/match-size/results.json",
        "bench/evaluate/match-size/adaptive/results.json",
        "bench/evaluate/match-size/jpeg-q9-check/results.json",
        "bench/evaluate/match-size/adaptive-wide/results.json",
        "bench/evaluate-imagenet/results.json",
        "bench/evaluate-imagenet/n40/results.json",
    ],
)
def test_committed_evaluations_are_lltd_report_1(path) -> None:
    """The evaluations committed since lltd.report/1, as written."""
    from conftest import REPO

    report = load_report(REPO / path)
    assert report["command"] == "evaluate" and "parameters" not in report
    assert report["totals"]["evaluated"] == report["n_images"]
    assert report["settings"]["defenses"] == list(report["survivors"])


@pytest.mark.parametrize("path", ["bench/evaluate-imagenet/quick/results.json"])
def test_evaluate_documents_of_real_reports(path, tmp_path) -> None:
    """The committed evaluations written before lltd.report/1, in the new envelope."""
    import json

    from conftest import REPO

    from lltd.evaluate.report import as_document

    report = json.loads((REPO / path).read_text())
    report.pop("lltd_version", None)
    document = check_report(as_document(report, tmp_path))
    assert document["settings"] == report["parameters"] and "parameters" not in document
    assert document["totals"]["evaluated"] == report["n_images"]
    assert document["rows"] == report["rows"]
