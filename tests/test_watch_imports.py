"""A real ``lltd watch`` run, workers included, imports nothing heavy (no torch, no dask)."""

from __future__ import annotations

from pathlib import Path

from conftest import IMPORT_TIMES, heavy_imports
from test_watch_daemon import Watch, png_bytes, write_old
from waiting import wait_until


def test_a_real_watch_run_imports_nothing_heavy(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    write_old(inp / "a.png", png_bytes(1))
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", env=IMPORT_TIMES)
    try:
        watch.wait_ready()
        wait_until(lambda: (out / "a.png").exists(), 60, "the output")
    finally:
        assert watch.stop() == 0
    assert "lltd.watch.worker" in watch.stderr  # the worker process's imports are listed too
    assert not heavy_imports(watch.stderr)
