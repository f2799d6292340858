"""``lltd serve``'s application in-process (Starlette's TestClient runs its lifespan): what each
route answers, which metrics one request moves, and that a bug costs one request, not the worker.
The subprocess suites (test_serve*.py) drive the same app through uvicorn; these pin its values."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import warnings

import pytest
from PIL import Image

pytest.importorskip("httpx")
with warnings.catch_warnings():  # Starlette 0.5x asks for httpx2; the httpx it has works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import lltd.serve.app as app_module
from lltd.common.errors import ImageError
from lltd.serve.admission import Admission
from lltd.serve.app import create_app
from lltd.serve.kernel import ImageTooLarge, defend_bytes, pixels
from lltd.serve.settings import ServeSettings

SETTINGS = ServeSettings(threads=1)


def png(width: int = 9, height: int = 7) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (x * 20 % 256, y * 30 % 256, (x + y) * 7 % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def client(settings: ServeSettings = SETTINGS) -> TestClient:
    return TestClient(create_app(settings), raise_server_exceptions=False)


def scrape(test: TestClient) -> dict[str, float]:
    """The exposition's samples, keyed by name and labels as written."""
    answer = test.get("/metrics")
    assert answer.status_code == 200
    samples = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_a_defended_png_is_the_kernels_answer_with_its_headers_and_the_request_id_echoed() -> None:
    body = png()
    expected = defend_bytes(body, SETTINGS.defense, SETTINGS.pixel_limit(), webp=False)
    with client() as test:
        answer = test.post(
            "/v1/defend", content=body, headers={"content-type": "image/png", "x-request-id": "r-7"}
        )
    assert answer.status_code == 200
    assert answer.content == expected.data
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-request-id"] == "r-7"
    for name, value in expected.headers.items():
        assert answer.headers[name] == value


