"""What a request must pass before it may ask for a thread: its type, its size, its speed.

All of it happens on the event loop, before admission (:mod:`lltd.serve.admission`): a client
that is slow to send its body holds its connection, not a thread nor a place in the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request

from lltd.serve.problems import Problem

#: Content types ``POST /v1/defend`` takes; the bytes decide the format (PNG, JPEG or WebP), so
#: curl's default for ``--data-binary @a.png`` (application/x-www-form-urlencoded) is taken too.
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/webp", "application/octet-stream",
                  "application/x-www-form-urlencoded")  # fmt: skip


def check_content_type(request: Request) -> None:
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media = declared.split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise Problem(
            415, f"content type {media or '(empty)'!r} is not one of {', '.join(ACCEPTED_TYPES)}"
        )


def wants_webp(request: Request) -> bool:
    """``Accept: image/webp`` (with a non-zero q) asks for lossless WebP instead of PNG."""
    for item in request.headers.get("accept", "").split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media == "image/webp" and _weight(params) > 0:
            return True
    return False


def _weight(params: list[str]) -> float:
    """An Accept item's q-value (RFC 9110 12.4.2: "0" to "1" with up to three decimals, so
    "q=0.000" refuses too); 1 when absent or unreadable."""
    for param in params:
        name, _, value = param.replace(" ", "").partition("=")
        if name == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


async def read_body(
    request: Request,
    max_bytes: int,
    timeout: float,
    take: Callable[[int], Awaitable[None]] | None = None,
) -> bytes:
    """The whole body, at most ``max_bytes`` (413), within ``timeout`` seconds (408); each chunk
    is ``take``n from the service's budget of body bytes before it is kept (it may wait there).

    A declared Content-Length over the limit is refused before a byte is read, so a flood of
    large bodies costs no memory; a chunked body is counted as it arrives.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Problem(400, f"invalid Content-Length {declared!r}")
        if int(declared) > max_bytes:
            raise Problem(
                413, f"body of {declared} bytes exceeds the limit of {max_bytes} (--max-bytes)"
            )
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise Problem(413, f"body exceeds the limit of {max_bytes} bytes (--max-bytes)")
                if take is not None:
                    await take(len(chunk))
                chunks.append(chunk)
    except TimeoutError:
        raise Problem(
            408, f"request body not received within {timeout:g} s", {"Connection": "close"}
        ) from None
    except ClientDisconnect:
        raise Problem(400, "client disconnected before the body was complete") from None
    return b"".join(chunks)
