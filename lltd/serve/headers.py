"""Which headers pass between the client, lltd and the model server (RFC 9110, section 7.6.1).

Hop-by-hop headers belong to one connection and never pass; ``x-request-id`` and the W3C
trace context pass both ways, so one id follows a request through lltd and the model server.
"""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Client headers forwarded to the model server (and the id echoed back if it has none).
TRACE = ("x-request-id", "traceparent", "tracestate")
#: Headers of the model server's answer that lltd sets itself (length, date, its own server).
NOT_PASSED_BACK = frozenset({"content-length", "date", "server"})


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers that may be passed on: without the hop-by-hop ones and those ``Connection``
    names for this connection only."""
    pairs = [(name.lower(), value) for name, value in headers]
    named = {
        token.strip().lower()
        for name, value in pairs
        if name == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n not in HOP_BY_HOP and n not in named]


def accepted_codings(accept_encoding: str | None) -> dict[str, float]:
    """``Accept-Encoding`` as ``{coding: q}``; no header is ``identity`` only (a client that
    says nothing gets the body as it is, never a compressed one)."""
    if accept_encoding is None:
        return {"identity": 1.0}
    codings: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        codings[name.lower()] = q
    return codings


def acceptable(content_encoding: str | None, accept_encoding: str | None) -> bool:
    """Whether a body with this ``Content-Encoding`` may go to a client with this
    ``Accept-Encoding`` as it is."""
    codings = accepted_codings(accept_encoding)
    for coding in (content_encoding or "identity").split(","):
        coding = coding.strip().lower()
        coding = {"x-gzip": "gzip", "x-compress": "compress"}.get(coding, coding)
        if not coding or (coding == "identity" and codings.get("identity", 1.0) > 0):
            continue
        q = codings.get(coding, codings.get("*", 0.0))
        if q <= 0:
            return False
    return True
