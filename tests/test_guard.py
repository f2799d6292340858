"""The deletion guard is active in every process the suite starts, and a test that builds its own
environment without it is stopped before its process starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GUARD, REPO, guarded_pythonpath

#: Outside every deletable folder, and absent: refusing it deletes nothing even if the guard broke.
OUTSIDE = "/lltd-test-guard-probe-that-does-not-exist"
PROBE = f"import shutil; shutil.rmtree({OUTSIDE!r})"


def test_a_python_process_the_suite_starts_refuses_to_delete_outside_temporary_folders() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert "lltd test guard: refused rmtree" in result.stderr, result.stderr


def test_an_lltd_worker_process_is_guarded_too(tmp_path: Path) -> None:
    """Spawned workers (multiprocessing's spawn start method, as lltd's pools use) start a new
    interpreter: they load the guard from the inherited PYTHONPATH."""
    code = (
        "import multiprocessing as mp, shutil\n"
        "def probe(_):\n"
        f"    try: shutil.rmtree({OUTSIDE!r})\n"
        "    except PermissionError as exc: return str(exc)\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('spawn').Pool(1) as pool: print(pool.map(probe, [0])[0])\n"
    )
    script = tmp_path / "probe.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert "lltd test guard: refused rmtree" in result.stdout, result.stdout + result.stderr


def test_an_environment_that_drops_the_guard_is_refused_before_the_process_starts() -> None:
    unguarded = {**os.environ, "PYTHONPATH": str(REPO)}
    with pytest.raises(RuntimeError, match="without the deletion guard"):
        subprocess.run([sys.executable, "-c", PROBE], env=unguarded, timeout=120)
    guarded = {**os.environ, "PYTHONPATH": guarded_pythonpath(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=guarded, capture_output=True, text=True, timeout=120
    )
    assert "lltd test guard: refused rmtree" in result.stderr, result.stderr
    assert guarded["PYTHONPATH"].split(os.pathsep)[0] == str(GUARD)
