"""Which test runs which line of one module: a pytest plugin for per-line test selection.

    LLTD_LINES_MODULE=/abs/lltd/x.py LLTD_LINES_OUT=lines.json python -m pytest -p lines ...

Records, for every line of ``LLTD_LINES_MODULE`` that runs, the node ids of the tests whose
*call* phase ran it, and apart from that: ``everywhere``, the lines that ran outside a test's
call (at import, collection, a fixture's setup or teardown: a mutant there can change any test,
so all of them run), and ``spawners``, the tests that start a process (what runs in a child is
not traced here, so they run for every mutant). Only frames of the one file are traced (a
``sys.settrace`` call hook that declines every other file), threads included.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
from collections import defaultdict
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

_TARGET = os.path.realpath(os.environ.get("LLTD_LINES_MODULE", ""))
_TAIL = os.path.basename(_TARGET)
_by_test: dict[str, set[int]] = defaultdict(set)
_spawners: set[str] = set()
_order: list[str] = []  # the tests' order in this run: a selection keeps it
_current = ""  # the test whose call phase runs now ("" anywhere else)


def _line(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _by_test[_current].add(frame.f_lineno)
    return _line


def _call(frame: FrameType, event: str, arg: Any) -> Any:
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
    if starts and _program(event, args) not in NATIVE:  # a Python child, a shell, a fork
        _spawners.add(_current or "")


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_audit)
    threading.settrace(_call)
    sys.settrace(_call)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    global _current
    _current = item.nodeid
    _order.append(item.nodeid)
    sys.settrace(_call)  # a test's own tracer (hypothesis's explain phase) may have replaced it
    try:
        yield
    finally:
        _current = ""


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sys.settrace(None)
    threading.settrace(None)  # type: ignore[arg-type]
    lines: dict[int, list[str]] = defaultdict(list)
    for test, hits in _by_test.items():
        if test:
            for line in hits:
                lines[line].append(test)
    out = {
        "module": _TARGET,
        "exitstatus": int(exitstatus),
        "everywhere": sorted(_by_test.get("", ())),
        "spawners": sorted(t for t in _spawners if t),
        "spawn_outside_tests": "" in _spawners,
        "order": _order,
        "statements": {str(k): v for k, v in statements(Path(_TARGET).read_text()).items()},
        "lines": {str(line): sorted(tests) for line, tests in sorted(lines.items())},
    }
    with open(os.environ["LLTD_LINES_OUT"], "w") as stream:
        json.dump(out, stream)
