"""README promises that had no test: --debug, the terminal progress bar, storage URLs that cannot
be opened. (-j defaulting to every core is tested on the runner, tests/test_batch_engine.py.)"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RunLltd, assert_one_line_error


def test_debug_names_every_file_and_its_outcome(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    out = tmp_path / "out"
    quiet = run_lltd("compress", sample_dir, "-q", "60", "-o", tmp_path / "plain")
    assert quiet.returncode == 0 and "lltd: converted:" not in quiet.stderr
    result = run_lltd("compress", sample_dir, "-q", "60", "-o", out, "--debug")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("lltd: converted: ")]
    inputs = sorted(
        p for p in sample_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")
    )
    named = {line.split("lltd: converted: ", 1)[1].split(" -> ")[0] for line in lines}
    converted = {
        str(p) for p in inputs if (out / p.relative_to(sample_dir)).with_suffix(".webp").exists()
    }
    assert converted and named == converted
    for line in lines:
        assert Path(line.split(" -> ", 1)[1]).exists(), line


def run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return its status and output."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lltd", *args],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, cwd=cwd, env=env,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return process.wait(120), b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command", ["compress", "defend"])
def test_a_progress_bar_on_a_terminal_and_none_with_quiet(
    sample_dir: Path, tmp_path: Path, command: str
) -> None:
    total = sum(1 for p in sample_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    code, shown = run_on_a_terminal([command, str(sample_dir), "-o", str(tmp_path / "a")], tmp_path)
    assert code == 0, shown
    assert f"/{total}" in shown and "\x1b[" in shown, shown  # "n/total", drawn with escapes
    code, shown = run_on_a_terminal(
        [command, str(sample_dir), "-o", str(tmp_path / "b"), "--quiet"], tmp_path
    )
    assert code == 0, shown
    assert f"/{total}" not in shown and "\x1b[" not in shown, shown


def test_no_progress_bar_off_a_terminal(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    result = run_lltd("compress", sample_dir, "-q", "60", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "reason"),
    [("nosuch://bucket/in", "Protocol not known"), ("s3://bucket/in", "s3fs")],
    ids=["unknown scheme", "missing driver"],
)
def test_a_storage_url_that_cannot_be_opened_is_a_usage_error(
    tmp_path: Path, run_lltd: RunLltd, url: str, reason: str
) -> None:
    pytest.importorskip("fsspec")
    if reason == "s3fs" and _importable("s3fs"):
        pytest.skip("s3fs is installed here: its driver is not missing")
    result = run_lltd("compress", url, "-q", "60", "-o", tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, "lltd: error: cannot open", url, reason)
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        line for line in result.stderr.splitlines() if line.startswith("lltd: error: cannot open")
    ]
    assert not (tmp_path / "out").exists()


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
