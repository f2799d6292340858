"""Errors the service answers with: a status and a one-line JSON body, never a traceback."""

from __future__ import annotations

import json

from starlette.responses import Response


class Problem(Exception):
    """An HTTP error answer; raised anywhere in a request, turned into a response by the app."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def problem_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # One line: the message is a single line (newlines folded) and JSON escapes the rest.
    body = json.dumps({"error": " ".join(message.split()), "status": status}) + "\n"
    return Response(body, status, headers=headers, media_type="application/json")
