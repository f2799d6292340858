"""Real model servers for the serve tests (KServe, TorchServe), on loopback, stopped by PID.

They run from ``.venv-models`` (made by .ci/setup from pyproject.toml's ``model-servers`` extra:
its own venv because kserve pins psutil<6), which sees the development venv's packages (torch
for TorchServe's workers) behind its own. Each test module starts a server once (a fixture).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / ".venv-models" / "bin"
PROBES = Path(__file__).resolve().parent / "model_servers"
SOURCE = ROOT / "sample_data" / "astronaut.png"


def models_venv(*modules: str) -> Path:
    """The model-servers venv's python, or skip (with the reason) where it is not installed."""
    python = MODELS / "python"
    if not python.exists():
        pytest.skip(".venv-models is missing: .ci/setup installs the model-servers extra there")
    found = subprocess.run(
        [str(python), "-c", f"import {', '.join(modules)}"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.skip(f".venv-models cannot import {', '.join(modules)}: {found.stderr[-300:]}")
    return python


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, accept: str, process: subprocess.Popen[bytes], log: Path, timeout: float):
    """Until GET ``url`` answers 200 with ``accept`` in its body (or the server died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the server exited: {log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=5) as answer,
        ):
            if answer.status == 200 and accept in answer.read().decode(errors="replace"):
                return
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready within {timeout:g} s: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def process_group(argv: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A server in its own process group (TorchServe's Python starts Java, which starts Python
    workers): stopped by signalling that group, whose id is the PID of the process started here."""
    log = cwd / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        time.sleep(0.5)  # the group's other members (Java, workers) get the same SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def defended_digest(tmp: Path) -> str:
    """SHA-256 of the pixels ``lltd defend`` writes for SOURCE (mode, size and pixel bytes, as
    the probe models describe what they receive)."""
    from PIL import Image

    folder, out = tmp / "in", tmp / "out"
    folder.mkdir()
    shutil.copy(SOURCE, folder / SOURCE.name)
    result = subprocess.run(
        [sys.executable, "-m", "lltd", "defend", str(folder), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out / SOURCE.name) as image:
        data = image.mode.encode() + repr(image.size).encode() + image.tobytes()
    return hashlib.sha256(data).hexdigest()


def json_body(body: bytes) -> dict[str, object]:
    value = json.loads(body)
    assert isinstance(value, dict), value
    return value
