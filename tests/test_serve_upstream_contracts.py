"""Forwarding mode in-process: the model server is an httpx ``MockTransport`` that records what
it was sent and answers what each test tells it. The real model servers (TorchServe, KServe) are
in test_serve_real_*.py and test_serve_upstream.py; these pin the values that pass between."""

from __future__ import annotations

import asyncio
import gzip

import pytest

httpx = pytest.importorskip("httpx")
from starlette.datastructures import Headers  # noqa: E402

import lltd.serve.upstream as upstream_module  # noqa: E402
from lltd.serve import payloads  # noqa: E402
from lltd.serve.kernel import Defended  # noqa: E402
from lltd.serve.payloads import Payload  # noqa: E402
from lltd.serve.problems import Problem  # noqa: E402
from lltd.serve.settings import ServeSettings  # noqa: E402
from lltd.serve.upstream import Upstream  # noqa: E402

URL = "http://model:8080/predict"
DEFENDED = Defended(b"\x89PNG-defended", "image/png", {"X-Lltd-Flip": "h"}, 0, 0, 0, (3, 2))


class Chunks(httpx.AsyncByteStream):
    """A body streamed as a network one is (``content=`` would be read, and decoded, at once)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for start in range(0, len(self.body), 7):
            yield self.body[start : start + 7]


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, stream=Chunks(body))


class ModelServer:
    """Answers each request with ``answer(request)``; keeps the requests it saw."""

    def __init__(self, answer) -> None:  # type: ignore[no-untyped-def]
        self.answer = answer
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answer(request)


def upstream(server: ModelServer, **settings: object) -> Upstream:
    forwarding = Upstream(ServeSettings(upstream=URL, **settings))  # type: ignore[arg-type]
    asyncio.run(forwarding.client.aclose())
    forwarding.client = httpx.AsyncClient(
        transport=httpx.MockTransport(server), timeout=forwarding.timeout
    )
    return forwarding


def forward(forwarding: Upstream, client: dict[str, str], payload: Payload | None = None):  # type: ignore[no-untyped-def]
    payload = payload or Payload(b"body", "image/png")
    return asyncio.run(forwarding.forward(payload, Headers(client)))


def test_the_client_is_built_with_the_timeout_and_no_redirects() -> None:
    forwarding = Upstream(ServeSettings(upstream=URL, upstream_timeout=2.5))
    try:
        assert forwarding.url == URL and forwarding.timeout == 2.5
        assert forwarding.client.timeout == httpx.Timeout(2.5)
        assert forwarding.client.follow_redirects is False
    finally:
        asyncio.run(forwarding.close())
    assert forwarding.client.is_closed


def test_the_model_server_gets_the_body_its_type_the_clients_codings_and_trace_headers() -> None:
    server = ModelServer(lambda request: reply(200, b"{}"))
    client = {
        "accept-encoding": "gzip",
        "x-request-id": "r-1",
        "traceparent": "00-aa-bb-01",
        "tracestate": "k=v",
        "cookie": "secret=1",
        "authorization": "Bearer t",
    }
    forward(upstream(server), client, Payload(b"\x00\x01", "application/json"))
    (sent,) = server.seen
    assert sent.method == "POST" and str(sent.url) == URL
    assert sent.content == b"\x00\x01"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["accept-encoding"] == "gzip"
    assert sent.headers["x-request-id"] == "r-1"
    assert sent.headers["traceparent"] == "00-aa-bb-01" and sent.headers["tracestate"] == "k=v"
    assert "cookie" not in sent.headers and "authorization" not in sent.headers


def test_without_accept_encoding_the_model_server_is_asked_for_identity() -> None:
    server = ModelServer(lambda request: reply(200, b"{}"))
    forward(upstream(server), {})
    assert server.seen[0].headers["accept-encoding"] == "identity"
    assert "x-request-id" not in server.seen[0].headers


def test_the_answer_comes_back_with_its_status_body_end_to_end_headers_and_its_status() -> None:
    answer = reply(
        418,
        b'{"class": 7}',
        {
            "content-type": "application/json",
            "x-model": "resnet",
            "connection": "keep-alive",
            "keep-alive": "timeout=5",
            "server": "torchserve",
            "date": "Mon, 07 Dec 2026 00:00:00 GMT",
        },
    )
    response = forward(upstream(ModelServer(lambda request: answer)), {})
    assert response.status_code == 418 and response.body == b'{"class": 7}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-model"] == "resnet"
    assert response.headers["x-lltd-upstream-status"] == "418"
    for dropped in ("connection", "keep-alive", "server", "date"):
        assert dropped not in response.headers
    assert response.headers["content-length"] == str(len(b'{"class": 7}'))
    assert "x-request-id" not in response.headers


def test_the_request_id_is_echoed_unless_the_model_server_answered_its_own() -> None:
    plain = ModelServer(lambda request: reply(200, b"ok"))
    assert forward(upstream(plain), {"x-request-id": "r-2"}).headers["x-request-id"] == "r-2"
    own = ModelServer(lambda request: reply(200, headers={"x-request-id": "m-9"}))
    response = forward(upstream(own), {"x-request-id": "r-2"})
    assert response.headers.getlist("x-request-id") == ["m-9"]


def gzipped(request: httpx.Request) -> httpx.Response:
    return reply(200, gzip.compress(b"scores" * 10), {"content-encoding": "gzip"})


def test_a_coding_the_client_accepts_passes_through_undecoded() -> None:
    response = forward(upstream(ModelServer(gzipped)), {"accept-encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(response.body) == b"scores" * 10


def test_a_coding_the_client_cannot_read_is_decoded_and_its_header_dropped() -> None:
    response = forward(upstream(ModelServer(gzipped)), {"accept-encoding": "br"})
    assert response.body == b"scores" * 10
    assert "content-encoding" not in response.headers


def test_an_answer_of_exactly_the_limit_passes_one_byte_more_is_502(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_module, "MAX_ANSWER_BYTES", 10)
    at = forward(upstream(ModelServer(lambda request: reply(200, b"x" * 10))), {})
    assert at.body == b"x" * 10
    over = ModelServer(lambda request: reply(200, b"x" * 11))
    with pytest.raises(Problem) as refused:
        forward(upstream(over), {})
    assert (refused.value.status, refused.value.message) == (
        502,
        "upstream answer exceeds 10 bytes",
    )


def test_the_answer_limit_counts_decoded_bytes_when_lltd_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream_module, "MAX_ANSWER_BYTES", 59)  # 60 bytes decoded
    with pytest.raises(Problem) as refused:
        forward(upstream(ModelServer(gzipped)), {"accept-encoding": "identity"})
    assert refused.value.status == 502
    # Passed on undecoded, the same answer is its compressed size: under the limit.
    assert forward(upstream(ModelServer(gzipped)), {"accept-encoding": "gzip"}).status_code == 200


def raising(error: Exception):  # type: ignore[no-untyped-def]
    def answer(request: httpx.Request) -> httpx.Response:
        raise error

    return answer


def test_no_answer_within_the_timeout_is_504_naming_it() -> None:
    server = ModelServer(raising(httpx.ReadTimeout("slow")))
    with pytest.raises(Problem) as refused:
        forward(upstream(server, upstream_timeout=2.5), {})
    assert (refused.value.status, refused.value.message) == (
        504,
        "upstream did not answer within 2.5 s",
    )


def test_an_unreachable_model_server_is_502_with_the_error_named() -> None:
    server = ModelServer(raising(httpx.ConnectError("connection refused")))
    with pytest.raises(Problem) as refused:
        forward(upstream(server), {})
    assert (refused.value.status, refused.value.message) == (
        502,
        "upstream unreachable: ConnectError: connection refused",
    )


def test_an_answer_that_does_not_decode_is_502_naming_its_coding() -> None:
    broken = ModelServer(
        lambda request: reply(200, b"not gzip at all", {"content-encoding": "gzip"})
    )
    with pytest.raises(Problem) as refused:
        forward(upstream(broken), {})
    assert refused.value.status == 502
    assert refused.value.message.startswith("upstream answer could not be decoded (gzip): ")


def test_the_payload_is_the_defended_image_as_each_protocol_wants_it() -> None:
    raw = Upstream(ServeSettings(upstream=URL))
    assert raw.payload(DEFENDED, "r") == Payload(DEFENDED.data, "image/png")
    assert raw.wants_pixels is False
    v1 = Upstream(
        ServeSettings(upstream=URL, upstream_protocol="kserve-v1", upstream_instance="data")
    )
    assert v1.payload(DEFENDED, "r") == payloads.kserve_v1(DEFENDED.data, "data")
    assert v1.wants_pixels is False
    v2 = Upstream(ServeSettings(upstream=URL, upstream_protocol="kserve-v2", upstream_input="img"))
    assert v2.payload(DEFENDED, "r") == payloads.kserve_v2_bytes(DEFENDED.data, "img", "r")
    assert v2.wants_pixels is False
    pixels = Upstream(
        ServeSettings(
            upstream=URL,
            upstream_protocol="kserve-v2",
            upstream_input="img",
            upstream_datatype="UINT8",
        )
    )
    rgb = Defended(bytes(range(18)), "application/octet-stream", {}, 0, 0, 0, (3, 2))
    assert pixels.wants_pixels is True
    assert pixels.payload(rgb, None) == payloads.kserve_v2_uint8(rgb.data, (3, 2), "img", None)
    # UINT8 is a v2 datatype: with another protocol the image goes encoded.
    v1_uint8 = Upstream(
        ServeSettings(upstream=URL, upstream_protocol="kserve-v1", upstream_datatype="UINT8")
    )
    assert v1_uint8.wants_pixels is False
    for forwarding in (raw, v1, v2, pixels, v1_uint8):
        asyncio.run(forwarding.close())


def test_the_answer_limit_is_the_64_mib_the_docs_state() -> None:
    assert upstream_module.MAX_ANSWER_BYTES == 64 * 2**20
