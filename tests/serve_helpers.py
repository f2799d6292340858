"""A real ``lltd serve`` process for the tests: started on a free loopback port, stopped by PID."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stderr_file: IO[bytes]
    stdout: list[str] = field(default_factory=list)

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            conn.close()

    def defend(
        self, body: bytes, content_type: str = "image/png", **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", "/v1/defend", body, {"Content-Type": content_type, **headers})


def start_server(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[Server, str]:
    """``python -m lltd serve --port 0 ARGS``; returns once it listens. (stderr goes to a
    temporary file read at the end, so a chatty server never blocks on a full pipe.)"""
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
    process = subprocess.Popen(
        [sys.executable, "-m", "lltd", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            line = raw.decode(errors="replace")
            lines.append(line)
            match = LISTENING.search(line)
            if match:
                selector.close()
                return Server(process, int(match.group(1)), stderr_file, lines), line
    _, err = stop(process, stderr_file)
    raise AssertionError(f"lltd serve did not start: {lines} {buffer!r} {err}")


def stop(
    process: subprocess.Popen[bytes], stderr_file: IO[bytes], timeout: float = 30
) -> tuple[int, str]:
    """SIGTERM by PID (SIGKILL if it does not go); the exit status and stderr."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    stderr_file.seek(0)
    err = stderr_file.read().decode(errors="replace")
    stderr_file.close()
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode, err


@contextlib.contextmanager
def running(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server, _ = start_server(*args, env=env)
    try:
        yield server
    finally:
        _, err = stop(server.process, server.stderr_file)
        server.stdout.append(err)
        # Whatever happened, no traceback reached the log.
        assert "Traceback" not in err, err


def json_error(body: bytes) -> dict[str, object]:
    """The error body: exactly one line of JSON with the reason."""
    text = body.decode()
    assert text.endswith("\n") and text.count("\n") == 1, text
    value = json.loads(text)
    assert isinstance(value["error"], str) and value["error"], value
    return value


def png_pixels(data: bytes) -> bytes:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.mode.encode() + repr(image.size).encode() + image.tobytes()


def file_pixels(path: Path) -> bytes:
    return png_pixels(path.read_bytes())
