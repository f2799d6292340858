"""``lltd serve`` admits a request by what it costs (issue 24, item 5): a thread only once its
body is read, its decoded pixels within ``--max-inflight-pixels``, a wait within ``--queue`` and
``--queue-timeout``, or 503 with Retry-After and lltd's marker. Real servers on loopback."""

from __future__ import annotations

import io
import re
import socket
import threading

import pytest
from conftest import RunLltd
from PIL import Image
from serve_helpers import Server, json_error, png_pixels, running
from test_serve import raw_connection, read_answer
from test_serve_upstream import ModelServer, model_server  # noqa: F401 (the fixture)
from waiting import wait_for


def png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def metric(server: Server, name: str) -> float:
    text = server.request("GET", "/metrics")[2].decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def hold_body(port: int, data: bytes, sent: int) -> socket.socket:
    """A client that sends its headers and ``sent`` bytes of its body, then nothing."""
    sock = raw_connection(port)
    sock.settimeout(120)
    sock.sendall(
        b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: %d\r\n\r\n" % len(data) + data[:sent]
    )
    return sock


def test_slowloris_bodies_hold_no_thread_and_cannot_starve_a_request() -> None:
    data = png_of(64, 48)
    # One thread and one place in the queue: before, two slow bodies made every request a 503.
    with running("--threads", "1", "--queue", "1", "--read-timeout", "60") as server:
        slow = [hold_body(server.port, data, 1) for _ in range(10)]
        try:
            # All ten are inside the application, reading their bodies (plus this scrape).
            wait_for(
                lambda: metric(server, "lltd_serve_in_flight_requests") == 11,
                "the ten slow requests to be read",
            )
            assert metric(server, "lltd_serve_waiting_requests") == 0
            assert server.request("GET", "/readyz")[0] == 200
            status, _, body = server.defend(data)
            assert status == 200 and png_pixels(body), body
            # The slow ones lose nothing: once its body arrives, each is answered (one at a
            # time: together, all but two would find the one thread and queue place taken).
            for sock in slow:
                sock.sendall(data[1:])
                status, _, body = read_answer(sock)
                assert status == 200 and png_pixels(body)
        finally:
            for sock in slow:
                sock.close()


def post_in_thread(server: Server, data: bytes, answers: list[int]) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.append(server.defend(data)[0]), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("room", [-1, 0, 1], ids=["one-over", "at", "one-under"])
def test_pixels_in_flight_stay_within_the_budget(
    model_server: ModelServer,  # noqa: F811 (the fixture imported above)
    room: int,
) -> None:
    first, second = png_of(64, 48), png_of(50, 40)  # 3,072 and 2,000 pixels
    budget = 3072 + 2000 + room  # "one-over": the two together exceed it by one pixel
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    model_server.gate.clear()  # the model server holds what reaches it
    options = ("--threads", "3", "--queue", "1", "--queue-timeout", "120")
    answers: list[int] = []
    with running("--upstream", url, "--max-inflight-pixels", str(budget), *options) as server:
        try:
            held = post_in_thread(server, first, answers)
            wait_for(lambda: len(model_server.received) == 1, "the first request upstream")
            assert metric(server, "lltd_serve_admitted_pixels") == 3072
            waiter = post_in_thread(server, second, answers)
            if room >= 0:  # it fits next to the first: admitted at once
                wait_for(lambda: len(model_server.received) == 2, "the second request upstream")
                assert metric(server, "lltd_serve_admitted_pixels") == 5072
            else:  # a thread is free, the pixels are not: it waits, and the queue is full
                wait_for(lambda: metric(server, "lltd_serve_waiting_requests") == 1, "it to wait")
                assert len(model_server.received) == 1
                assert metric(server, "lltd_serve_admitted_pixels") == 3072
                status, headers, body = server.defend(png_of(1, 1))
                assert status == 503 and headers["retry-after"] == "1"
                assert headers["x-lltd-problem"] == "busy"
                assert "--queue 1" in json_error(body)["error"]
                status, headers, body = server.request("GET", "/readyz")
                assert status == 503 and "queue is full" in json_error(body)["error"]
                assert headers["x-lltd-problem"] == "busy"
        finally:
            model_server.gate.set()
        held.join(120)
        waiter.join(120)
        assert answers == [200, 200]  # the waiting one is served once the first is done
        assert metric(server, "lltd_serve_admitted_pixels") == 0
        assert server.request("GET", "/readyz")[0] == 200
        refused = re.search(
            rb'lltd_serve_requests_total\{route="/v1/defend",status="503"\} 1\.0',
            server.request("GET", "/metrics")[2],
        )
        assert (refused is not None) == (room < 0)


