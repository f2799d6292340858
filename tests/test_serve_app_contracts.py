"""``lltd serve``'s application in-process (Starlette's TestClient runs its lifespan): what each
route answers, which metrics one request moves, and that a bug costs one request, not the worker.
The subprocess suites (test_serve*.py) drive the same app through uvicorn; these pin its values."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import threading
import warnings
from collections.abc import AsyncIterator

import pytest
from PIL import Image

httpx = pytest.importorskip("httpx")
with warnings.catch_warnings():  # Starlette 1.x asks for httpx2; the httpx it has works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import lltd.serve.app as app_module  # noqa: E402
from lltd.common.errors import ImageError  # noqa: E402
from lltd.serve.admission import Admission  # noqa: E402
from lltd.serve.app import Accounting, create_app  # noqa: E402
from lltd.serve.kernel import ImageTooLarge, defend_bytes, pixels  # noqa: E402
from lltd.serve.metrics import Metrics  # noqa: E402
from lltd.serve.problems import Problem, busy  # noqa: E402
from lltd.serve.settings import ServeSettings  # noqa: E402

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


def test_the_metrics_route_is_counted_under_its_own_name() -> None:
    with client() as test:
        scrape(test)
        samples = scrape(test)
    assert samples['lltd_serve_requests_total{route="/metrics",status="200"}'] == 1


def test_the_app_is_built_without_a_deprecation_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_app(SETTINGS)


def test_images_are_defended_on_the_services_own_threads_joined_at_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names: list[str] = []

    def recording(*args: object) -> object:
        names.append(threading.current_thread().name)
        return defend_bytes(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "defend_bytes", recording)
    with client(ServeSettings(threads=2)) as test:
        assert test.post("/v1/defend", content=png()).status_code == 200
    assert len(names) == 1 and names[0].startswith("lltd-defend_")
    # Stopped: the service's threads are gone and readiness refuses.
    assert not [t for t in threading.enumerate() if t.name.startswith("lltd-defend")]
    answer = test.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"] == "not ready: starting or stopping"


def test_a_refused_admission_gives_its_place_in_the_queue_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @contextlib.asynccontextmanager
    async def refused(self: Admission, cost: int) -> AsyncIterator[None]:
        raise busy("busy: no thread in time")
        yield  # an async generator, as admit is

    monkeypatch.setattr(Admission, "admit", refused)
    with client() as test:
        answer = test.post("/v1/defend", content=png())
        samples = scrape(test)
    assert answer.status_code == 503 and answer.json()["error"] == "busy: no thread in time"
    assert samples["lltd_serve_waiting_requests"] == 0
    assert samples["lltd_serve_admitted_pixels"] == 0


class SteppingClock:
    """perf_counter for the app: each call a quarter second after the last."""

    def __init__(self) -> None:
        self.now = 100.0

    def perf_counter(self) -> float:
        self.now += 0.25
        return self.now


def test_a_requests_time_is_its_end_minus_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "time", SteppingClock())
    with client() as test:
        test.get("/healthz")
        samples = scrape(test)
    assert samples['lltd_serve_request_seconds_sum{route="/healthz"}'] == 0.25


def test_the_error_log_line_comes_from_the_serve_logger(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app_module, "defend_bytes", broken)
    with client() as test, caplog.at_level(logging.ERROR):
        test.post("/v1/defend", content=png())
    assert [(r.name, r.levelno) for r in caplog.records] == [("lltd.serve", logging.ERROR)]


# --- The outermost layer (Accounting) around apps that misbehave in each way it guards against.


def accounting(inner: object) -> tuple[Accounting, Metrics]:
    metrics = Metrics()
    return Accounting(inner, metrics), metrics  # type: ignore[arg-type]


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)  # type: ignore[union-attr]


def starts(sent: list[dict]) -> list[dict]:
    return [m for m in sent if m["type"] == "http.response.start"]


def test_an_error_before_any_answer_becomes_one_500_line_and_is_counted() -> None:
    async def inner(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("boom")

    app, metrics = accounting(inner)
    sent = asyncio.run(asgi_call(app, "/v1/defend", []))
    (start,) = starts(sent)
    assert start["status"] == 500
    body = b"".join(m.get("body", b"") for m in sent)
    assert json.loads(body) == {"error": "internal error", "status": 500}
    assert sample(metrics, "lltd_serve_requests_total", route="/v1/defend", status="500") == 1
    assert sample(metrics, "lltd_serve_in_flight_requests") == 0


def test_an_error_after_the_answer_started_sends_nothing_more() -> None:
    async def inner(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    app, metrics = accounting(inner)
    sent = asyncio.run(asgi_call(app, "/healthz", []))
    assert [m["status"] for m in starts(sent)] == [200]
    assert sample(metrics, "lltd_serve_requests_total", route="/healthz", status="200") == 1


def test_a_problem_raised_before_the_answer_is_its_own_answer() -> None:
    async def inner(scope: object, receive: object, send: object) -> None:
        raise busy("busy: the queue is full", 3)

    app, metrics = accounting(inner)
    sent = asyncio.run(asgi_call(app, "/v1/defend", []))
    (start,) = starts(sent)
    assert start["status"] == 503
    assert (b"retry-after", b"3") in start["headers"]
    body = b"".join(m.get("body", b"") for m in sent)
    assert json.loads(body) == {"error": "busy: the queue is full", "status": 503}
    assert sample(metrics, "lltd_serve_requests_total", route="/v1/defend", status="503") == 1


def test_a_problem_raised_after_the_answer_started_goes_up() -> None:
    async def inner(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise busy("late")

    app, _ = accounting(inner)
    with pytest.raises(Problem):
        asyncio.run(asgi_call(app, "/healthz", []))


def test_a_cancelled_request_is_counted_as_500_and_cancellation_goes_up() -> None:
    async def inner(scope: object, receive: object, send: object) -> None:
        raise asyncio.CancelledError

    app, metrics = accounting(inner)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(asgi_call(app, "/v1/defend", []))
    assert sample(metrics, "lltd_serve_requests_total", route="/v1/defend", status="500") == 1
    assert sample(metrics, "lltd_serve_in_flight_requests") == 0


def test_an_ambiguous_request_has_its_connection_header_replaced_by_close() -> None:
    async def inner(scope: object, receive: object, send) -> None:  # type: ignore[no-untyped-def]
        headers = [(b"Connection", b"keep-alive"), (b"x-a", b"connection")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body"})  # no "body" key: an empty body

    app, metrics = accounting(inner)
    both = [(b"content-length", b"0"), (b"transfer-encoding", b"chunked")]
    (start,) = starts(asyncio.run(asgi_call(app, "/healthz", both)))
    assert start["headers"] == [(b"x-a", b"connection"), (b"connection", b"close")]
    (start,) = starts(asyncio.run(asgi_call(app, "/healthz", both[:1])))
    assert start["headers"] == [(b"Connection", b"keep-alive"), (b"x-a", b"connection")]
    assert sample(metrics, "lltd_serve_sent_bytes_total") == 0


def test_lifespan_and_other_scopes_pass_through_uncounted() -> None:
    seen: list[str] = []

    async def inner(scope, receive: object, send: object) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["type"])

    app, metrics = accounting(inner)
    asyncio.run(app({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]
    assert sample(metrics, "lltd_serve_in_flight_requests") == 0
    assert metrics.registry.get_sample_value("lltd_serve_requests_total", {}) is None  # type: ignore[union-attr]


# --- Forwarding mode through the app: the model server is an httpx MockTransport.


@pytest.fixture
def model_server(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Every request the model server gets; it answers 200 with JSON naming the body's size."""
    import lltd.serve.upstream as upstream_module

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            headers={"content-type": "application/json"},
            stream=httpx.ByteStream(b'{"size": %d}' % len(request.content)),
        )

    real = httpx.AsyncClient

    def with_mock(**options: object) -> httpx.AsyncClient:
        return real(transport=httpx.MockTransport(answer), **options)  # type: ignore[arg-type]

    monkeypatch.setattr(upstream_module.httpx, "AsyncClient", with_mock)
    return seen


