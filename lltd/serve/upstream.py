"""Forwarding mode: the defended image goes on to a model server and its answer comes back.

The body is built by :mod:`lltd.serve.payloads` (raw, KServe v1, KServe v2 / Open Inference
Protocol). The model server's status, content type and body come back as they are, with its
end-to-end headers and ``X-Lltd-Upstream-Status``; not reaching it is 502, no answer within the
timeout 504. What the client accepts decides the encoding: lltd asks the model server for what
the client's ``Accept-Encoding`` allows (``identity`` without one) and decodes an answer the
client cannot read rather than pass it on.
"""

from __future__ import annotations

import httpx
from starlette.datastructures import Headers
from starlette.responses import Response

from lltd.serve import payloads
from lltd.serve.headers import NOT_PASSED_BACK, TRACE, acceptable, end_to_end
from lltd.serve.kernel import Defended
from lltd.serve.payloads import Payload
from lltd.serve.problems import Problem
from lltd.serve.settings import ServeSettings

#: An upstream answer larger than this (decoded, when lltd decodes it) is refused with 502
#: rather than held in memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class Upstream:
    def __init__(self, settings: ServeSettings) -> None:
        assert settings.upstream is not None
        self.url = settings.upstream
        self.settings = settings
        self.timeout = settings.upstream_timeout
        self.client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)

    @property
    def wants_pixels(self) -> bool:
        """Whether the model server takes RGB pixels rather than an encoded image."""
        s = self.settings
        return s.upstream_protocol == "kserve-v2" and s.upstream_datatype == "UINT8"

    def payload(self, defended: Defended, request_id: str | None) -> Payload:
        """The request body for the model server (CPU work: call it in a worker thread)."""
        s = self.settings
        if s.upstream_protocol == "kserve-v1":
            return payloads.kserve_v1(defended.data, s.upstream_instance)
        if s.upstream_protocol == "kserve-v2":
            if self.wants_pixels:
                return payloads.kserve_v2_uint8(
                    defended.data, defended.size, s.upstream_input, request_id
                )
            return payloads.kserve_v2_bytes(defended.data, s.upstream_input, request_id)
        return Payload(defended.data, defended.media_type)

    async def forward(self, payload: Payload, client: Headers) -> Response:
        accept_encoding = client.get("accept-encoding")
        headers = {
            "Content-Type": payload.content_type,
            "Accept-Encoding": accept_encoding or "identity",
            **{name: client[name] for name in TRACE if name in client},
        }
        try:
            async with self.client.stream(
                "POST", self.url, content=payload.body, headers=headers
            ) as answer:
                # latin-1 both ways: header bytes pass unchanged, whatever they hold.
                raw = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in answer.headers.raw]
                passed = end_to_end(raw)
                encoding = answer.headers.get("content-encoding")
                # httpx decodes gzip, deflate (and br, zstd with their packages installed).
                decode = not acceptable(encoding, accept_encoding)
                if decode:
                    passed = [(n, v) for n, v in passed if n != "content-encoding"]
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.aiter_bytes() if decode else answer.aiter_raw():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise Problem(502, f"upstream answer exceeds {MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise Problem(504, f"upstream did not answer within {self.timeout:g} s") from None
        except httpx.DecodingError as exc:
            raise Problem(
                502, f"upstream answer could not be decoded ({encoding}): {exc}"
            ) from None
        except httpx.HTTPError as exc:
            raise Problem(502, f"upstream unreachable: {type(exc).__name__}: {exc}") from None
        response = Response(b"".join(chunks), answer.status_code)
        response.raw_headers += [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in passed
            if name not in NOT_PASSED_BACK
        ]
        response.headers["X-Lltd-Upstream-Status"] = str(answer.status_code)
        if "x-request-id" not in response.headers and "x-request-id" in client:
            response.headers["x-request-id"] = client["x-request-id"]
        return response

    async def close(self) -> None:
        await self.client.aclose()
