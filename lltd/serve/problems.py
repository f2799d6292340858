"""Errors the service answers with: a status and a one-line JSON body, never a traceback.

Two headers tell a load balancer who answered, without parsing a body:

- ``X-Lltd-Refusal`` (with ``Retry-After``): lltd itself turned the request away before doing
  any work (``busy``: the work queue is full; ``connections``: ``--max-connections``;
  ``not-ready``: starting or stopping). Retrying elsewhere is safe.
- ``X-Lltd-Upstream-Status``: the answer is the model server's, passed through (a 503 with it
  is the model server's overload, not lltd's).
"""

from __future__ import annotations

import json

from starlette.responses import Response

#: The header that marks lltd's own refusals; its value says why (see the module docstring).
REFUSAL_HEADER = "X-Lltd-Refusal"
#: Seconds a refused client is asked to wait.
RETRY_AFTER_S = 1


def refusal_headers(reason: str) -> dict[str, str]:
    """The headers of every 503 lltd answers itself: ``Retry-After`` and the refusal marker."""
    return {"Retry-After": str(RETRY_AFTER_S), REFUSAL_HEADER: reason}


class Problem(Exception):
    """An HTTP error answer; raised anywhere in a request, turned into a response by the app."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class Refused(Problem):
    """lltd's own 503: nothing was done, the client may retry (elsewhere) after Retry-After."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(503, message, refusal_headers(reason))


def problem_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # One line: the message is a single line (newlines folded) and JSON escapes the rest.
    body = json.dumps({"error": " ".join(message.split()), "status": status}) + "\n"
    return Response(body, status, headers=headers, media_type="application/json")
