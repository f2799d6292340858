"""``lltd serve --upstream``: the defended image goes on to a real HTTP model server (a
stand-in started by the test on a loopback port) and its answer comes back."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import RunLltd
from PIL import Image
from serve_helpers import file_pixels, json_error, png_pixels, running

SOURCE = Path(__file__).resolve().parents[1] / "sample_data" / "astronaut.png"


class ModelServer(ThreadingHTTPServer):
    """Records what it receives; answers with ``status``/``body`` after ``delay`` seconds, once
    ``gate`` is open (a test closes it to hold requests at the model server)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[tuple[str, str, bytes]] = []
        self.status = 200
        self.body = b'{"predictions": [281]}'
        self.content_type = "application/json"
        self.delay = 0.0
        self.gate = threading.Event()
        self.gate.set()


class Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.received.append(
            (self.path, self.headers.get("Content-Type", ""), self.rfile.read(length))
        )
        self.server.gate.wait(120)  # bounded: a failed test never leaves the thread behind
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def expected_pixels(tmp_path: Path, run_lltd: RunLltd) -> bytes:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / SOURCE.name).write_bytes(SOURCE.read_bytes())
    result = run_lltd("defend", folder, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    return file_pixels(tmp_path / "out" / SOURCE.name)


def test_raw_forwarding_like_torchserve(model_server: ModelServer, expected_pixels: bytes) -> None:
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/resnet"
    with running("--upstream", url) as server:
        status, headers, body = server.defend(SOURCE.read_bytes())
        assert status == 200 and json.loads(body) == {"predictions": [281]}
        assert headers["content-type"] == "application/json"
        assert headers["x-lltd-upstream-status"] == "200" and headers["x-lltd-quality"] == "60"
        path, content_type, sent = model_server.received[-1]
        assert path == "/predictions/resnet" and content_type == "image/png"
        assert png_pixels(sent) == expected_pixels  # the model sees the defended image
        # Accept: image/webp forwards lossless WebP of the same pixels.
        status, _, _ = server.defend(SOURCE.read_bytes(), Accept="image/webp")
        _, content_type, sent = model_server.received[-1]
        assert status == 200 and content_type == "image/webp"
        assert png_pixels(sent) == expected_pixels
        # The model server's errors come back as they are, status and body.
        model_server.status, model_server.body = 507, b'{"code": 507, "message": "Worker died."}'
        status, headers, body = server.defend(SOURCE.read_bytes())
        assert status == 507 and body == model_server.body
        # Bad input never reaches the model server.
        count = len(model_server.received)
        status, _, body = server.defend(b"not an image")
        assert status == 400 and len(model_server.received) == count
        _, _, metrics = server.request("GET", "/metrics")
    assert b'lltd_serve_stage_seconds_count{stage="upstream"} 3.0' in metrics


def test_kserve_v1_json(model_server: ModelServer, expected_pixels: bytes) -> None:
    model_server.body = b'{"predictions": [{"class": 281}]}'
    url = f"http://127.0.0.1:{model_server.server_port}/v1/models/resnet:predict"
    with running("--upstream", url, "--upstream-protocol", "kserve-v1") as server:
        status, _, body = server.defend(SOURCE.read_bytes())
    assert status == 200 and json.loads(body) == {"predictions": [{"class": 281}]}
    path, content_type, sent = model_server.received[-1]
    assert path == "/v1/models/resnet:predict" and content_type == "application/json"
    payload = json.loads(sent)
    assert list(payload) == ["instances"] and len(payload["instances"]) == 1
    image = base64.b64decode(payload["instances"][0]["image"]["b64"])
    assert png_pixels(image) == expected_pixels
    with Image.open(io.BytesIO(image)) as decoded:
        assert decoded.format == "PNG"


def test_unreachable_and_slow_upstreams_are_502_and_504(model_server: ModelServer) -> None:
    model_server.delay = 5.0
    slow = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    with running("--upstream", slow, "--upstream-timeout", "0.5") as server:
        status, _, body = server.defend(SOURCE.read_bytes())
        assert status == 504 and "within 0.5 s" in json_error(body)["error"]
    closed = ModelServer()  # bound, never served: then closed, so nothing listens there
    port = closed.server_port
    closed.server_close()
    with running("--upstream", f"http://127.0.0.1:{port}/predictions/m") as server:
        status, _, body = server.defend(SOURCE.read_bytes())
        assert status == 502 and "unreachable" in json_error(body)["error"]
        assert server.request("GET", "/healthz")[0] == 200


def test_a_slow_model_server_fills_the_queue_and_turns_into_503(
    model_server: ModelServer,
) -> None:
    model_server.delay = 3.0
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    with running("--upstream", url, "--threads", "1", "--queue", "1") as server:
        answers: list[int] = []
        waiting = [
            threading.Thread(target=lambda: answers.append(server.defend(SOURCE.read_bytes())[0]))
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        for _ in range(200):  # both admitted and waiting on the model server
            status, _, _ = server.request("GET", "/readyz")
            if status == 503:
                break
            time.sleep(0.05)
        assert status == 503
        status, headers, body = server.defend(SOURCE.read_bytes())
        assert status == 503 and headers["retry-after"] == "1" and json_error(body)
        for thread in waiting:
            thread.join(60)
        assert answers == [200, 200]
