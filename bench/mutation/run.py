"""Mutation testing of the modules whose bugs lose data or mislead: one command, one report.

    .venv/bin/python bench/mutation/run.py                 # every module of [tool.lltd.mutation]
    .venv/bin/python bench/mutation/run.py lltd/atomic.py  # some of them

Each module listed in pyproject.toml's ``[[tool.lltd.mutation]]`` is mutated by mutmut 2 (one
small change at a time: an operator, a constant, a removed call) and its own fast tests are run
against every mutant; a mutant the tests do not fail on "survived". mutmut edits files in place,
so all of this happens in a scratch copy of the working tree (git's tracked and untracked files),
never in the checkout. The report goes to bench/mutation/REPORT.md, with a reason for each
survivor taken from bench/mutation/reasons.json (keyed "module | old line -> new line").

Slow (minutes per module on 2 cores): not part of .ci/run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DETECTED = {"ok_killed": "killed", "bad_timeout": "timeout"}


def targets() -> list[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return config["tool"]["lltd"]["mutation"]


def scratch_copy(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name in filter(None, listed):
                if (REPO / name).exists() and not name.startswith("bench/"):
                    archive.add(REPO / name, arcname=name, recursive=False)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as archive:
            archive.extractall(into, filter="tar")


def run_module(work: Path, target: dict, mutmut: str) -> None:
    runner = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    runner += ["-p", "no:randomly", *target["tests"]]
    print(f"== {target['module']}: {shlex.join(target['tests'])}", flush=True)
    subprocess.run(
        [mutmut, "run", "--paths-to-mutate", target["module"], "--runner", shlex.join(runner),
         "--no-progress"],
        cwd=work, env={**os.environ, "PYTHONPATH": str(work)}, check=False,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def mutants(work: Path) -> list[tuple[int, str, int, str, str]]:
    """(mutant id, module, line number, status, line) from mutmut's cache."""
    with sqlite3.connect(work / ".mutmut-cache") as db:
        return db.execute(
            "SELECT Mutant.id, SourceFile.filename, Line.line_number + 1, Mutant.status, Line.line "
            "FROM Mutant JOIN Line ON Mutant.line = Line.id "
            "JOIN SourceFile ON Line.sourcefile = SourceFile.id ORDER BY Mutant.id"
        ).fetchall()


def diff_of(work: Path, mutmut: str, mutant: int) -> tuple[str, str]:
    shown = subprocess.run(
        [mutmut, "show", str(mutant)], cwd=work, capture_output=True, text=True, check=False
    ).stdout.splitlines()
    old = next(
        (line[1:].strip() for line in shown if line.startswith("-") and not line.startswith("---")),
        "",
    )
    new = next(
        (line[1:].strip() for line in shown if line.startswith("+") and not line.startswith("+++")),
        "",
    )
    return old, new


def report(work: Path, mutmut: str, chosen: list[dict]) -> str:
    reasons = (
        json.loads((HERE / "reasons.json").read_text()) if (HERE / "reasons.json").exists() else {}
    )
    rows = mutants(work)
    lines = [
        "# Mutation testing report",
        "",
        "Made by `python bench/mutation/run.py` (mutmut 2, each module against its own tests; see",
        "tests/README.md). *Detected* = killed (a test failed) or timed out (a mutant that hangs",
        "is caught too).",
        "",
        "| module | tests run against it | mutants | killed | timeout | survived | detected |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = detected_total = 0
    survivors: list[tuple[str, int, str, str]] = []
    for target in chosen:
        mine = [row for row in rows if row[1] == target["module"]]
        count = {status: sum(row[3] == status for row in mine) for status in
                 ("ok_killed", "bad_timeout", "bad_survived", "ok_suspicious")}  # fmt: skip
        detected = count["ok_killed"] + count["bad_timeout"] + count["ok_suspicious"]
        total += len(mine)
        detected_total += detected
        share = f"{100 * detected / len(mine):.1f} %" if mine else "-"
        tests = " ".join(f"`{t}`" for t in target["tests"])
        lines.append(
            f"| `{target['module']}` | {tests} | {len(mine)} | {count['ok_killed']} | "
            f"{count['bad_timeout']} | {count['bad_survived']} | {share} |"
        )
        for mutant, module, line, status in mine:
            if status not in DETECTED and status != "ok_suspicious":
                old, new = diff_of(work, mutmut, mutant)
                survivors.append(
                    (module, line, f"`{old}` → `{new}`", reasons.get(f"{module} | {new}", ""))
                )
    if total:
        lines.append(f"| **all** | | {total} | | | | **{100 * detected_total / total:.1f} %** |")
    lines += [
        "",
        "## Survivors",
        "",
        "| module | line | mutation | why it survives |",
        "| --- | ---: | --- | --- |",
    ]
    for module, line, change, reason in survivors:
        change = change.replace("|", "\\|")
        lines.append(f"| `{module}` | {line} | {change} | {reason or '(not yet explained)'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules (paths as in pyproject)")
    parser.add_argument("--report", type=Path, default=HERE / "REPORT.md")
    args = parser.parse_args()
    chosen = [t for t in targets() if not args.modules or t["module"] in args.modules]
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    with tempfile.TemporaryDirectory(prefix="lltd-mutation-") as scratch:
        work = Path(scratch)
        scratch_copy(work)
        for target in chosen:
            run_module(work, target, mutmut)
        text = report(work, mutmut, chosen)
    args.report.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
