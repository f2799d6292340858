"""Forwarding mode: the defended image goes on to a model server and its answer comes back.

``raw`` posts the image bytes (TorchServe's ``/predictions/NAME``); ``kserve-v1`` posts KServe's
v1 JSON, ``{"instances": [{"image": {"b64": ...}}]}``. The upstream's status, content type and
body are passed back unchanged; not reaching it is 502, no answer within the timeout 504.
"""

from __future__ import annotations

import base64
import json

import httpx
from starlette.responses import Response

from lltd.serve.problems import Problem

#: An upstream answer larger than this is refused (502) rather than held in memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Upstream:
    def __init__(self, url: str, protocol: str, timeout: float) -> None:
        self.url = url
        self.protocol = protocol
        self.timeout = timeout
        self.client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def request_body(self, image: bytes, media_type: str) -> tuple[bytes, str]:
        if self.protocol == "kserve-v1":
            payload = {"instances": [{"image": {"b64": base64.b64encode(image).decode("ascii")}}]}
            return json.dumps(payload).encode(), "application/json"
        return image, media_type

    async def forward(self, image: bytes, media_type: str) -> Response:
        content, content_type = self.request_body(image, media_type)
        try:
            async with self.client.stream(
                "POST", self.url, content=content, headers={"Content-Type": content_type}
            ) as answer:
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.aiter_raw():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise Problem(502, f"upstream answer exceeds {MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise Problem(504, f"upstream did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise Problem(502, f"upstream unreachable: {type(exc).__name__}: {exc}") from None
        headers = {"X-Lltd-Upstream-Status": str(answer.status_code)}
        for name in ("content-type", "content-encoding"):
            if name in answer.headers:
                headers[name] = answer.headers[name]
        return Response(b"".join(chunks), answer.status_code, headers=headers)

    async def close(self) -> None:
        await self.client.aclose()
