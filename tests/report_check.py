"""Check a ``--json`` report (or evaluate's results.json) against ``lltd/report.schema.json``
and against what the schema cannot say: totals counted from the file records."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="the test extra's jsonschema validates")


def schema() -> dict[str, Any]:
    """The schema as the installed package ships it (package data, not the checkout's path)."""
    return json.loads(resources.files("lltd").joinpath("report.schema.json").read_text())


def check_report(report: dict[str, Any]) -> dict[str, Any]:
    """Validate ``report``; returns it. Fails with the first violation."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(report), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    files, totals = report["files"], report["totals"]
    outcomes = Counter(record["outcome"] for record in files)
    if report["command"] == "evaluate":  # files: the inputs it could not read
        assert totals["files"] == totals["evaluated"] + len(files)
    else:
        assert totals["files"] == len(files)
    for outcome, n in outcomes.items():
        assert totals[outcome] == n, outcome
    if "bytes_before" in totals:
        assert totals["bytes_before"] == sum(r["bytes_before"] or 0 for r in files)
        assert totals["bytes_after"] == sum(r["bytes_after"] or 0 for r in files)
    return report


def load_report(path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as stream:
        return check_report(json.load(stream))
