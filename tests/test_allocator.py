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

# glibc's own accounting (mallinfo2) of one 64 MiB block, allocated, freed and allocated again:
# where it comes from (the heap or its own mmap) and whether freeing returns it to the kernel.
# These are the allocator's decisions, the same on a busy machine as on an idle one; the page
# faults they save (a timing-like figure that moves with memory pressure and transparent huge
# pages) are measured in bench/bench_allocator.py, not asserted here.
_ACCOUNTING = """
import ctypes, json, sys
from lltd.common.allocator import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
applied = keep_freed_memory() if sys.argv[1] == "keep" else None

def info():
    got = libc.mallinfo2()
    return {"heap": got.arena, "mapped": got.hblkhd, "free": got.fordblks}

seen = {"applied": applied, "start": info()}
first = libc.malloc(64 << 20)
seen["allocated"] = info()
libc.free(first)
seen["freed"] = info()
second = libc.malloc(64 << 20)
seen["again"], seen["same_address"] = info(), first == second
libc.free(second)
print(json.dumps(seen))
"""
BLOCK = 64 << 20


def _accounting(mode: str) -> dict:
    env = dict(os.environ)  # the suite's PYTHONPATH: this tree, guarded
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        env.pop(name, None)  # the test compares glibc's defaults with the call
    out = subprocess.run(
        [sys.executable, "-c", _ACCOUNTING, mode],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def _has_mallinfo2() -> bool:
    """Read here, not through the module under test: a broken glibc_version must fail the
    tests below, not skip them."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return False
    name, _, number = version.partition(" ")
    return name == "glibc" and tuple(map(int, number.split(".")[:2])) >= (2, 33)


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc 2.33 or later only (mallinfo2)")
def test_kept_freed_memory_is_served_from_the_heap_kept_after_free_and_reused() -> None:
    seen = _accounting("keep")
    assert seen["applied"] is True
    assert allocator.glibc_version() == os.confstr("CS_GNU_LIBC_VERSION")
    start, allocated, freed, again = (seen[k] for k in ("start", "allocated", "freed", "again"))
    # From the heap, not a mapping of its own...
    assert allocated["mapped"] == start["mapped"]
    assert allocated["heap"] - start["heap"] >= BLOCK
    # ...kept when freed (the heap is not trimmed: the pages stay faulted in)...
    assert freed["heap"] == allocated["heap"]
    assert freed["free"] - allocated["free"] >= BLOCK
    # ...and the next block of that size reuses it: the heap does not grow.
    assert again["heap"] == allocated["heap"] and seen["same_address"]


@pytest.mark.skipif(not _has_mallinfo2(), reason="glibc 2.33 or later only (mallinfo2)")
def test_by_default_glibc_maps_a_large_block_and_returns_it_when_freed() -> None:
    seen = _accounting("default")
    assert seen["applied"] is None
    start, allocated, freed = seen["start"], seen["allocated"], seen["freed"]
    assert allocated["mapped"] - start["mapped"] >= BLOCK  # its own mapping
    assert allocated["heap"] == start["heap"]
    assert freed["mapped"] == start["mapped"]  # unmapped at free: faulted in afresh next time


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


def test_no_op_returning_false_when_the_c_library_cannot_be_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """glibc named by the platform, but its library not loadable (a stripped container): the
    setting is not applied and the caller is told so."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", lambda name: "glibc 2.36")
    missing = str(tmp_path / "libc.so.6")
    monkeypatch.setattr(allocator.ctypes.util, "find_library", lambda name: missing)
    assert allocator.keep_freed_memory() is False