def test_a_request_that_waits_past_the_queue_timeout_gets_503(
    model_server: ModelServer,  # noqa: F811
) -> None:
    url = f"http://127.0.0.1:{model_server.server_port}/predictions/m"
    model_server.gate.clear()
    answers: list[int] = []
    options = ("--threads", "1", "--queue-timeout", "0.5", "--max-inflight-pixels", "4000")
    with running("--upstream", url, *options) as server:
        try:
            held = post_in_thread(server, png_of(64, 48), answers)
            wait_for(lambda: len(model_server.received) == 1, "the first request upstream")
            status, headers, body = server.defend(png_of(10, 10))  # no thread is free
            assert status == 503 and headers["retry-after"] == "1"
            assert headers["x-lltd-problem"] == "busy"
            assert "--queue-timeout 0.5" in json_error(body)["error"]
        finally:
            model_server.gate.set()
        held.join(120)
        assert answers == [200]
        assert server.defend(png_of(10, 10))[0] == 200


def test_an_image_larger_than_the_budget_is_413_and_never_waits() -> None:
    with running("--max-inflight-pixels", "3071") as server:
        status, headers, body = server.defend(png_of(64, 48))  # 3,072 pixels
        assert status == 413 and headers["x-lltd-problem"] == "error"
        assert "3072 pixels exceeds the limit of 3071" in json_error(body)["error"]
        assert server.defend(png_of(3071, 1))[0] == 200  # exactly the budget


def test_max_pixels_above_the_budget_is_a_usage_error(run_lltd: RunLltd) -> None:
    result = run_lltd("serve", "--port", "0", "--max-pixels", "101", "--max-inflight-pixels", "100")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "lltd: error: --max-pixels 101 exceeds --max-inflight-pixels 100: "
        "such an image could never be admitted"
    ]


def test_bodies_in_memory_stay_within_the_byte_budget() -> None:
    held_data, other = png_of(64, 48), png_of(30, 20)
    budget = len(held_data) - 1 + len(other) - 1  # room for both bodies but two bytes
    options = ("--max-inflight-bytes", str(budget), "--max-bytes", str(len(held_data)))
    with running(*options, "--queue-timeout", "1", "--read-timeout", "60") as server:
        sock = hold_body(server.port, held_data, len(held_data) - 1)  # all but its last byte
        try:
            wait_for(
                lambda: metric(server, "lltd_serve_body_bytes") == len(held_data) - 1,
                "the held body to be read",
            )
            # What a client has really sent is held; the next body does not fit: 503, not 408.
            status, headers, body = server.defend(other)
            assert status == 503 and headers["retry-after"] == "1", body
            assert headers["x-lltd-problem"] == "busy"
            assert f"--max-inflight-bytes {budget}" in json_error(body)["error"]
            sock.sendall(held_data[-1:])
            status, _, body = read_answer(sock)
            assert status == 200 and png_pixels(body)
        finally:
            sock.close()
        assert metric(server, "lltd_serve_body_bytes") == 0
        assert server.defend(other)[0] == 200  # the bytes came back


def test_a_body_over_the_byte_budget_is_a_usage_error(run_lltd: RunLltd) -> None:
    result = run_lltd("serve", "--port", "0", "--max-bytes", "1001", "--max-inflight-bytes", "1000")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "lltd: error: --max-bytes 1001 exceeds --max-inflight-bytes 1000: "
        "such a body could never be read"
    ]