def test_forwarding_sends_the_defended_image_and_returns_the_model_servers_answer(
    model_server: list[httpx.Request],
) -> None:
    settings = ServeSettings(threads=1, upstream="http://model/predict")
    body = png()
    defended = defend_bytes(body, settings.defense, settings.pixel_limit(), webp=False)
    with client(settings) as test:
        answer = test.post("/v1/defend", content=body, headers={"x-request-id": "r-5"})
        samples = scrape(test)
    (sent,) = model_server
    assert sent.content == defended.data and sent.headers["content-type"] == "image/png"
    assert sent.headers["x-request-id"] == "r-5"
    assert answer.status_code == 200 and answer.json() == {"size": len(defended.data)}
    assert answer.headers["x-lltd-upstream-status"] == "200"
    for name, value in defended.headers.items():  # the defense's own headers beside the answer
        assert answer.headers[name] == value
    assert samples['lltd_serve_stage_seconds_count{stage="upstream"}'] == 1


def test_forwarding_pixels_to_a_v2_model_server_sends_rgb_with_the_request_id(
    model_server: list[httpx.Request],
) -> None:
    settings = ServeSettings(
        threads=1,
        upstream="http://model/v2/models/m/infer",
        upstream_protocol="kserve-v2",
        upstream_datatype="UINT8",
        upstream_input="pixels",
    )
    body = png(5, 3)
    rgb = defend_bytes(body, settings.defense, settings.pixel_limit(), webp=False, rgb=True)
    with client(settings) as test:
        answer = test.post("/v1/defend", content=body, headers={"x-request-id": "r-6"})
    assert answer.status_code == 200
    request = json.loads(model_server[0].content)
    assert request["id"] == "r-6"
    (tensor,) = request["inputs"]
    assert tensor["name"] == "pixels" and tensor["datatype"] == "UINT8"
    assert tensor["shape"] == [3, 5, 3] and bytes(tensor["data"]) == rgb.data


def test_the_upstream_stage_is_timed_from_the_payload_to_the_answer(
    model_server: list[httpx.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "time", SteppingClock())
    with client(ServeSettings(threads=1, upstream="http://model/predict")) as test:
        assert test.post("/v1/defend", content=png()).status_code == 200
        samples = scrape(test)
    # Four readings, a quarter second apart: the request's start, the payload's start, the
    # answer's end, the request's end.
    assert samples['lltd_serve_stage_seconds_sum{stage="upstream"}'] == 0.25
    assert samples['lltd_serve_request_seconds_sum{route="/v1/defend"}'] == 0.75