def test_accept_image_webp_gets_the_defended_picture_as_webp() -> None:
    body = png()
    expected = defend_bytes(body, SETTINGS.defense, SETTINGS.pixel_limit(), webp=True)
    with client() as test:
        answer = test.post("/v1/defend", content=body, headers={"accept": "image/webp"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/webp"
    assert answer.content == expected.data


def test_no_request_id_is_invented_when_the_client_sent_none() -> None:
    with client() as test:
        answer = test.post("/v1/defend", content=png())
    assert answer.status_code == 200 and "x-request-id" not in answer.headers


def test_a_picture_over_max_pixels_is_413_with_the_kernels_one_line_reason() -> None:
    body = png(9, 7)  # 63 pixels
    with pytest.raises(ImageTooLarge) as refused:
        pixels(body, 62)
    with client(ServeSettings(threads=1, max_pixels=62)) as test:
        answer = test.post("/v1/defend", content=body)
        fits = test.post("/v1/defend", content=png(9, 6))
    assert answer.status_code == 413
    assert answer.json() == {"error": str(refused.value), "status": 413}
    assert answer.headers["x-lltd-problem"] == "error"
    assert fits.status_code == 200  # 54 pixels: under the limit


def test_bytes_that_are_no_image_are_400_with_the_readers_reason() -> None:
    with pytest.raises(ImageError) as refused:
        pixels(b"not a picture", SETTINGS.pixel_limit())
    with client() as test:
        answer = test.post("/v1/defend", content=b"not a picture")
    assert answer.status_code == 400
    assert answer.json() == {"error": str(refused.value), "status": 400}


def test_a_truncated_picture_whose_header_reads_is_400_from_the_decoder() -> None:
    body = png(64, 64)
    cut = body[: len(body) // 2]
    assert pixels(cut, SETTINGS.pixel_limit()) == 64 * 64  # admitted on its header...
    with client() as test:
        answer = test.post("/v1/defend", content=cut)
        samples = scrape(test)
    assert answer.status_code == 400  # ...and refused by the decoder, in the thread
    assert answer.json()["status"] == 400 and answer.json()["error"]
    # The refusal gave its pixels and its place back.
    assert samples["lltd_serve_admitted_pixels"] == 0
    assert samples["lltd_serve_waiting_requests"] == 0


def test_a_picture_too_large_for_the_decoder_is_413(monkeypatch: pytest.MonkeyPatch) -> None:
    def too_large(*args: object, **kwargs: object) -> None:
        raise ImageTooLarge("x: 4096 x 4096 pixels, over the limit")

    monkeypatch.setattr(app_module, "defend_bytes", too_large)
    with client() as test:
        answer = test.post("/v1/defend", content=png())
    assert answer.status_code == 413
    assert answer.json() == {"error": "x: 4096 x 4096 pixels, over the limit", "status": 413}


def test_liveness_and_readiness_answer_once_started() -> None:
    with client() as test:
        assert test.get("/healthz").json() == {"status": "ok"}
        assert test.head("/healthz").status_code == 200
        ready = test.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert test.head("/readyz").status_code == 200


def test_a_full_queue_makes_readiness_a_busy_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Admission, "full", property(lambda self: True))
    with client() as test:
        answer = test.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"error": "not ready: the work queue is full", "status": 503}
    assert answer.headers["retry-after"] == "1" and answer.headers["x-lltd-problem"] == "busy"


def test_an_unknown_route_and_a_wrong_method_are_one_line_json_errors() -> None:
    with client() as test:
        missing = test.get("/v2/defend")
        wrong = test.get("/v1/defend")
        metrics = test.post("/metrics")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found", "status": 404}
    assert missing.text.endswith("}\n") and missing.text.count("\n") == 1
    assert wrong.status_code == 405 and wrong.json()["status"] == 405
    assert wrong.headers["allow"] == "POST" and wrong.headers["x-lltd-problem"] == "error"
    assert metrics.status_code == 405


def test_an_unsupported_content_type_is_415() -> None:
    with client() as test:
        answer = test.post("/v1/defend", content=png(), headers={"content-type": "text/plain"})
    assert answer.status_code == 415


def test_one_request_moves_each_metric_by_its_own_amount() -> None:
    body = png()
    with client() as test:
        defended = test.post("/v1/defend", content=body)
        missing = test.get("/nowhere")
        samples = scrape(test)
    assert samples['lltd_serve_requests_total{route="/v1/defend",status="200"}'] == 1
    assert samples['lltd_serve_requests_total{route="other",status="404"}'] == 1
    assert samples['lltd_serve_request_seconds_count{route="/v1/defend"}'] == 1
    assert samples['lltd_serve_request_seconds_count{route="other"}'] == 1
    assert samples["lltd_serve_received_bytes_total"] == len(body)
    # Every body sent before this scrape: the picture and the 404's line.
    assert samples["lltd_serve_sent_bytes_total"] == len(defended.content) + len(missing.content)
    for stage in ("decode", "defend", "encode"):
        assert samples[f'lltd_serve_stage_seconds_count{{stage="{stage}"}}'] == 1
    assert samples['lltd_serve_stage_seconds_count{stage="upstream"}'] == 0
    assert samples["lltd_serve_in_flight_requests"] == 1  # the scrape itself
    assert samples["lltd_serve_admitted_pixels"] == 0
    assert samples["lltd_serve_waiting_requests"] == 0
    assert samples["lltd_serve_body_bytes"] == 0


def test_the_metrics_route_is_prometheus_text() -> None:
    with client() as test:
        answer = test.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_a_bug_costs_one_request_not_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    body = png()
    with client() as test:
        with monkeypatch.context() as patch:
            patch.setattr(app_module, "defend_bytes", broken)
            with caplog.at_level(logging.ERROR, logger="lltd.serve"):
                failed = test.post("/v1/defend", content=body)
        after = test.post("/v1/defend", content=body)
        samples = scrape(test)
    assert failed.status_code == 500
    assert failed.json() == {"error": "internal error", "status": 500}
    assert failed.headers["x-lltd-problem"] == "error"
    assert [r.getMessage() for r in caplog.records] == [
        "lltd serve: internal error on /v1/defend: RuntimeError: boom"
    ]
    assert after.status_code == 200
    assert samples['lltd_serve_requests_total{route="/v1/defend",status="500"}'] == 1
    assert (
        samples["lltd_serve_admitted_pixels"] == 0 and samples["lltd_serve_in_flight_requests"] == 1
    )


async def asgi_call(app: object, path: str, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    sent: list[dict] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "server": ("lltd", 80), "client": ("client", 1),
    }  # fmt: skip

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[operator]
    return sent


def response_headers(sent: list[dict]) -> dict[bytes, bytes]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {name.lower(): value for name, value in start["headers"]}


def test_a_request_framed_both_ways_is_answered_then_the_connection_closed() -> None:
    app = create_app(SETTINGS)
    both = [(b"content-length", b"0"), (b"transfer-encoding", b"chunked")]
    sent = asyncio.run(asgi_call(app, "/healthz", both))
    assert response_headers(sent)[b"connection"] == b"close"
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:])) == {"status": "ok"}
    for one in ([both[0]], [both[1]], []):
        sent = asyncio.run(asgi_call(app, "/healthz", one))
        assert b"connection" not in response_headers(sent)


def test_the_connection_header_is_replaced_not_doubled_on_an_ambiguous_request() -> None:
    app = create_app(SETTINGS)
    both = [(b"content-length", b"0"), (b"transfer-encoding", b"chunked")]
    sent = asyncio.run(asgi_call(app, "/nowhere", both))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert [v for n, v in start["headers"] if n.lower() == b"connection"] == [b"close"]
    assert start["status"] == 404


def test_a_service_not_started_is_not_ready_and_says_so() -> None:
    # No lifespan: the routes answer, readiness refuses.
    test = client()
    answer = test.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"error": "not ready: starting or stopping", "status": 503}


def test_routes_are_counted_by_their_path_and_anything_else_as_other() -> None:
    with client() as test:
        test.get("/healthz")
        test.get("/healthz/")
        test.get("/readyz")
        samples = scrape(test)
    counted = {
        key for key in samples if key.startswith("lltd_serve_requests_total") and samples[key]
    }
    routes = {re.search(r'route="([^"]*)"', key)[1] for key in counted}  # type: ignore[index]
    assert routes == {"/healthz", "/readyz", "other"}
