"""The Starlette application: ``POST /v1/defend``, ``GET /healthz``, ``/readyz``, ``/metrics``.

Starlette on uvicorn: a plain ASGI toolkit with no validation layer on the hot path (the body is
an image, not JSON), small to import (``lltd serve`` starts without torch and without pydantic),
and uvicorn gives workers, graceful shutdown and a protocol class we can extend (the header
timeout in :mod:`lltd.serve.protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lltd.common.errors import CodecError, ImageError
from lltd.serve.admission import Admission, BodyBytes
from lltd.serve.intake import check_content_type, read_body, wants_webp
from lltd.serve.kernel import Defended, ImageTooLarge, defend_bytes, pixels
from lltd.serve.metrics import Metrics
from lltd.serve.problems import Problem, busy, problem_response, response_for
from lltd.serve.settings import ServeSettings

if TYPE_CHECKING:
    from lltd.serve.upstream import Upstream

log = logging.getLogger("lltd.serve")
ROUTES = ("/v1/defend", "/healthz", "/readyz", "/metrics")


class Service:
    """The state one worker process shares between requests."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.admission = Admission(
            settings.thread_count(),
            settings.max_inflight_pixels,
            settings.queue_size(),
            settings.queue_timeout,
        )
        self.bodies = BodyBytes(
            settings.max_inflight_bytes, settings.queue_timeout, self.metrics.body_bytes.inc
        )
        self.executor: ThreadPoolExecutor | None = None
        self.upstream: Upstream | None = None
        self.ready = False

    async def start(self) -> None:
        self.executor = ThreadPoolExecutor(
            self.settings.thread_count(), thread_name_prefix="lltd-defend"
        )
        if self.settings.upstream:
            from lltd.serve.upstream import Upstream  # httpx only in forwarding mode

            self.upstream = Upstream(self.settings)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self.upstream is not None:
            await self.upstream.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)

    async def defend(self, request: Request) -> Response:
        settings = self.settings
        check_content_type(request)
        async with self.bodies.holding() as take:
            # Read on the event loop, before admission: a slow client holds no thread.
            body = await read_body(request, settings.max_bytes, settings.read_timeout, take)
            self.metrics.bytes_in.inc(len(body))
            cost = self._pixels(body)
            # The thread and the pixels are held until the answer is ready, forwarding
            # included: a slow model server fills the queue and turns into 503s, not into
            # unbounded waiting.
            async with self._admitted(cost):
                return await self._answer(request, body)

    @contextlib.asynccontextmanager
    async def _admitted(self, cost: int) -> AsyncIterator[None]:
        """:meth:`Admission.admit`, counted in the metrics while waiting and while admitted."""
        waiting, admitted = self.metrics.waiting_requests, self.metrics.admitted_pixels
        entered = False
        waiting.inc()
        try:
            async with self.admission.admit(cost):
                waiting.dec()
                entered = True
                admitted.inc(cost)
                try:
                    yield
                finally:
                    admitted.dec(cost)
        finally:
            if not entered:
                waiting.dec()

    def _pixels(self, body: bytes) -> int:
        try:
            return pixels(body, self.settings.pixel_limit())
        except ImageTooLarge as exc:
            raise Problem(413, str(exc)) from None
        except ImageError as exc:
            raise Problem(400, str(exc)) from None

    async def _answer(self, request: Request, body: bytes) -> Response:
        result = await self._defend(request, body)
        stages = self.metrics.stage_seconds
        stages.labels("decode").observe(result.decode_s)
        stages.labels("defend").observe(result.defend_s)
        stages.labels("encode").observe(result.encode_s)
        if self.upstream is None:
            headers = {**result.headers, **echoed(request)}
            return Response(result.data, 200, headers=headers, media_type=result.media_type)
        start = time.perf_counter()
        try:
            payload = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.upstream.payload, result, request.headers.get("x-request-id")
            )
            answer = await self.upstream.forward(payload, request.headers)
        finally:
            stages.labels("upstream").observe(time.perf_counter() - start)
        answer.headers.update(result.headers)
        return answer

    async def _defend(self, request: Request, body: bytes) -> Defended:
        settings = self.settings
        as_rgb = self.upstream is not None and self.upstream.wants_pixels
        work = partial(
            defend_bytes,
            body,
            settings.defense,
            settings.pixel_limit(),
            wants_webp(request),
            as_rgb,
        )
        running = asyncio.get_running_loop().run_in_executor(self.executor, work)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # Cancelled (uvicorn's graceful-shutdown deadline): the thread goes on with the
            # image, so its thread and pixels are given back only once it is done.
            await asyncio.wait([running])
            raise
        except ImageTooLarge as exc:
            raise Problem(413, str(exc)) from None
        except (ImageError, CodecError) as exc:
            raise Problem(400, str(exc)) from None


def echoed(request: Request) -> dict[str, str]:
    """The client's ``x-request-id``, echoed on a defended image (as a model server would)."""
    request_id = request.headers.get("x-request-id")
    return {} if request_id is None else {"x-request-id": request_id}


def create_app(settings: ServeSettings | None = None) -> ASGIApp:
    """The ASGI application; with no settings, those of ``$LLTD_SERVE_SETTINGS`` (workers)."""
    service = Service(settings or ServeSettings.from_environment())

    async def defend(request: Request) -> Response:
        return await service.defend(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not service.ready:  # a refusal like any other: retry (elsewhere) after Retry-After
            return response_for(busy("not ready: starting or stopping"))
        if service.admission.full:
            return response_for(busy("not ready: the work queue is full"))
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        data, media_type = service.metrics.exposition()
        return Response(data, headers={"Content-Type": media_type})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return response_for(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # 404, 405: the same one-line JSON
        return problem_response(exc.status_code, exc.detail, exc.headers)

    async def internal(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer; Accounting logs it as one line.
        return problem_response(500, "internal error")

    app = Starlette(
        exception_handlers={Problem: problem, HTTPException: http_error, Exception: internal},
        routes=[
            Route("/v1/defend", defend, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return Accounting(app, service.metrics)


class Accounting:
    """Outermost ASGI layer: counts and times every request, turns :class:`Problem` and any
    unexpected error into a one-line JSON answer (never a traceback), and keeps the worker alive."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in ROUTES else "other"
        status = 500
        started = False
        start = time.perf_counter()
        # Both framings at once: the body was read by Transfer-Encoding, but a proxy in front
        # may have read it by Content-Length, and the next bytes are not a request we can trust
        # to be one (request smuggling). RFC 9112, 6.1: answer, then close the connection.
        names = {name for name, _ in scope["headers"]}
        ambiguous = b"content-length" in names and b"transfer-encoding" in names

        async def counting_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                if ambiguous:
                    headers = [h for h in message["headers"] if h[0].lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            elif message["type"] == "http.response.body":
                self.metrics.bytes_out.inc(len(message.get("body", b"")))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            try:
                await self.app(scope, receive, counting_send)
            except Problem as exc:
                if started:
                    raise
                response = response_for(exc)
                await response(scope, receive, counting_send)
            except Exception as exc:  # a bug must cost one request, not the worker
                log.error(
                    "lltd serve: internal error on %s: %s: %s", route, type(exc).__name__, exc
                )
                if not started:
                    response = problem_response(500, "internal error")
                    await response(scope, receive, counting_send)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
