"""Mutation testing of the modules whose bugs lose data or mislead: one command, one report.

    .venv/bin/python bench/mutation/run.py                 # every module of [tool.lltd.mutation]
    .venv/bin/python bench/mutation/run.py lltd/fs/atomic.py  # some (the others' results stay)
    .venv/bin/python bench/mutation/run.py --report-only   # rewrite REPORT.md from the results

Each module listed in pyproject.toml's ``[[tool.lltd.mutation]]`` is mutated by mutmut 2 (one
small change at a time: an operator, a constant, a removed call) and its own fast tests are run
against every mutant; a mutant the tests do not fail on "survived". mutmut edits files in place,
so all of this happens in a scratch copy of the working tree (git's tracked and untracked files),
never in the checkout. Each module's outcome is kept in bench/mutation/results/; REPORT.md is
made from all of them, with a reason for each survivor from bench/mutation/reasons.json (keyed
"module | old line -> new line").

Slow (minutes per module on 2 cores): not part of .ci/run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results"
DETECTED = ("ok_killed", "bad_timeout", "ok_suspicious")


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


def mutated_line(work: Path, mutmut: str, mutant: int) -> str:
    """What the mutant's line became ("" when the mutation removes it)."""
    shown = subprocess.run(
        [mutmut, "show", str(mutant)], cwd=work, capture_output=True, text=True, check=False
    ).stdout.splitlines()
    added = [line[1:].strip() for line in shown if line[:1] == "+" and line[:3] != "+++"]
    return (added or [""])[0]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _is_working(pid: int) -> bool:
    """mutmut has a child other than multiprocessing's resource tracker (its worker, or the
    baseline's pytest)."""
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            return True
    return False


def supervise(argv: list[str], work: Path, stall: float = 60.0, attempts: int = 6) -> int:
    """Run mutmut to the end; return how often it had to be restarted.

    mutmut 2's worker process can die (on this shared machine it did, with no trace) and the
    main process then waits for it forever. mutmut keeps every result in its cache, so a rerun
    resumes with the mutants not yet tested: when mutmut has had no worker for ``stall`` s, its
    process group is killed and it is started again."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    for attempt in range(attempts):
        process = subprocess.Popen(
            argv, cwd=work, env=env, stdout=subprocess.DEVNULL, start_new_session=True
        )
        idle_since: float | None = None
        while process.poll() is None:
            time.sleep(5)
            if _is_working(process.pid):
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > stall:
                print("   mutmut stalled (its worker is gone): restarting", flush=True)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
        else:
            return attempt
    return attempts


def run_module(target: dict, mutmut: str) -> dict:
    """Mutate one module in a fresh scratch copy; return its counts and survivors."""
    runner = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    runner += ["-p", "no:randomly", *target["tests"]]
    print(f"== {target['module']}: {shlex.join(target['tests'])}", flush=True)
    with tempfile.TemporaryDirectory(prefix="lltd-mutation-") as scratch:
        work = Path(scratch)
        scratch_copy(work)
        restarts = supervise(
            [mutmut, "run", "--paths-to-mutate", target["module"], "--runner",
             shlex.join(runner), "--no-progress"],
            work,
        )  # fmt: skip
        with sqlite3.connect(work / ".mutmut-cache") as db:
            rows = db.execute(
                "SELECT Mutant.id, Line.line_number + 1, Mutant.status, Line.line FROM Mutant "
                "JOIN Line ON Mutant.line = Line.id ORDER BY Mutant.id"
            ).fetchall()
        survivors = [
            {"line": line, "old": text.strip(), "new": mutated_line(work, mutmut, mutant)}
            for mutant, line, status, text in rows
            if status not in DETECTED
        ]
    statuses = [row[2] for row in rows]
    return {
        "module": target["module"],
        "tests": target["tests"],
        "restarts": restarts,
        "mutants": len(rows),
        "killed": statuses.count("ok_killed") + statuses.count("ok_suspicious"),
        "timeout": statuses.count("bad_timeout"),
        "survived": len(survivors),
        "survivors": survivors,
    }


def result_file(module: str) -> Path:
    return RESULTS / (module.replace("/", ".") + ".json")


def report() -> str:
    known = HERE / "reasons.json"
    reasons = json.loads(known.read_text()) if known.exists() else {}
    results = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    lines = [
        "# Mutation testing report",
        "",
        "Made by `python bench/mutation/run.py` (mutmut 2.5, each module against its own",
        "fast tests; see [tests/README.md](../../tests/README.md#mutation-testing)).",
        "*Detected* = killed (a test failed) or timed out (a mutant that hangs is caught too).",
        "",
        "| module | tests run against it | mutants | killed | timeout | survived | not run "
        "| detected |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = detected = 0
    rows: list[str] = []
    for result in results:
        caught = result["killed"] + result["timeout"]
        run = result["mutants"] - result.get("not_run", 0)  # an interrupted campaign's partial
        total += run
        detected += caught
        share = f"{100 * caught / run:.1f} %" if run else "-"
        tests = " ".join(f"`{test}`" for test in result["tests"])
        lines.append(
            f"| `{result['module']}` | {tests} | {result['mutants']} | {result['killed']} | "
            f"{result['timeout']} | {result['survived']} | {result.get('not_run', 0)} | {share} |"
        )
        for survivor in result["survivors"]:
            key = f"{result['module']} | {survivor['old']} -> {survivor['new']}"
            change = f"`{survivor['old']}` → `{survivor['new'] or '(line removed)'}`"
            rows.append(
                f"| `{result['module']}` | {survivor['line']} | {change.replace('|', '/')} | "
                f"{reasons.get(key, '(not yet explained)')} |"
            )
    if total:
        lines.append(f"| **all (run)** | | {total} | | | | | **{100 * detected / total:.1f} %** |")
    lines += ["", "## Survivors", "", "| module | line | mutation | why it survives |"]
    lines += ["| --- | ---: | --- | --- |", *rows]
    notes = HERE / "NOTES.md"  # how and when the results above were measured
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules (paths as in pyproject)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite REPORT.md")
    args = parser.parse_args()
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    if not args.report_only:
        RESULTS.mkdir(exist_ok=True)
        for target in targets():
            if not args.modules or target["module"] in args.modules:
                result = run_module(target, mutmut)
                result_file(target["module"]).write_text(json.dumps(result, indent=1) + "\n")
    text = report()
    (HERE / "REPORT.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
