"""lltd.serve.headers, per RFC 9110: which headers pass between client, lltd and the model server
(section 7.6.1: hop-by-hop ones never, nor those ``Connection`` names), and whether an answer's
``Content-Encoding`` may go as it is to a client with this ``Accept-Encoding`` (section 12.5.3:
names case-insensitive, q-values, ``*``, identity acceptable unless refused)."""

from __future__ import annotations

import pytest

from lltd.serve.headers import (
    HOP_BY_HOP,
    NOT_PASSED_BACK,
    TRACE,
    acceptable,
    accepted_codings,
    end_to_end,
)


def test_the_request_id_and_w3c_trace_context_pass_and_lltd_sets_its_own_length_date_server() -> (
    None
):
    assert TRACE == ("x-request-id", "traceparent", "tracestate")
    assert frozenset({"content-length", "date", "server"}) == NOT_PASSED_BACK


def test_hop_by_hop_headers_are_the_rfcs_and_never_pass_whatever_their_case() -> None:
    assert {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    } == HOP_BY_HOP  # fmt: skip
    sent = [(name.title(), "v") for name in sorted(HOP_BY_HOP)] + [("X-Request-Id", "r1")]
    assert end_to_end(sent) == [("x-request-id", "r1")]


def test_headers_connection_names_stay_on_that_connection_and_the_rest_pass_in_order() -> None:
    sent = [
        ("Content-Type", "image/png"),
        ("Connection", " X-Secret ,keep-alive,  Foo"),
        ("x-secret", "s"),
        ("FOO", "f"),
        ("traceparent", "00-abc-01"),
        ("Accept", "image/webp"),
    ]
    assert end_to_end(sent) == [
        ("content-type", "image/png"),
        ("traceparent", "00-abc-01"),
        ("accept", "image/webp"),
    ]


@pytest.mark.parametrize(
    ("header", "codings"),
    [
        (None, {"identity": 1.0}),  # nothing said: the body as it is
        ("", {}),
        (" , ,", {}),
        ("gzip", {"gzip": 1.0}),
        (", gzip;q=0.5", {"gzip": 0.5}),  # an empty item is skipped, not the end
        ("GZip;Q=0.5, br;q=0, *;q=0.1, identity",
         {"gzip": 0.5, "br": 0.0, "*": 0.1, "identity": 1.0}),
        ("gzip;level=9", {"gzip": 1.0}),  # a parameter other than q changes nothing
        ("gzip; q = 0.25 ", {"gzip": 0.25}),
        ("gzip;q=high", {"gzip": 0.0}),  # an unreadable q refuses rather than accepts
    ],
)  # fmt: skip
def test_accept_encoding_reads_as_codings_and_their_q_values(header, codings) -> None:
    assert accepted_codings(header) == codings


@pytest.mark.parametrize(
    ("encoding", "accept", "ok"),
    [
        (None, None, True),
        (None, "gzip", True),  # identity is acceptable unless refused
        ("identity", "br", True),
        (None, "identity;q=0", False),
        ("gzip", None, False),  # a client that says nothing gets no compressed body
        ("gzip", "gzip", True),
        ("GZIP", "gzip", True),
        ("x-gzip", "gzip", True),
        ("x-compress", "compress", True),
        ("gzip", "*", True),
        ("gzip", "*;q=0", False),
        ("gzip", "br, *;q=0", False),
        ("gzip", "gzip;q=0", False),
        ("gzip", "gzip;q=0.001", True),
        ("gzip, br", "gzip", False),  # every coding applied must be acceptable
        ("gzip, br", "gzip, br", True),
        ("gzip, identity", "gzip", True),
        ("gzip,", "gzip", True),
        (", br", "gzip", False),  # an empty coding is skipped, not the end
        ("identity, br", "gzip", False),
    ],
)  # fmt: skip
def test_an_encoded_answer_goes_as_it_is_only_to_a_client_that_accepts_each_coding(
    encoding, accept, ok: bool
) -> None:
    assert acceptable(encoding, accept) is ok
