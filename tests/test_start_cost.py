"""What a batch command loads before its first file: only its own command, and no process-pool
machinery when it runs on threads or serially. A run over 200 small images pays this start once,
and it was a fifth of such a run (bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

OTHER_COMMANDS = {f"lltd.cli.{name}" for name in ("attack", "evaluate", "serve", "watch", "flip")}


def imported(*args: str | Path, cwd: Path) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lltd", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_compress_loads_only_its_command_and_no_process_pool(make_image, tmp_path, jobs):
    make_image(tmp_path / "in" / "a.png")
    names = imported("compress", "in", "-q", "60", "-o", "out", "-j", jobs, cwd=tmp_path)
    assert "lltd.cli.lean.compress_work" in names and "lltd.jobs.compress" in names
    assert (tmp_path / "out" / "a.webp").stat().st_size > 0
    assert not names & OTHER_COMMANDS
    assert not names & {"multiprocessing", "concurrent.futures.process", "ctypes"}


def test_the_process_pool_still_runs_when_asked(make_image, tmp_path, monkeypatch):
    for name in ("a", "b", "c"):
        make_image(tmp_path / "in" / f"{name}.png")
    monkeypatch.setenv("LLTD_POOL", "processes")
    names = imported("compress", "in", "-q", "60", "-o", "out", "-j", "2", cwd=tmp_path)
    assert "concurrent.futures.process" in names
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.webp", "b.webp", "c.webp"]


def test_help_still_lists_every_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lltd", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("attack", "compress", "cwebp", "defend", "evaluate", "flip", "serve", "watch"):
        assert f" {command} " in result.stdout, command
    typo = subprocess.run(
        [sys.executable, "-m", "lltd", "compres"], capture_output=True, text=True, check=False
    )
    assert typo.returncode == 2 and "Did you mean 'compress'" in typo.stderr
