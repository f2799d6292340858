"""Mutation testing of the whole package: every module of lltd/, one command, one report.

    .venv/bin/python bench/mutation/run.py                      # every module not yet run
    .venv/bin/python bench/mutation/run.py -j 2 --until 11:50   # 2 at a time, stop at 11:50 UTC
    .venv/bin/python bench/mutation/run.py lltd/batch/marks.py  # some modules (by path)
    .venv/bin/python bench/mutation/run.py --list               # each module and its tests
    .venv/bin/python bench/mutation/run.py --report-only        # rewrite REPORT.md
    .venv/bin/python bench/mutation/run.py --recheck lltd/x.py  # replant survivors, today's tests

Every ``lltd/**/*.py`` is a module to mutate (found, not listed). Its tests come from
pyproject.toml's ``[[tool.lltd.mutation]]`` table when a row names it (``module`` may be a
glob; a row with ``skip`` gives the reason its mutants cannot run), else by convention: the test
files that import it by its dotted name, or are named after it (``test_<name>*.py``). mutmut 2
plants one small bug at a time and runs those tests against each; a mutant no test fails on
*survived*.

mutmut edits files in place, so each module is mutated in its own scratch copy of the working
tree (git's tracked and untracked files) under ``bench/mutation/work/`` (ignored), never in the
checkout. Several modules run at once (``-j``). Resumable: each module's result is written to
``bench/mutation/results/`` as soon as it ends, and an interrupted module keeps its scratch copy,
whose mutmut cache resumes where it stopped. Cached: a result carries a key (the SHA-256 of the
module, its test files, tests/conftest.py and the test command); a module whose key is
unchanged is not run again. REPORT.md lists every module: its kill rate, "not run" (no result
for the current code), or the reason it is skipped, with a reason for each survivor from
bench/mutation/reasons.json (keyed "module | old line -> new line").

Slow (minutes per module on 2 cores): not part of .ci/run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import fnmatch
import functools
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results"
WORK = HERE / "work"  # scratch copies of interrupted modules (ignored by git)
DETECTED = ("ok_killed", "bad_timeout", "ok_suspicious")
STRICT_PYTEST = (
    "import subprocess, sys; "
    "sys.exit(0 if subprocess.call([sys.executable, '-m', 'pytest', *sys.argv[1:]]) == 0 else 1)"
)
#: The fast tests: what boots systemd or runs for minutes is left to CI.
MARKERS = "not systemd and not slow"


def modules() -> list[str]:
    """Every module of the package, as a path relative to the checkout."""
    return sorted(str(path.relative_to(REPO)) for path in (REPO / "lltd").rglob("*.py"))


def table() -> list[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    return config["tool"]["lltd"].get("mutation", [])


def _dotted(module: str) -> str:
    return module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def conventional_tests(module: str) -> list[str]:
    """Test files that import ``module`` by name, or are named after it; failing those, the
    test files named after its package (``lltd/serve/app.py``: ``tests/test_serve*.py``)."""
    dotted = _dotted(module)
    parent, _, name = dotted.rpartition(".")
    uses = re.compile(
        rf"(?:\b{re.escape(dotted)}\b(?!\.\w)|from {re.escape(parent)} import [^\n]*\b{name}\b)"
    )
    tests = sorted((REPO / "tests").glob("test_*.py"))
    found = [
        str(test.relative_to(REPO))
        for test in tests
        if (name != "__init__" and test.name.startswith(f"test_{name}"))
        or uses.search(test.read_text())
    ]
    package = parent.rpartition(".")[2]
    if not found and package != "lltd":
        found = [str(t.relative_to(REPO)) for t in tests if t.name.startswith(f"test_{package}")]
    return found


def target(module: str, rows: list[dict]) -> dict:
    """What to run against ``module``: the first table row naming it (``module``: a glob or a
    list of them), else the convention."""
    for row in rows:
        patterns = row["module"] if isinstance(row["module"], list) else [row["module"]]
        if any(fnmatch.fnmatch(module, pattern) for pattern in patterns):
            return {"module": module, "tests": row.get("tests", []), "skip": row.get("skip")}
    tests = conventional_tests(module)
    return {"module": module, "tests": tests, "skip": None if tests else "no test names it"}


def unparsable(entry: dict) -> dict:
    """``entry`` skipped with the reason when mutmut cannot read its module."""
    if not entry["skip"] and planned(entry["module"]) is None:
        entry["skip"] = UNPARSABLE
    return entry


#: Why a module mutmut cannot read is skipped.
UNPARSABLE = (
    "mutmut 2.5 cannot read it: its parser (parso 0.8) refuses parenthesized context managers "
    "(`with (a as x, b as y):`, Python 3.10 syntax)"
)


@functools.cache
def planned(module: str) -> int | None:
    """How many mutants mutmut makes of ``module`` (None if mutmut cannot parse it)."""
    from mutmut import Context, list_mutations

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # mutmut prints parso's complaint
            return len(list_mutations(Context(source=(REPO / module).read_text(), filename=module)))
    except Exception:  # parso's ParserSyntaxError (see UNPARSABLE)
        return None


def key(entry: dict, conftest: bool = True) -> str:
    """The cache key: the module, the test files it runs, conftest and the command. Without
    ``conftest``: the key of the module and its own tests only (the report says when only the
    shared conftest changed since a run, which every module's key includes)."""
    digest = hashlib.sha256(json.dumps([entry["tests"], MARKERS, STRICT_PYTEST]).encode())
    files = [entry["module"], *(["tests/conftest.py"] if conftest else [])]
    files += [t.split("::")[0] for t in entry["tests"] if t.startswith("tests/")]
    for name in files:
        path = REPO / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b""))
    return digest.hexdigest()


