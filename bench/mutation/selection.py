"""mutmut's hook (run.py copies this file into the scratch copy as ``mutmut_config.py``): run
only the tests that execute the mutated line.

``.lltd-lines.json`` (made by lines.py against the original module) maps each line to the tests
whose call ran it. Per mutant:
* a line that ran outside a test's call (import, collection, fixtures), or any test that starts
  a process, keeps the module's whole test command (what they reach is not traced);
* a line some tests ran: those tests, and every test that starts a process;
* a line no test ran: the mutant is *skipped*, which run.py reports as survived, "no test reaches
  it".
mutmut runs with ``--rerun-all``: a mutant that survives its selected tests is run again against
the whole command, so a survivor is exactly what the whole command lets through (a test that
depends on the line only through state another test left, a cache say, still counts).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_LINES = _HERE / ".lltd-lines.json"
_RUNNER = _HERE / ".lltd-runner.json"
#: mutmut's timeout is 10 x the baseline; a warm baseline of 0.3 s would make a selected run
#: that a loaded machine slows past 3 s a "timeout" (counted as detected). Never below 60 s.
_BASELINE_FLOOR = 6.0


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


_lines = _load(_LINES)
_runner = _load(_RUNNER)
_EVERYWHERE = set(_lines["everywhere"]) if _lines else set()


def pre_mutation(context: Any) -> None:
    config = context.config
    config.baseline_time_elapsed = max(config.baseline_time_elapsed, _BASELINE_FLOOR)
    if not _lines or not _runner or _lines.get("spawn_outside_tests"):
        return
    line = context.current_line_index + 1
    statement = _lines["statements"].get(str(line))
    if statement is None or _EVERYWHERE & set(statement):
        return  # not in a statement we know, or run outside a test's call: every test
    tests = set(_lines["spawners"])
    for other in statement:  # a multi-line statement runs on some of its lines only
        tests.update(_lines["lines"].get(str(other), ()))
    if not tests:
        context.skip = True  # no test runs this line: reported as "no test reaches it"
        return
    order = {test: at for at, test in enumerate(_lines["order"])}
    chosen = sorted(tests, key=lambda test: order.get(test, len(order)))  # the run's own order
    config.test_command = shlex.join([*_runner["base"], *_runner["options"], *chosen])
