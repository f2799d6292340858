"""Which test runs which line of one module: a pytest plugin for per-line test selection.

    LLTD_LINES_MODULE=/abs/lltd/x.py LLTD_LINES_OUT=lines.json python -m pytest -p lines ...

Records, for every line of ``LLTD_LINES_MODULE`` that runs, the node ids of the tests whose
*call* phase ran it, and apart from that: ``everywhere``, the lines that ran outside a test's
call (at import, collection, a fixture's setup or teardown: a mutant there can change any test,
so all of them run), and ``spawners``, the tests that start a process whose lines are not known,
which run for every mutant. Only frames of the one file are traced (a ``sys.settrace`` call hook
that declines every other file), threads included.

The processes a test starts are traced too (child_lines.py, run by the suite's sitecustomize):
their lines count as the test's, and a test is a spawner only when one of its processes left no
complete trace (a program that runs no Python, an environment built without the suite's, a
process killed by a signal): never fewer tests than the truth, only more.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

_TARGET = os.path.realpath(os.environ.get("LLTD_LINES_MODULE", ""))
_TAIL = os.path.basename(_TARGET)
_by_test: dict[str, set[int]] = defaultdict(set)
_spawners: set[str] = set()
_spawned: Counter[str] = Counter()  # processes each test started ("" outside a test's call)
_popen = threading.local()  # a Popen that goes on to posix_spawn is one process, not two
_children = tempfile.mkdtemp(prefix="lltd-lines-")  # child_lines.py's files
_order: list[str] = []  # the tests' order in this run: a selection keeps it
_current = ""  # the test whose call phase runs now ("" anywhere else)


def _line(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _by_test[_current].add(frame.f_lineno)
    return _line


def _call(frame: FrameType, event: str, arg: Any) -> Any:
    if not _TAIL:  # the interpreter's shutdown, which empties module globals
        return None
    if frame.f_code.co_filename == _TARGET or (
        frame.f_code.co_filename.endswith(_TAIL)
        and os.path.realpath(frame.f_code.co_filename) == _TARGET
    ):
        _by_test[_current].add(frame.f_lineno)  # a generator resumed, a def line called
        return _line
    return None


#: Programs that run none of lltd's Python: starting them does not make a test a spawner.
NATIVE = frozenset({"cwebp", "dwebp", "webpinfo", "ldconfig", "uname", "getconf", "true", "git"})


def _program(event: str, args: tuple) -> str:
    """The basename of what ``event`` starts ("" for a fork or a shell command)."""
    try:
        if event == "subprocess.Popen":
            executable, argv = args[0], args[1]
            first = executable or (argv if isinstance(argv, str | bytes) else argv[0])
        elif event in ("os.posix_spawn", "os.exec"):
            first = args[0]
        else:
            return ""
        return os.path.basename(os.fsdecode(first))
    except (IndexError, TypeError):
        return ""


def _audit(event: str, args: tuple) -> None:
    starts = event in ("subprocess.Popen", "os.fork", "os.posix_spawn", "os.system", "os.exec")
    if not starts:
        return
    if event == "os.posix_spawn" and getattr(_popen, "pending", False):
        _popen.pending = False  # the Popen just counted
        return
    _popen.pending = event == "subprocess.Popen"
    if _program(event, args) not in NATIVE:  # a Python child, a shell, a fork
        _spawners.add(_current or "")
        _spawned[_current or ""] += 1


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("LLTD_LINES_NO_CHILDREN"):
        os.environ["LLTD_LINES_CHILD"] = str(Path(__file__).with_name("child_lines.py"))
        os.environ["LLTD_LINES_CHILD_DIR"] = _children
    sys.addaudithook(_audit)
    threading.settrace(_call)
    sys.settrace(_call)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    global _current
    _current = item.nodeid
    _order.append(item.nodeid)
    os.environ["LLTD_LINES_TEST"] = str(len(_order) - 1)  # what its processes inherit
    sys.settrace(_call)  # a test's own tracer (hypothesis's explain phase) may have replaced it
    try:
        yield
    finally:
        _current = ""
        os.environ.pop("LLTD_LINES_TEST", None)


def statements(source: str) -> dict[int, list[int]]:
    """Each line of ``source`` to the lines of the statement (or compound statement's header,
    decorators included) it belongs to: Python reports a multi-line statement's execution on
    some of its lines only, and a mutant may sit on any of them."""
    groups: dict[int, list[int]] = {}

    def claim(first: int, last: int) -> None:
        lines = list(range(first, last + 1))
        for line in lines:
            groups[line] = lines  # inner statements are visited later: theirs wins

    for node in ast.walk(ast.parse(source)):
        bodies = [getattr(node, name, None) for name in ("body", "handlers", "orelse")]
        inner = [child for body in bodies if isinstance(body, list) for child in body]
        if isinstance(node, ast.stmt | ast.ExceptHandler) and not isinstance(node, ast.Module):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            header_end = min((child.lineno for child in inner), default=None)
            last = node.end_lineno or node.lineno
            claim(first, header_end - 1 if header_end and header_end > first else last)
    return dict(sorted(groups.items()))


def children() -> tuple[Counter[str], set[str]]:
    """Merge the traced processes' lines into their tests'; returns how many traces each test
    left and the tests with a process whose trace is incomplete."""
    traced: Counter[str] = Counter()
    incomplete: set[str] = set()
    for name in os.listdir(_children):
        if not name.endswith(".start"):
            continue
        tag = name.split(".")[0]
        test = "" if tag == "-" else _order[int(tag)]
        traced[test] += 1
        lines = Path(_children, name).with_suffix(".json")
        if lines.exists():
            _by_test[test].update(json.loads(lines.read_text()))
        else:
            incomplete.add(test)
    return traced, incomplete


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    traced, incomplete = children()
    # A test's processes are known when each left a complete trace (a process may start more:
    # a pool's workers, a shell's Python).
    unknown = {t for t in _spawners if t in incomplete or traced[t] < _spawned[t]}
    lines: dict[int, list[str]] = defaultdict(list)
    for test, hits in _by_test.items():
        if test:
            for line in hits:
                lines[line].append(test)
    out = {
        "module": _TARGET,
        "exitstatus": int(exitstatus),
        "everywhere": sorted(_by_test.get("", ())),
        "spawners": sorted(t for t in unknown if t),
        "spawn_outside_tests": "" in unknown,
        "traced_children": sum(traced.values()),
        "untraced": {t: [_spawned[t], traced[t], t in incomplete] for t in sorted(unknown)},
        "order": _order,
        "statements": {str(k): v for k, v in statements(Path(_TARGET).read_text()).items()},
        "lines": {str(line): sorted(tests) for line, tests in sorted(lines.items())},
    }
    with open(os.environ["LLTD_LINES_OUT"], "w") as stream:
        json.dump(out, stream)
    shutil.rmtree(_children, ignore_errors=True)