def scratch_copy(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    with tempfile.TemporaryFile() as buffer:
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name in filter(None, listed):
                if (REPO / name).exists() and not name.startswith("bench/mutation/"):
                    archive.add(REPO / name, arcname=name, recursive=False)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as archive:
            archive.extractall(into, filter="tar")


def mutated_line(work: Path, mutmut: list[str], mutant: int) -> str:
    """What the mutant's line became ("" when the mutation removes it)."""
    shown = subprocess.run(
        [*mutmut, "show", str(mutant)], cwd=work, capture_output=True, text=True, check=False
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


def restore_originals(work: Path) -> None:
    """Put back what a killed mutmut left mutated: it writes ``NAME.py.bak`` before planting a
    mutant and moves it back after the tests, so a kill in between leaves the mutant in place,
    and the next start would take it for the original."""
    for backup in (work / "lltd").rglob("*.py.bak"):
        os.replace(backup, backup.with_suffix(""))


#: Process groups this run started in their own sessions (mutmut): a run.py stopped by a signal
#: takes them with it. A mutmut left behind goes on planting mutants in a scratch copy that the
#: next campaign reads as the original (it happened: an orphan from 16:09 left line 226 of
#: fs/tree.py mutated for the 16:17 run).
_SESSIONS: set[int] = set()
_SERVERS: set[int] = set()  # fork servers (in our own group, but a signal may come to us alone)


def _stop(signum: int, frame: object) -> None:
    for group in list(_SESSIONS):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    for pid in list(_SERVERS):
        for child in _children(pid):  # a test running in its own group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(128 + signum)


def supervise(
    argv: list[str], work: Path, deadline: float, stall: float = 60.0, attempts: int = 6
) -> tuple[int, bool]:
    """Run mutmut to the end or to ``deadline`` (time.time()); return (restarts, finished).

    mutmut 2's worker process can die (on this shared machine it did, with no trace) and the
    main process then waits for it forever. mutmut keeps every result in its cache, so a rerun
    resumes with the mutants not yet tested: when mutmut has had no worker for ``stall`` s, its
    process group is killed and it is started again. At the deadline it is stopped the same way
    (its cache keeps what it did)."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    for attempt in range(attempts):
        restore_originals(work)
        process = subprocess.Popen(
            argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        _SESSIONS.add(process.pid)
        idle_since: float | None = None
        while process.poll() is None:
            time.sleep(5)
            if time.time() > deadline:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return attempt, False
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
            return attempt, True
    return attempts, False


#: Third-party modules the warm server imports once (never lltd: see forkserver.py).
PRELOAD = (
    "numpy", "PIL.Image", "PIL.PngImagePlugin", "PIL.JpegImagePlugin", "PIL.WebPImagePlugin",
    "hypothesis", "hypothesis.strategies", "pytest", "_pytest.python", "_pytest.pytester",
    "pytest_timeout", "starlette.applications", "httpx", "anyio", "jsonschema",
)  # fmt: skip


def _pytest_args() -> list[str]:
    return ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", MARKERS]


def line_map(entry: dict, work: Path, children: bool = True) -> None:
    """Which test runs which line of the module (lines.py), against the original: once per
    scratch copy. ``children``: the processes the tests start are traced too (child_lines.py);
    otherwise a test that starts one runs for every mutant."""
    out = work / ".lltd-lines.json"
    if out.exists():
        return
    helpers = work / ".lltd-mutation"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(work), str(helpers)]),
        "LLTD_LINES_MODULE": str(work / entry["module"]),
        "LLTD_LINES_OUT": str(out) + ".part",
    }
    if not children:
        env["LLTD_LINES_NO_CHILDREN"] = "1"
    argv = [sys.executable, "-m", "pytest", "-p", "lines", *_pytest_args(), *entry["tests"]]
    subprocess.run(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, check=False)
    part = Path(str(out) + ".part")
    if part.exists() and json.loads(part.read_text())["exitstatus"] == 0:
        os.replace(part, out)  # else no map: every mutant runs the whole command


@contextlib.contextmanager
def warm_server(work: Path, probe: list[str]) -> Iterator[str]:
    """A fork server (forkserver.py) for the scratch copy; yields its socket's path."""
    with tempfile.TemporaryDirectory(prefix="lltd-mut-") as folder:
        sock = os.path.join(folder, "s")  # short: a Unix socket's path has 108 bytes
        env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
        server = subprocess.Popen(
            [sys.executable, str(work / ".lltd-mutation" / "forkserver.py"), "serve", sock,
             *PRELOAD, "--", *probe],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _SERVERS.add(server.pid)
        try:
            assert server.stdout is not None
            if server.stdout.readline().strip() != b"ready":
                raise RuntimeError("the fork server did not start")
            yield sock
        finally:
            server.kill()
            server.wait()


def run_module(
    entry: dict, mutmut: list[str], deadline: float, warm: bool = True, children: bool = True
) -> dict:
    """Mutate one module in its scratch copy (kept, and resumed, while unfinished).

    ``warm`` (the default): each mutant runs only the tests that execute its line (lines.py,
    selection.py), in a child of a warm fork server (forkserver.py); a survivor is run again
    against the whole command, so the figures are the plain runner's. Otherwise each mutant
    starts a fresh pytest on the whole command."""
    # mutmut 2 counts any exit status but 1 as "the tests pass": a mutant pytest cannot even
    # import (exit status 2), or one that kills the test process (a signal sent to the wrong
    # process), would survive. Every failure is reported to it as 1, by a parent that outlives
    # pytest (STRICT_PYTEST, or the fork server).
    plain = [sys.executable, "-c", STRICT_PYTEST, *_pytest_args(), *entry["tests"]]
    entry["key"] = key(entry)  # the tree as it is now: the copy below is taken from it
    own = key(entry, conftest=False)
    work = WORK / entry["module"].replace("/", ".")
    WORK.mkdir(parents=True, exist_ok=True)
    # One run.py per scratch copy: two mutmuts in one copy plant mutants in each other's tests.
    held = (WORK / f"{work.name}.lock").open("w")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held.close()
        raise SystemExit(f"{entry['module']}: another run.py is mutating it ({work})") from None
    stamp = work / ".lltd-mutation-key"
    if not (stamp.exists() and stamp.read_text() == entry["key"]):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        scratch_copy(work)
        stamp.write_text(entry["key"])
    helpers = work / ".lltd-mutation"
    helpers.mkdir(exist_ok=True)
    for name in ("forkserver.py", "lines.py", "child_lines.py"):
        shutil.copy(HERE / name, helpers / name)
    hook = work / "mutmut_config.py"
    hook.unlink(missing_ok=True)
    print(f"== {entry['module']}: {shlex.join(entry['tests'])}", flush=True)
    started = time.time()
    with contextlib.ExitStack() as stack:
        runner, extra = plain, []
        if warm:
            restore_originals(work)  # the line map is made against the original
            line_map(entry, work, children)
            sock = stack.enter_context(warm_server(work, [*_pytest_args(), *entry["tests"]]))
            base = [sys.executable, "-I", "-S", str(helpers / "forkserver.py"), sock]
            base += [*_pytest_args(), "-W", "ignore::pytest.PytestAssertRewriteWarning"]
            options = [t for t in entry["tests"] if not t.startswith("tests/")]
            (work / ".lltd-runner.json").write_text(json.dumps({"base": base, "options": options}))
            shutil.copy(HERE / "selection.py", hook)
            runner, extra = [*base, *entry["tests"]], ["--rerun-all"]
        restarts, finished = supervise(
            [*mutmut, "run", "--paths-to-mutate", entry["module"], "--runner",
             shlex.join(runner), "--no-progress", *extra],
            work, deadline,
        )  # fmt: skip
    rows: list[tuple[int, int, str, str]] = []
    if (work / ".mutmut-cache").exists():
        with sqlite3.connect(work / ".mutmut-cache") as db:
            rows = db.execute(
                "SELECT Mutant.id, Line.line_number + 1, Mutant.status, Line.line FROM Mutant "
                "JOIN Line ON Mutant.line = Line.id JOIN SourceFile ON Line.sourcefile = "
                "SourceFile.id WHERE SourceFile.filename = ? ORDER BY Mutant.id",
                (entry["module"],),
            ).fetchall()
    statuses = [row[2] for row in rows]
    not_run = statuses.count("untested")
    survivors = [
        {"line": line, "old": text.strip(), "new": mutated_line(work, mutmut, mutant)}
        | ({"unreached": True} if status == "skipped" else {})  # selection.py: no test runs it
        for mutant, line, status, text in rows
        if status not in (*DETECTED, "untested")
    ]
    if not rows:
        finished = False  # mutmut stopped before its cache: the baseline failed
    result = {
        "module": entry["module"],
        "tests": entry["tests"],
        "key": entry["key"],
        "key_own": own,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": round((time.time() - started) / 60, 1),
        "runner": ("warm, per-line tests" + (", children traced" if children else ""))
        if warm
        else "plain",
        "restarts": restarts,
        "complete": finished and not_run == 0,
        "mutants": len(rows),
        "killed": statuses.count("ok_killed") + statuses.count("ok_suspicious"),
        "timeout": statuses.count("bad_timeout"),
        "survived": len(survivors),
        "not_run": not_run,
        "survivors": survivors,
    }
    if result["complete"]:
        shutil.rmtree(work, ignore_errors=True)
    return result


def recheck(entry: dict, result: dict) -> None:
    """Plant each recorded survivor again (its line as mutmut changed it) in a scratch copy of
    the tree as it is now, and run the module's current tests: ``killed_since`` on each says
    whether they catch it now. For tests added after a run; the run's own figures stay.

    A survivor whose line moved since the run is planted where its text now is (the nearest
    such line); one whose planted line does not parse (mutmut replaced a statement of several
    lines) is not replanted. The tests first run on the unchanged copy: where they fail there,
    nothing is replanted (every plant would read as killed). A plant that runs ten times as
    long as that run, and at least a minute, is a hang: killed by timeout, as mutmut counts it.
    """
    runner = [sys.executable, "-c", STRICT_PYTEST, "-x", "-q", "-p", "no:cacheprovider"]
    runner += ["-p", "no:randomly", "-m", MARKERS, *entry["tests"]]
    with tempfile.TemporaryDirectory(prefix="lltd-recheck-") as scratch:
        work = Path(scratch)
        scratch_copy(work)
        path = work / entry["module"]
        original = path.read_text()
        lines = original.splitlines(keepends=True)
        env = {**os.environ, "PYTHONPATH": str(work)}
        started = time.monotonic()
        if _run_group(runner, work, env, timeout=None) != 0:
            print(f"{entry['module']}: its tests fail on the unchanged tree; nothing replanted")
            return
        limit = max(60.0, 10 * (time.monotonic() - started))
        for survivor in result["survivors"]:
            at = replant_line(lines, survivor)
            if at is None:
                survivor["killed_since"] = None  # the line is gone or changed: not replanted
                continue
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            planted = lines[:at] + ([f"{indent}{survivor['new']}\n"] if survivor["new"] else [])
            source = "".join(planted + lines[at + 1 :])
            try:  # a mutant of a statement over several lines cannot be replanted by one line
                compile(source, str(path), "exec")
            except SyntaxError:
                survivor["killed_since"] = None
                continue
            path.write_text(source)
            survivor["killed_since"] = _run_group(runner, work, env, timeout=limit) != 0
            path.write_text(original)
    result["rechecked"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result["rechecked_key"] = entry["key"]
    result["rechecked_key_own"] = key(entry, conftest=False)


def replant_line(lines: list[str], survivor: dict) -> int | None:
    """Where ``survivor``'s line is now (0-based): its recorded line if unchanged, else the
    nearest line with its text (code added above it moves it), else None."""
    recorded = survivor["line"] - 1
    if recorded < len(lines) and lines[recorded].strip() == survivor["old"]:
        return recorded
    same = [at for at, line in enumerate(lines) if line.strip() == survivor["old"]]
    return min(same, key=lambda at: abs(at - recorded)) if same else None


def _run_group(command: list[str], cwd: Path, env: dict, timeout: float | None) -> int:
    """``command``'s exit status, or -1 if it ran past ``timeout``: then its whole process
    group is killed (the pytest under the wrapper, and what the tests started)."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) as process:  # fmt: skip
        _SESSIONS.add(process.pid)  # a signal to run.py takes the group with it too
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -1
        finally:
            _SESSIONS.discard(process.pid)


def result_file(module: str) -> Path:
    return RESULTS / (module.replace("/", ".") + ".json")


def load_result(module: str) -> dict | None:
    path = result_file(module)
    return json.loads(path.read_text()) if path.exists() else None


def _reason(module: str, survivor: dict, result: dict, reasons: dict[str, str]) -> str:
    """Why ``survivor`` survives: killed since (a recheck), the reasons file, or unreached."""
    if survivor.get("killed_since"):
        return f"killed since: by the tests as they are now (replanted {result['rechecked']})"
    reason = reasons.get(f"{module} | {survivor['old']} -> {survivor['new']}")
    if reason is None and survivor.get("unreached"):
        reason = "no test reaches it: no mapped test runs this line (not run, counted survived)"
    return reason or "(not yet explained)"


def report(entries: list[dict]) -> str:
    known = HERE / "reasons.json"
    reasons = json.loads(known.read_text()) if known.exists() else {}
    lines = [
        "# Mutation testing report",
        "",
        "Made by `python bench/mutation/run.py` (mutmut 2.5; every module of `lltd/`, each against",
        "its own fast tests; see [tests/README.md](../../tests/README.md#mutation-testing)).",
        "*Detected* = killed (a test failed) or timed out (a mutant that hangs is caught too).",
        "*Stale*: run on an earlier version of the module or its tests (the figure is for that",
        "code). *Equivalent*: survivors whose reason below shows they cannot change behaviour;",
        "*without them*: detected / (tried - equivalent), the figure the targets are read on.",
        "",
        "| module | mutants | killed | timeout | survived | not run | detected | equivalent "
        "| without them | state |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    total = detected = ran = same = 0
    missing: list[str] = []
    empty: list[str] = []
    skipped: list[str] = []
    counts = {entry["module"]: planned(entry["module"]) for entry in entries}
    package = sum(n or 0 for n in counts.values())
    survivors: list[str] = []
    below: list[str] = []  # on the rate without equivalent survivors (the targets)
    below_raw: list[str] = []  # on the plain detected rate
    for entry in entries:
        module = entry["module"]
        if counts[module] == 0:
            empty.append(module)  # nothing mutmut can change (docstrings, re-exports)
            continue
        if entry["skip"]:
            count = "?" if counts[module] is None else counts[module]
            skipped.append(f"| `{module}` | {count} | {entry['skip']} |")
            continue
        result = load_result(module)
        if result is None:
            missing.append(f"`{module}` ({counts[module]})")
            continue
        tried = result["mutants"] - result.get("not_run", 0)
        caught = result["killed"] + result["timeout"]
        since = sum(1 for s in result["survivors"] if s.get("killed_since"))
        explained = [_reason(module, s, result, reasons) for s in result["survivors"]]
        equivalent = sum(1 for r in explained if r.startswith("equivalent"))
        total += tried
        same += equivalent
        detected += caught + since
        ran += 1
        share = f"{100 * caught / tried:.1f} %" if tried else "-"
        if since:  # the run's figure, then with the survivors today's tests catch
            share += f" → {100 * (caught + since) / tried:.1f} %"
        real = tried - equivalent
        if real and (caught + since) / real < 0.85:
            below.append(module)
        if tried and (caught + since) / tried < 0.85:
            below_raw.append(module)
        own = key(entry, conftest=False)
        state = "current" if result.get("key") == entry["key"] else "stale"
        if state == "stale" and result.get("key_own") == own:
            state = "current but for tests/conftest.py"
        if result.get("rechecked_key") == entry["key"]:
            state = f"survivors rechecked {result['rechecked']}"
        elif result.get("rechecked_key_own") == own:
            state = f"survivors rechecked {result['rechecked']} (conftest changed since)"
        if not result.get("complete", True):
            state += ", partial"
        without = f"{100 * (caught + since) / real:.1f} %" if real else "-"
        lines.append(
            f"| `{module}` | {result['mutants']} | {result['killed']} | {result['timeout']} | "
            f"{result['survived']} | {result.get('not_run', 0)} | {share} | {equivalent} | "
            f"{without} | {state} |"
        )
        for survivor, reason in zip(result["survivors"], explained, strict=True):
            change = f"`{survivor['old']}` → `{survivor['new'] or '(line removed)'}`"
            survivors.append(
                f"| `{module}` | {survivor['line']} | {change.replace('|', '/')} | {reason} |"
            )
    if total:
        lines.append(
            f"| **all run** | {total} | | | | | **{100 * detected / total:.1f} %** | {same} | "
            f"**{100 * detected / max(total - same, 1):.1f} %** | {ran} modules |"
        )
    lines += [
        "",
        f"{len(entries)} modules in `lltd/`, {package} mutants in all: {ran} modules run "
        f"({total} mutants tried, {100 * total / max(package, 1):.0f} % of the package), "
        f"{len(missing)} not run yet, {len(skipped)} skipped (below, with the reason), "
        f"{len(empty)} with no mutants. Below 85 % without their equivalent mutants: "
        + (", ".join(f"`{m}`" for m in below) or "none")
        + "; below 85 % counting every survivor: "
        + (", ".join(f"`{m}`" for m in below_raw) or "none")
        + ".",
        "",
        "## Not run yet (mutants)",
        "",
        ", ".join(missing) or "(none)",
        "",
        "## No mutants",
        "",
        ", ".join(f"`{m}`" for m in empty) or "(none)",
        "",
        "## Skipped: mutants that cannot run",
        "",
        "| module | mutants | why |",
        "| --- | ---: | --- |",
        *skipped,
        "",
        "## Survivors",
        "",
        "| module | line | mutation | why it survives |",
        "| --- | ---: | --- | --- |",
        *survivors,
    ]
    notes = HERE / "NOTES.md"  # how and when the results above were measured
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def _deadline(until: str | None) -> float:
    if until is None:
        return float("inf")
    now = dt.datetime.now(dt.UTC)
    hour, minute = map(int, until.split(":"))
    end = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (end if end > now else end + dt.timedelta(days=1)).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="only these modules (paths; globs allowed)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="modules at once (default 2)")
    parser.add_argument("--until", help="stop at HH:MM UTC (unfinished modules resume later)")
    parser.add_argument("--force", action="store_true", help="rerun modules whose key matches")
    parser.add_argument("--list", action="store_true", help="print each module and its tests")
    parser.add_argument(
        "--plain", action="store_true", help="a fresh pytest per mutant, on the whole command"
    )
    parser.add_argument(
        "--untraced-children",
        action="store_true",
        help="a test that starts a process runs for every mutant (as before child tracing)",
    )
    parser.add_argument("--report-only", action="store_true", help="only rewrite REPORT.md")
    parser.add_argument(
        "--recheck", action="store_true", help="replant the survivors against today's tests"
    )
    args = parser.parse_args()
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), _stop)
    rows = table()
    entries = [unparsable(target(module, rows)) for module in modules()]
    for entry in entries:
        entry["key"] = key(entry)
    if args.list:
        for entry in entries:
            print(entry["module"], "|", entry["skip"] or shlex.join(entry["tests"]))
        return 0
    if args.recheck:
        for entry in entries:
            result = load_result(entry["module"])
            wanted = not args.modules or any(
                fnmatch.fnmatch(entry["module"], p) for p in args.modules
            )
            if result and wanted and result["survivors"] and not entry["skip"]:
                recheck(entry, result)
                result_file(entry["module"]).write_text(json.dumps(result, indent=1) + "\n")
                since = sum(1 for s in result["survivors"] if s.get("killed_since"))
                print(f"{entry['module']}: {since} of {len(result['survivors'])} survivors killed")
    elif not args.report_only:

        def rank(entry: dict) -> int:  # in the order the command line names them
            hits = [i for i, p in enumerate(args.modules) if fnmatch.fnmatch(entry["module"], p)]
            return hits[0] if hits else -1

        chosen = sorted(
            (e for e in entries if not e["skip"] and (not args.modules or rank(e) >= 0)), key=rank
        )
        todo = [
            entry
            for entry in chosen
            if args.force
            or not (old := load_result(entry["module"]))
            or old.get("key") != entry["key"]
            or not old.get("complete", True)
        ]
        print(f"{len(todo)} of {len(chosen)} modules to run ({len(chosen) - len(todo)} cached)")
        RESULTS.mkdir(exist_ok=True)
        mutmut = [sys.executable, "-m", "mutmut"]
        deadline = _deadline(args.until)
        lock = threading.Lock()

        def one(entry: dict) -> None:
            if time.time() > deadline:
                return
            result = run_module(
                entry, mutmut, deadline, warm=not args.plain, children=not args.untraced_children
            )
            if not result["mutants"] and not result["complete"]:
                # mutmut makes no mutants when the row's tests fail on the original: no result
                print(f"   {entry['module']}: its tests fail on the original (no mutants)")
                return
            with lock:
                result_file(entry["module"]).write_text(json.dumps(result, indent=1) + "\n")
                (HERE / "REPORT.md").write_text(report(entries))
            tried = result["mutants"] - result["not_run"]
            caught = result["killed"] + result["timeout"]
            print(
                f"   {entry['module']}: {caught}/{tried} detected, {result['not_run']} not run, "
                f"{result['minutes']} min",
                flush=True,
            )

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            list(pool.map(one, todo))
    text = report(entries)
    (HERE / "REPORT.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
