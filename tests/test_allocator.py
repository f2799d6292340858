"""Freed memory kept in the process (``lltd.common.allocator``) for the short-lived torch
commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lltd.common import allocator

REPO = Path(__file__).resolve().parents[1]

# Allocates, writes and frees a 64 MiB buffer 20 times; prints the minor page faults of the
# first time and of the 19 others. (Counted in faults, not pages: numpy asks for huge pages.)
_FAULTS = """
import resource, sys
import numpy as np
from lltd.common.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
np.ones(1 << 20)  # numpy's own first-use allocations, outside the count
counts = [resource.getrusage(resource.RUSAGE_SELF).ru_minflt]
for _ in range(20):
    buffer = np.ones(64 << 17)  # 64 MiB of float64, every page written
    del buffer
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
print(applied, counts[1] - counts[0], counts[-1] - counts[1])
"""


def _faults(mode: str) -> tuple[str, int, int]:
    env = dict(os.environ)  # the suite's PYTHONPATH: this tree, guarded
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        env.pop(name, None)  # the test compares glibc's defaults with the call
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1]), int(out[2])


@pytest.mark.skipif(allocator.glibc_version() is None, reason="glibc only: a no-op elsewhere")
def test_keeping_freed_memory_stops_the_page_faults_of_reallocation() -> None:
    applied, first, kept = _faults("keep")
    _, first_default, returned = _faults("default")
    assert applied == "True"
    assert first > 0 and first_default > 0
    # glibc's default maps every 64 MiB buffer afresh: each of the 19 faults its pages in again.
    assert returned >= 15 * first_default
    # Kept: the first buffer's pages fault in once; the other 19 reuse them.
    assert kept < first
    assert first + kept < (first_default + returned) / 10


def test_no_op_returning_false_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.glibc_version() is None
    assert allocator.keep_freed_memory() is False


def test_no_op_returning_false_on_another_libc(monkeypatch: pytest.MonkeyPatch) -> None:
    def musl(name: str) -> str:  # musl's Python has no CS_GNU_LIBC_VERSION
        raise ValueError("unrecognized configuration name")

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", musl)
    assert allocator.keep_freed_memory() is False
    monkeypatch.setattr(os, "confstr", lambda name: None)
    assert allocator.keep_freed_memory() is False


# Runs a command with keep_freed_memory replaced by a probe that reports the process state at
# that moment and stops the command there (no model is loaded).
_PROBE = """
import json, os, sys
import lltd.common.allocator
def probe():
    print(json.dumps({"torch": "torch" in sys.modules, "omp": os.environ.get("OMP_WAIT_POLICY")}))
    sys.exit(42)
lltd.common.allocator.keep_freed_memory = probe
sys.argv = ["lltd", *sys.argv[1:]]
from lltd.cli import main
main()
"""


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate", "--model", "reference", "--limit", "1", "-o", "out"],
        ["attack", ".", "-o", "out", "--model", "reference"],
    ],
)
@pytest.mark.parametrize("user_policy", [None, "ACTIVE"])
def test_torch_commands_keep_freed_memory_and_sleep_idle_threads_before_torch_loads(
    command: list[str], user_policy: str | None, tmp_path: Path
) -> None:
    env = dict(os.environ)  # the suite's PYTHONPATH: this tree, guarded
    env.pop("OMP_WAIT_POLICY", None)
    if user_policy:
        env["OMP_WAIT_POLICY"] = user_policy
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *command],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 42, result.stderr
    state = json.loads(result.stdout)
    assert state == {"torch": False, "omp": user_policy or "PASSIVE"}


def test_long_lived_and_light_commands_leave_the_allocator_alone(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    env = dict(os.environ)  # the suite's PYTHONPATH: this tree, guarded
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "flip", "in", "-o", "out"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
