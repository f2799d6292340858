"""The service's error answers, in-process: one line of JSON (``error``, ``status``), the status
code, ``application/json``, and ``X-Lltd-Problem`` naming the kind ("busy": retry, after
Retry-After seconds), whatever headers the refusal adds."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
from lltd.serve.problems import MARKER, Problem, busy, problem_response, response_for


def test_an_error_answer_is_one_line_of_json_with_the_message_folded_and_the_status() -> None:
    answer = problem_response(413, "body too large:\n  over\t64 bytes")
    assert answer.status_code == 413
    assert answer.body == b'{"error": "body too large: over 64 bytes", "status": 413}\n'
    assert json.loads(answer.body) == {"error": "body too large: over 64 bytes", "status": 413}


def test_an_error_answer_is_application_json() -> None:
    answer = problem_response(400, "bad")
    assert answer.headers["content-type"] == "application/json"


def test_every_error_answer_is_marked_x_lltd_problem_with_its_kind() -> None:
    assert MARKER == "X-Lltd-Problem"  # the documented header (docs/guide/serving.md)
    assert problem_response(400, "bad").headers["x-lltd-problem"] == "error"
    assert problem_response(503, "busy", kind="busy").headers["x-lltd-problem"] == "busy"


def test_the_headers_of_a_refusal_are_kept_beside_the_marker() -> None:
    answer = problem_response(415, "no", {"Accept": "image/png"}, kind="error")
    assert answer.headers["accept"] == "image/png"
    assert answer.headers["x-lltd-problem"] == "error"


def test_a_problem_is_an_error_answer_of_kind_error_unless_told() -> None:
    problem = Problem(422, "cannot decode")
    assert (problem.status, problem.message, problem.headers, problem.kind) == (
        422, "cannot decode", {}, "error",
    )  # fmt: skip
    assert str(problem) == "cannot decode"
    answer = response_for(problem)
    assert answer.status_code == 422
    assert json.loads(answer.body) == {"error": "cannot decode", "status": 422}
    assert answer.headers["x-lltd-problem"] == "error"


def test_a_problem_keeps_its_headers_and_kind_in_its_answer() -> None:
    answer = response_for(Problem(429, "slow down", {"Retry-After": "7"}, kind="quota"))
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7" and answer.headers["x-lltd-problem"] == "quota"


@pytest.mark.parametrize("seconds", [1, 30])
def test_busy_is_503_with_retry_after_and_marked_busy(seconds: int) -> None:
    problem = busy("no thread free", retry_after=seconds)
    assert (problem.status, problem.message, problem.kind) == (503, "no thread free", "busy")
    answer = response_for(problem)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(seconds)
    assert answer.headers["x-lltd-problem"] == "busy"
    assert json.loads(answer.body) == {"error": "no thread free", "status": 503}


def test_busy_asks_to_retry_after_one_second_unless_told() -> None:
    assert busy("queue full").headers == {"Retry-After": "1"}
