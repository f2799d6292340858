"""The contracts of lltd/serve/protocol.py (issue 27): a real uvicorn server with lltd's h11
protocol, in this process on loopback, spoken to over raw sockets. The header deadline (a 408 in
the service's JSON form), its re-arming on a kept-alive connection, the JSON 400 for what h11
cannot parse and the 503 beyond ``--max-connections``."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="needs the [serve] extra")

from lltd.serve.protocol import HeaderDeadlineProtocol  # noqa: E402
from lltd.serve.settings import ServeSettings  # noqa: E402

TIMEOUT = 0.3  # --read-timeout of these servers: the 408 comes this long after connecting
WAIT = 60.0  # a bound no passing test reaches


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers it back (kept alive)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body) + 3).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"ok:" + body})


@pytest.fixture(autouse=True)
def no_error_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No exchange here makes the server or its loop log an error (an exception in a callback,
    an answer left incomplete), until the server has stopped."""
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []


@pytest.fixture
def read_timeout_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in a worker process: the deadline is read from LLTD_SERVE_SETTINGS by the first protocol.
    monkeypatch.setattr(HeaderDeadlineProtocol, "header_timeout", None)
    monkeypatch.setenv("LLTD_SERVE_SETTINGS", ServeSettings(read_timeout=TIMEOUT).to_json())


def _serve(
    limit_concurrency: int | None = None, protocol: type = HeaderDeadlineProtocol
) -> Iterator[tuple[str, int]]:
    config = uvicorn.Config(
        _echo,
        host="127.0.0.1",
        port=0,
        http=protocol,
        lifespan="off",
        log_config=None,  # uvicorn's records reach pytest's caplog
        limit_concurrency=limit_concurrency,
        server_header=False,
        date_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield host, port
    finally:
        server.should_exit = True
        thread.join(WAIT)
        assert not thread.is_alive()


@pytest.fixture
def server(read_timeout_from_settings: None) -> Iterator[tuple[str, int]]:
    yield from _serve()


def _until_closed(connection: socket.socket) -> bytes:
    connection.settimeout(WAIT)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _closing(status: int, phrase: str, error: str) -> bytes:
    body = json.dumps({"error": error, "status": status}).encode() + b"\n"
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"x-lltd-problem: error\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body


TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"x-lltd-problem: error\r\nconnection: close\r\ncontent-length: 70\r\n\r\n"
    b'{"error": "request headers not received within 0.3 s", "status": 408}\n'
)


def test_a_head_not_complete_within_the_read_timeout_gets_a_json_408_and_is_closed(
    server: tuple[str, int],
) -> None:
    assert _closing(408, "Request Timeout", "request headers not received within 0.3 s") == (
        TIMED_OUT
    )
    with socket.create_connection(server, timeout=WAIT) as slow:
        slow.sendall(b"POST /v1/defend HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        assert _until_closed(slow) == TIMED_OUT
    assert HeaderDeadlineProtocol.header_timeout == TIMEOUT


def test_a_complete_head_stops_the_deadline_while_the_request_is_answered(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server, timeout=WAIT) as client:
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
        )
        time.sleep(3 * TIMEOUT)  # the body's own deadline is the app's, not the protocol's
        client.sendall(b"body")
        answer = _until_closed(client)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"\r\n\r\nok:body")


def test_a_kept_alive_connection_has_the_read_timeout_again_for_its_next_head(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server, timeout=WAIT) as client:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        first = b""
        while not first.endswith(b"ok:hi"):
            chunk = client.recv(65536)
            assert chunk, first
            first += chunk
        client.sendall(b"POST / HTTP/1.1\r\n")  # the next head, begun and never finished
        rest = _until_closed(client)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest == TIMED_OUT


def test_a_request_h11_cannot_parse_gets_a_json_400_and_is_closed(
    server: tuple[str, int],
) -> None:
    with socket.create_connection(server, timeout=WAIT) as client:
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
        )
        assert _until_closed(client) == _closing(400, "Bad Request", "malformed HTTP request")


def test_beyond_max_connections_a_request_gets_a_json_503_with_retry_after(
    read_timeout_from_settings: None, caplog: pytest.LogCaptureFixture
) -> None:
    # limit_concurrency 1: the one connection open is already the limit.
    caplog.set_level(logging.INFO)
    for host, port in _serve(limit_concurrency=1):
        client = http.client.HTTPConnection(host, port, timeout=WAIT)
        client.request("POST", "/v1/defend", body=b"x")
        response = client.getresponse()
        assert response.status == 503
        assert response.getheaders() == [
            ("content-type", "application/json"),
            ("content-length", "62"),
            ("retry-after", "1"),
            ("x-lltd-problem", "busy"),
            ("connection", "close"),
        ]
        assert response.read() == b'{"error": "too many connections; retry later", "status": 503}\n'
        client.close()
    # A complete answer: uvicorn saw its end (no_error_logged: no "returned without completing
    # response").


def test_a_pipelined_request_in_progress_gets_no_408(server: tuple[str, int]) -> None:
    # The first answer re-arms the deadline while the second request (read with it) is under way.
    with socket.create_connection(server, timeout=WAIT) as client:
        client.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
        )
        time.sleep(3 * TIMEOUT)
        client.sendall(b"body")
        answer = _until_closed(client)
    first, _, rest = answer.partition(b"ok:hi")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest.endswith(b"\r\n\r\nok:body")


def test_a_fresh_process_reads_the_deadline_from_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module as a worker process imports it: nothing set before its first connection.
    import importlib

    from uvicorn.protocols.http import h11_impl

    import lltd.serve.protocol as module

    monkeypatch.setattr(module, "HeaderDeadlineProtocol", HeaderDeadlineProtocol)  # put back after
    monkeypatch.setattr(h11_impl, "service_unavailable", h11_impl.service_unavailable)
    fresh = importlib.reload(module).HeaderDeadlineProtocol
    monkeypatch.setenv("LLTD_SERVE_SETTINGS", ServeSettings(read_timeout=TIMEOUT).to_json())
    for address in _serve(protocol=fresh):
        with socket.create_connection(address, timeout=WAIT) as slow:
            assert _until_closed(slow) == TIMED_OUT
