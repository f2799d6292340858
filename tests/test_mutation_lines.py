"""bench/mutation's line map (lines.py, child_lines.py): which test runs which line, the lines a
test's processes run included. Its soundness rule: a test is left out of a mutant's selection
only when every process it started left a complete trace; any other test that starts a process
runs for every mutant."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from conftest import GUARD, REPO

MUTATION = REPO / "bench" / "mutation"
MODULE = REPO / "lltd" / "common" / "urls.py"
RETURN_LINE = next(
    n for n, line in enumerate(MODULE.read_text().splitlines(), 1) if "return isinstance" in line
)
CALL = "import lltd.common.urls as u; u.is_url('s3://b')"


def _child_env(folder: Path, test: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(GUARD), str(REPO)]),
        "LLTD_LINES_CHILD": str(MUTATION / "child_lines.py"),
        "LLTD_LINES_MODULE": str(MODULE),
        "LLTD_LINES_CHILD_DIR": str(folder),
        "LLTD_LINES_TEST": test,
    }


def test_a_traced_process_records_the_modules_lines_even_when_it_leaves_by_os_exit(
    tmp_path: Path,
) -> None:
    code = f"{CALL}; import os, sys; sys.stdout.flush(); os._exit(3)"
    done = subprocess.run([sys.executable, "-c", code], env=_child_env(tmp_path, "7"), check=False)
    assert done.returncode == 3
    (start,) = tmp_path.glob("7.*.start")
    lines = json.loads(start.with_suffix(".json").read_text())
    assert RETURN_LINE in lines


def test_a_process_killed_by_a_signal_leaves_an_incomplete_trace(tmp_path: Path) -> None:
    code = f"{CALL}; import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    done = subprocess.run([sys.executable, "-c", code], env=_child_env(tmp_path, "2"), check=False)
    assert done.returncode == -signal.SIGKILL
    (start,) = tmp_path.glob("2.*.start")
    assert not start.with_suffix(".json").exists()


SUITE = f'''
import os, subprocess, sys

def test_in_process():
    import lltd.common.urls as u
    assert u.is_url("s3://b")

def test_through_a_process():
    subprocess.run([sys.executable, "-c", "{CALL}"], check=True)

def test_through_a_killed_process():
    subprocess.run([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"], check=False)

def test_through_an_untraced_process():
    env = {{"PATH": os.environ["PATH"]}}  # built from nothing: no sitecustomize
    subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
'''


def _line_map(tmp_path: Path, **extra: str) -> dict:
    (tmp_path / "test_suite.py").write_text(SUITE)
    out = tmp_path / "lines.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(GUARD), str(REPO), str(MUTATION)]),
        "LLTD_LINES_MODULE": str(MODULE),
        "LLTD_LINES_OUT": str(out),
        **extra,
    }
    argv = [sys.executable, "-m", "pytest", "-p", "lines", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*argv, "-p", "no:randomly", "test_suite.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


def test_a_tests_processes_count_as_the_test_and_only_untraced_ones_run_for_every_mutant(
    tmp_path: Path,
) -> None:
    found = _line_map(tmp_path)
    reached = found["lines"][str(RETURN_LINE)]
    assert reached == ["test_suite.py::test_in_process", "test_suite.py::test_through_a_process"]
    assert found["spawners"] == [
        "test_suite.py::test_through_a_killed_process",
        "test_suite.py::test_through_an_untraced_process",
    ]
    assert found["spawn_outside_tests"] is False


def test_without_child_tracing_every_test_that_starts_a_process_runs_for_every_mutant(
    tmp_path: Path,
) -> None:
    found = _line_map(tmp_path, LLTD_LINES_NO_CHILDREN="1")
    assert found["lines"][str(RETURN_LINE)] == ["test_suite.py::test_in_process"]
    assert found["spawners"] == [
        "test_suite.py::test_through_a_killed_process",
        "test_suite.py::test_through_a_process",
        "test_suite.py::test_through_an_untraced_process",
    ]


def _run_py() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutation_run", MUTATION / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_recheck_replants_a_survivor_where_its_line_moved_to_the_nearest_copy() -> None:
    run = _run_py()
    lines = ["a = 1\n", "    return False\n", "b = 2\n", "    return False\n", "c\n"]
    assert run.replant_line(lines, {"line": 2, "old": "return False"}) == 1  # unmoved
    assert run.replant_line(lines, {"line": 1, "old": "a = 1"}) == 0
    assert run.replant_line(lines, {"line": 5, "old": "return False"}) == 3  # moved: nearest
    assert run.replant_line(lines, {"line": 9, "old": "c"}) == 4  # past the end now
    assert run.replant_line(lines, {"line": 2, "old": "gone"}) is None


def test_a_recheck_run_past_its_limit_is_killed_with_what_it_started(tmp_path: Path) -> None:
    run = _run_py()
    marker = tmp_path / "grandchild"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    assert (
        run._run_group(
            [sys.executable, "-c", "raise SystemExit(3)"], tmp_path, dict(os.environ), 30
        )
        == 3
    )
    status = run._run_group([sys.executable, "-c", code], tmp_path, dict(os.environ), 3)
    assert status == -1
    grandchild = int(marker.read_text())
    try:
        os.kill(grandchild, 0)
    except ProcessLookupError:
        pass
    else:  # a zombie until its reaper (init) takes it: dead all the same
        state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z"
