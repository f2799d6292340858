"""README promises of ``lltd watch`` that had no test: --worker-idle, the status file's last
error, --action on the command line. Each waits on the event (a status counter, an
output, a process leaving /proc), never on a guessed time."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from waiting import TIMEOUT, wait_for

SAMPLE_PHOTO = Path(__file__).resolve().parents[1] / "sample_data" / "astronaut.png"


def png(seed: int, size: int = 40) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def drop(path: Path, data: bytes, *, old: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if old:  # a backlog file, there long before the daemon
        os.utime(path, (time.time() - 60, time.time() - 60))


def status_of(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def worker_pids(daemon: int) -> list[int]:
    """The daemon's pool workers (spawned children), not its resource tracker. Named by what
    they run (``spawn_main``), not by what the tracker's command line holds: a daemon started with
    ``PYTHONWARNINGS=ignore:resource_tracker:...`` passes that ``-W`` to every child it spawns."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == daemon and b"spawn_main" in command:
            pids.append(int(stat.parent.name))
    return pids


@contextmanager
def watching(tmp: Path, *args: object) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """``lltd watch ... --status-file``, ready once its status file exists; SIGTERM at the end."""
    status = tmp / "status.json"
    log = tmp / "watch.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "lltd", "watch", *map(str, args), "--status-file", str(status)],
            stdout=output, stderr=subprocess.STDOUT, cwd=tmp,
        )  # fmt: skip
    try:
        wait_for(lambda: status.exists() or process.poll() is not None, "the status file")
        assert process.poll() is None, log.read_text()
        yield process, status, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, log.read_text()


def test_workers_start_on_the_first_file_and_exit_after_worker_idle(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    with watching(tmp_path, inp, "-o", out, "-j", "2", "--worker-idle", "1") as (daemon, _, _):
        assert worker_pids(daemon.pid) == []  # an idle daemon is one small process
        drop(inp / "a.png", png(1))
        wait_for(lambda: (out / "a.png").exists(), "the first output")
        assert worker_pids(daemon.pid), "no worker process did the work"
        # 30 s: generous for a 1 s idle limit, yet short of the 60 s default it must not fall to.
        wait_for(lambda: not worker_pids(daemon.pid), "the workers to exit after 1 s idle", 30)
        drop(inp / "b.png", png(2))  # and they come back for the next file
        wait_for(lambda: (out / "b.png").exists(), "the output after the workers had gone")


def test_the_status_file_keeps_the_last_error(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    with watching(tmp_path, inp, "-o", out, "-j", "1") as (_, status, _):
        assert status_of(status).get("last_error") is None
        drop(inp / "broken.png", b"\x89PNG\r\n\x1a\n not really a PNG")
        wait_for(lambda: status_of(status).get("failed") == 1, "the failure in the status file")
        error = status_of(status)["last_error"]
        # It names the file (as uploaded) and the reason.
        assert error.startswith(f"{inp.resolve() / 'broken.png'}: "), error
        assert "not an image" in error, error
        before = status_of(status)["processed"]
        drop(inp / "fine.png", png(3))
        wait_for(lambda: (out / "fine.png").exists(), "the next file's output")
        wait_for(lambda: status_of(status)["processed"] == before + 1, "the next file's count")
        assert status_of(status)["last_error"] == error  # a success does not clear it


def test_action_compress_and_flip_on_the_command_line(tmp_path: Path) -> None:
    data = SAMPLE_PHOTO.read_bytes()  # a photograph: its WebP is smaller, so it is kept
    for action in ("compress", "flip"):
        here = tmp_path / action
        inp, out = here / "in", here / "out"
        drop(inp / "photo.png", data, old=True)
        with watching(here, inp, "-o", out, "-j", "1", "--action", action, "-q", "80") as (
            _,
            status,
            _,
        ):
            wait_for(lambda: status_of(status).get("processed") == 1, f"the {action} output")
        produced = [p for p in out.rglob("*") if p.is_file()]
        assert len(produced) == 1, produced
        with Image.open(produced[0]) as image:
            pixels = np.asarray(image.convert("RGB"))
            fmt = image.format
        original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        if action == "compress":
            assert fmt == "WEBP"
            assert np.abs(pixels.astype(int) - original).mean() < 8  # close, and not flipped
        else:
            assert np.array_equal(pixels, original[:, ::-1])  # the exact flip, nothing else
