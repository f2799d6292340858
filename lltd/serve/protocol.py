"""uvicorn's h11 protocol with a deadline for request headers (slowloris).

uvicorn times out idle keep-alive connections but waits for ever on a client that sends its
headers a byte at a time. Here every connection must deliver a complete request head within
``--read-timeout`` seconds of connecting (or of its previous answer); otherwise it gets a 408 with
a one-line JSON body and is closed. The body's own deadline is enforced by the app. Requests
beyond ``--max-connections`` get a 503 in the same JSON form.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

from lltd.serve.problems import MARKER
from lltd.serve.settings import ServeSettings

BUSY = {"error": "too many connections; retry later", "status": 503}


def _closing_answer(status: int, phrase: str, error: str) -> bytes:
    """A whole answer in the service's one error form (a JSON line, the problem header) for a
    connection about to be closed: written below the app, which never saw a request."""
    body = json.dumps({"error": error, "status": status}).encode() + b"\n"
    head = (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
        b"%s: error\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
        % (status, phrase.encode(), MARKER.lower().encode(), len(body))
    )
    return head + body


def _timeout_answer(timeout: float) -> bytes:
    return _closing_answer(
        408, "Request Timeout", f"request headers not received within {timeout:g} s"
    )


async def _too_many_connections(scope: Any, receive: Any, send: Any) -> None:
    """What a request gets when uvicorn's ``limit_concurrency`` (``--max-connections``, the
    backstop above the service's own admission) is reached: a JSON line and Retry-After."""
    body = json.dumps(BUSY).encode() + b"\n"
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (MARKER.lower().encode(), b"busy"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


# uvicorn answers an over-limit request with this module-level app (plain text otherwise); only
# its h11 protocol, the one lltd serve runs, is changed, in the processes importing this module.
h11_impl.service_unavailable = _too_many_connections


class HeaderDeadlineProtocol(H11Protocol):
    header_timeout: float | None = None  # read once per process from the settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if HeaderDeadlineProtocol.header_timeout is None:
            HeaderDeadlineProtocol.header_timeout = ServeSettings.from_environment().read_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        timeout = self.header_timeout or 30.0
        self._deadline = self.loop.call_later(timeout, self._too_slow, timeout)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, timeout: float) -> None:
        self._deadline = None
        # Only while no request is in progress: a request being answered is the app's business.
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.write(_timeout_answer(timeout))
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a complete request head arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head, on a kept-alive connection

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a request h11 cannot parse (a header line over 16 KiB, two
        # Content-Lengths, a bad chunk) is plain text; the service speaks JSON throughout.
        self.transport.write(_closing_answer(400, "Bad Request", "malformed HTTP request"))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
