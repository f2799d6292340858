"""Errors the service answers with: a status and a one-line JSON body, never a traceback.

Every error answer lltd makes itself carries :data:`MARKER`, so a client or
a proxy can tell lltd's own 503 (busy: retry) from a model server's answer passed through by
``--upstream``. The refusals by cost (:func:`busy`) are built here and nowhere else.
"""

from __future__ import annotations

import json

from starlette.responses import Response

#: The header on every error lltd itself answers with; its value says which kind ("busy": retry).
MARKER = "X-Lltd-Problem"


class Problem(Exception):
    """An HTTP error answer; raised anywhere in a request, turned into a response by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        kind: str = "error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.kind = kind


def busy(message: str, retry_after: int = 1) -> Problem:
    """503 for a request that did not get its share of the service (a thread, pixels, a place
    in the queue) in time: the client may retry after ``retry_after`` seconds."""
    return Problem(503, message, {"Retry-After": str(retry_after)}, kind="busy")


def problem_response(
    status: int, message: str, headers: dict[str, str] | None = None, kind: str = "error"
) -> Response:
    # One line: the message is a single line (newlines folded) and JSON escapes the rest.
    body = json.dumps({"error": " ".join(message.split()), "status": status}) + "\n"
    headers = {**(headers or {}), MARKER: kind}
    return Response(body, status, headers=headers, media_type="application/json")


def response_for(problem: Problem) -> Response:
    return problem_response(problem.status, problem.message, problem.headers, problem.kind)
