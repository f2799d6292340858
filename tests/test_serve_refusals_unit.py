"""lltd's own refusals, in-process (the ASGI app through httpx, no lifespan: a service that
has not started): every 503 lltd makes itself carries Retry-After and ``X-Lltd-Problem: busy``."""

from __future__ import annotations

import asyncio

import pytest

httpx = pytest.importorskip("httpx")
from lltd.serve.app import create_app  # noqa: E402
from lltd.serve.settings import ServeSettings  # noqa: E402


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(ServeSettings()))  # lifespan not run
    async with httpx.AsyncClient(transport=transport, base_url="http://lltd") as client:
        return await client.get(path)


def test_not_ready_is_a_marked_refusal_with_retry_after() -> None:
    answer = asyncio.run(get("/readyz"))
    assert answer.status_code == 503 and answer.json()["error"].startswith("not ready")
    assert answer.headers["retry-after"] == "1" and answer.headers["x-lltd-problem"] == "busy"
    # Liveness is not readiness: the process answers.
    assert asyncio.run(get("/healthz")).status_code == 200
