"""``lltd serve --upstream``: the defended image goes on to a real HTTP model server (a
stand-in started by the test on a loopback port) and its answer comes back."""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import RunLltd
from PIL import Image
from serve_helpers import file_pixels, json_error, png_pixels, running
from waiting import wait_for

SOURCE = Path(__file__).resolve().parents[1] / "sample_data" / "astronaut.png"


class ModelServer(ThreadingHTTPServer):
    """Records what it receives; answers with ``status``/``body`` once ``gate`` is open (a test
    closes it to hold requests at the model server: an event, not a delay that a loaded machine
    may outlast)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[tuple[str, str, bytes]] = []
        self.headers: list[dict[str, str]] = []  # of each request, names in lower case
        self.status = 200
        self.body = b'{"predictions": [281]}'
        self.content_type = "application/json"
        self.extra_headers: list[tuple[str, str]] = []
        self.gzip = "never"  # "asked": when the request accepts gzip; "always": regardless
        self.gate = threading.Event()
        self.gate.set()


class Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.received.append(
            (self.path, self.headers.get("Content-Type", ""), self.rfile.read(length))
        )
        self.server.headers.append({k.lower(): v for k, v in self.headers.items()})
        self.server.gate.wait(120)  # bounded: a failed test never leaves the thread behind
        body, mode = self.server.body, self.server.gzip
        gzipped = mode == "always" or (
            mode == "asked" and "gzip" in self.headers.get("Accept-Encoding", "")
        )
        if gzipped:
            body = gzip.compress(body)
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(body)))
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        for name, value in self.server.extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

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
        server.gate.set()  # a test that failed while holding requests lets them go
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
    model_server.gate.clear()  # it answers nothing until the test is done with it
    slow = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    with running("--upstream", slow, "--upstream-timeout", "0.5") as server:
        status, _, body = server.defend(SOURCE.read_bytes())
        assert status == 504 and "within 0.5 s" in json_error(body)["error"]
    model_server.gate.set()
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
    model_server.gate.clear()  # held at the model server until the test has seen the 503s
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    with running("--upstream", url, "--threads", "1", "--queue", "1") as server:
        answers: list[int] = []
        waiting = [
            threading.Thread(target=lambda: answers.append(server.defend(SOURCE.read_bytes())[0]))
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        # Both admitted: one waiting on the model server, one in the queue.
        wait_for(lambda: server.request("GET", "/readyz")[0] == 503, "/readyz to say busy")
        assert server.request("GET", "/readyz")[1]["x-lltd-problem"] == "busy"
        status, headers, body = server.defend(SOURCE.read_bytes())
        assert status == 503 and headers["retry-after"] == "1" and json_error(body)
        # lltd's own refusal is marked as such, and is not the model server's answer.
        assert headers["x-lltd-problem"] == "busy" and "x-lltd-upstream-status" not in headers
        model_server.gate.set()
        for thread in waiting:
            thread.join(60)
        assert answers == [200, 200]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--upstream-instance", "data"],
            "--upstream-instance needs --upstream-protocol kserve-v1",
        ),
        (
            ["--upstream-protocol", "kserve-v1", "--upstream-input", "x"],
            "--upstream-input needs --upstream-protocol kserve-v2",
        ),
        (
            ["--upstream-protocol", "kserve-v2", "--upstream-datatype", "FP32"],
            "--upstream-datatype must be one of BYTES, UINT8, got 'FP32'",
        ),
        (
            ["--upstream-protocol", "kserve-v1", "--upstream-instance", "image"],
            "--upstream-instance must be one of image.b64, data, b64, got 'image'",
        ),
    ],
)
def test_protocol_options_need_their_protocol(
    run_lltd: RunLltd, args: list[str], message: str
) -> None:
    result = run_lltd("serve", "--upstream", "http://127.0.0.1:9/m", *args)
    assert result.returncode == 2 and result.stderr == f"lltd: error: {message}\n"


def post_without_accept_encoding(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """A POST with no Accept-Encoding at all (http.client adds ``identity`` unless told not to)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", "/v1/defend", skip_accept_encoding=True)
        conn.putheader("Content-Type", "image/png")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def test_the_client_accept_encoding_decides_what_comes_back_compressed(
    model_server: ModelServer,
) -> None:
    model_server.gzip = "asked"
    answer = json.loads(model_server.body)
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    image = SOURCE.read_bytes()
    with running("--upstream", url) as server:
        # No Accept-Encoding, or identity: lltd asks the model server for identity.
        status, headers, body = post_without_accept_encoding(server.port, image)
        assert status == 200 and model_server.headers[-1]["accept-encoding"] == "identity"
        assert "content-encoding" not in headers and json.loads(body) == answer
        status, headers, body = server.defend(image, **{"Accept-Encoding": "identity"})
        assert model_server.headers[-1]["accept-encoding"] == "identity"
        assert "content-encoding" not in headers and json.loads(body) == answer
        # A client that takes gzip gets the model server's gzip as it is.
        status, headers, body = server.defend(image, **{"Accept-Encoding": "gzip"})
        assert model_server.headers[-1]["accept-encoding"] == "gzip"
        assert headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(body)) == answer
        # A model server that compresses regardless: lltd decodes for clients that cannot read it.
        model_server.gzip = "always"
        for accept in (None, "identity", "br, gzip;q=0"):
            if accept is None:
                status, headers, body = post_without_accept_encoding(server.port, image)
            else:
                status, headers, body = server.defend(image, **{"Accept-Encoding": accept})
            assert status == 200 and "content-encoding" not in headers, (accept, headers)
            assert json.loads(body) == answer and headers["content-length"] == str(len(body))
        status, headers, body = server.defend(image, **{"Accept-Encoding": "gzip, br"})
        assert headers["content-encoding"] == "gzip"


def test_end_to_end_headers_and_request_ids_pass_hop_by_hop_ones_do_not(
    model_server: ModelServer,
) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    model_server.extra_headers = [
        ("Connection", "X-Hop"),
        ("X-Hop", "for this connection only"),
        ("Keep-Alive", "timeout=5"),
        ("X-Model-Version", "7"),
    ]
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    with running("--upstream", url) as server:
        sent = {"x-request-id": "req-1", "traceparent": trace, "X-Not-Forwarded": "1"}
        status, headers, _ = server.defend(SOURCE.read_bytes(), **sent)
        seen = model_server.headers[-1]
        assert seen["x-request-id"] == "req-1" and seen["traceparent"] == trace
        assert "x-not-forwarded" not in seen
        assert status == 200 and headers["x-model-version"] == "7"
        assert "x-hop" not in headers and "keep-alive" not in headers
        # The model server's own id wins; without one, the client's comes back.
        assert headers["x-request-id"] == "req-1"
        model_server.extra_headers = [("X-Request-Id", "model-9")]
        _, headers, _ = server.defend(SOURCE.read_bytes(), **{"x-request-id": "req-2"})
        assert headers["x-request-id"] == "model-9"
        # An upstream 503 is the model server's: marked so, with no refusal marker of lltd's.
        model_server.status = 503
        status, headers, _ = server.defend(SOURCE.read_bytes())
        assert status == 503 and headers["x-lltd-upstream-status"] == "503"
        assert "x-lltd-problem" not in headers and "retry-after" not in headers
    # Without a model server, the defended image carries the client's request id back.
    with running() as server:
        _, headers, _ = server.defend(SOURCE.read_bytes(), **{"x-request-id": "req-3"})
        assert headers["x-request-id"] == "req-3"
