"""The ``lltd`` command as pip installs it (``bin/lltd``, run by path), not ``python -m lltd``.

Python runs a script given by path, not a module, so a spawned worker process re-runs it as its
main module: this is where a missing ``__name__`` guard shows.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from test_watch_daemon import Watch, png_bytes
from waiting import wait_until

SCRIPT = Path(__file__).resolve().parents[1] / "bin" / "lltd"


def test_the_installed_script_runs_the_watch_daemon_with_spawned_workers(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    watch = Watch(
        tmp_path, inp, "-o", out, "-j", "2", "--settle", "200",
        launcher=[sys.executable, str(SCRIPT)],
    )  # fmt: skip
    try:
        watch.wait_ready()
        for index in range(3):
            (inp / f"photo-{index}.png").write_bytes(png_bytes(index))
        wait_until(
            lambda: (
                sorted(p.name for p in out.glob("*.png"))
                == ["photo-0.png", "photo-1.png", "photo-2.png"]
            ),
            60,
            "three defended outputs",
        )
    finally:
        code = watch.stop(signal.SIGTERM)
    assert code == 0, watch.stderr
    assert "already running" not in watch.stderr and "died" not in watch.stderr, watch.stderr
    assert not (out / "failed").exists()
