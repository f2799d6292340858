"""What ``POST /v1/defend`` takes, per the RFCs and exactly at its limits (lltd.serve.intake),
in-process on real ASGI requests: media types are case-insensitive and carry parameters
(RFC 9110 8.3.1), Accept's q-values weigh 0 to 1 with up to three decimals (RFC 9110 12.4.2), and a
body of exactly ``--max-bytes`` is taken whether its length is declared or it comes chunked."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("starlette", reason="lltd serve needs the [serve] extra")

from starlette.requests import Request

from lltd.serve.admission import Admission
from lltd.serve.intake import ACCEPTED_TYPES, check_content_type, read_body, wants_webp
from lltd.serve.problems import Problem

LIMIT = 1000


def request(headers: dict[str, str], chunks: list[bytes] | None = None) -> Request:
    """A request whose body arrives as ``chunks`` (one ASGI message each)."""
    chunks = chunks or [b""]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/defend",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive)


def body(headers: dict[str, str], chunks: list[bytes], timeout: float = 60.0) -> bytes:
    return asyncio.run(read_body(request(headers, chunks), LIMIT, timeout))


def status_of(call, message: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """The refusal's status; its message must be ``message`` exactly when given."""
    with pytest.raises(Problem) as raised:
        call()
    if message is not None:
        assert raised.value.message == message
    return raised.value.status


@pytest.mark.parametrize(
    "declared",
    ["image/png", "Image/PNG", "IMAGE/JPEG", "image/WebP", "application/octet-stream",
     "image/png; charset=binary", "image/png ;q=1", "  image/jpeg  ",
     "application/x-www-form-urlencoded"],  # curl --data-binary's default
)  # fmt: skip
def test_media_types_are_accepted_whatever_their_case_and_parameters(declared: str) -> None:
    check_content_type(request({"Content-Type": declared}))


def test_a_request_without_a_content_type_is_accepted_the_bytes_decide() -> None:
    check_content_type(request({}))


@pytest.mark.parametrize("declared", ["text/plain", "image/gif", "image/pngx", "image", ""])
def test_other_media_types_are_refused_with_415_naming_them(declared: str) -> None:
    with pytest.raises(Problem) as raised:
        check_content_type(request({"Content-Type": declared}))
    assert raised.value.status == 415
    assert raised.value.message == (
        f"content type {declared.lower() or '(empty)'!r} is not one of {', '.join(ACCEPTED_TYPES)}"
    )
    assert ACCEPTED_TYPES[:4] == (
        "image/png",
        "image/jpeg",
        "image/webp",
        "application/octet-stream",
    )


@pytest.mark.parametrize(
    ("accept", "webp"),
    [
        ("image/webp", True),
        ("Image/WEBP", True),
        ("image/png, image/webp;q=0.5", True),
        ("image/webp; q=0.001", True),
        ("image/webp;q=1", True),
        ("image/webp;level=1", True),
        ("image/webp;q=0", False),
        ("image/webp; Q=0", False),
        ("image/webp;q=0.0", False),
        ("image/webp;q=0.00", False),
        ("image/webp;q=0.000", False),
        ("image/webp; q = 0", False),
        ("image/webp;q=zero", True),  # unreadable: as if absent
        ("image/png", False),
        ("*/*", False),
        ("image/*", False),
        ("", False),
        ("image/webpx", False),
    ],
)
def test_accept_asks_for_webp_only_with_a_q_value_above_zero(accept: str, webp: bool) -> None:
    assert wants_webp(request({"Accept": accept})) is webp


def test_no_accept_header_means_png() -> None:
    assert wants_webp(request({})) is False


def test_a_body_of_exactly_max_bytes_is_taken_with_a_content_length() -> None:
    data = bytes(range(256)) * 3 + bytes(LIMIT - 768)
    assert body({"Content-Length": str(LIMIT)}, [data[:400], data[400:]]) == data


def test_a_body_of_exactly_max_bytes_is_taken_chunked() -> None:
    data = b"x" * LIMIT
    assert body({"Transfer-Encoding": "chunked"}, [data[:1], data[1:999], data[999:]]) == data


def test_one_byte_over_max_bytes_is_refused_with_413_declared_or_chunked() -> None:
    assert status_of(lambda: body({"Content-Length": str(LIMIT + 1)}, [b"x" * (LIMIT + 1)])) == 413
    over = [b"x" * 600, b"x" * (LIMIT + 1 - 600)]
    message = f"body exceeds the limit of {LIMIT} bytes (--max-bytes)"
    assert status_of(lambda: body({"Transfer-Encoding": "chunked"}, over), message) == 413


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read() -> None:
    def never() -> dict:
        raise AssertionError("the body was read")

    async def go() -> None:
        scope = {"type": "http", "method": "POST", "path": "/", "headers": [
            (b"content-length", str(LIMIT + 1).encode())]}  # fmt: skip
        await read_body(Request(scope, never), LIMIT, 60.0)  # type: ignore[arg-type]

    with pytest.raises(Problem) as raised:
        asyncio.run(go())
    assert raised.value.status == 413
    assert (
        raised.value.message
        == f"body of {LIMIT + 1} bytes exceeds the limit of {LIMIT} (--max-bytes)"
    )


@pytest.mark.parametrize("declared", ["-1", "1e3", "ten", "0x10", ""])
def test_an_invalid_content_length_is_refused_with_400(declared: str) -> None:
    message = f"invalid Content-Length {declared!r}"
    assert status_of(lambda: body({"Content-Length": declared}, [b""]), message) == 400


def test_an_empty_body_is_read_as_empty() -> None:
    assert body({"Content-Length": "0"}, [b""]) == b""


def test_a_client_that_leaves_mid_body_gets_400() -> None:
    async def go() -> None:
        messages = [{"type": "http.request", "body": b"abc", "more_body": True}]

        async def receive() -> dict:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await read_body(Request(scope, receive), LIMIT, 60.0)

    with pytest.raises(Problem) as raised:
        asyncio.run(go())
    assert raised.value.status == 400
    assert raised.value.message == "client disconnected before the body was complete"


def test_a_body_that_does_not_arrive_in_time_is_refused_with_408_and_closes() -> None:
    async def go() -> None:
        async def receive() -> dict:
            await asyncio.Event().wait()  # never
            return {}

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await read_body(Request(scope, receive), LIMIT, 0.01)

    with pytest.raises(Problem) as raised:
        asyncio.run(go())
    assert raised.value.status == 408
    assert raised.value.headers == {"Connection": "close"}
    assert raised.value.message == "request body not received within 0.01 s"


@pytest.mark.parametrize("threads", [1, 3])
def test_admission_takes_exactly_its_threads_then_queues_then_answers_503(threads: int) -> None:
    async def go() -> None:
        admission = Admission(threads, pixels=100 * threads, queue=1, timeout=60.0)
        held = [admission.admit(100) for _ in range(threads)]
        for slot in held:
            await slot.__aenter__()
        assert admission.threads_busy == threads and admission.pixels_in_flight == 100 * threads
        queued = asyncio.create_task(admission.admit(1).__aenter__())
        await asyncio.sleep(0)
        assert admission.waiting == 1 and admission.full
        with pytest.raises(Problem) as raised:
            async with admission.admit(1):
                pass
        assert raised.value.status == 503 and raised.value.headers == {"Retry-After": "1"}
        assert raised.value.kind == "busy"
        await held[0].__aexit__(None, None, None)  # a thread and its pixels come back
        await queued
        assert admission.waiting == 0 and not admission.full
        assert (
            admission.threads_busy == threads and admission.pixels_in_flight == 100 * threads - 99
        )

    asyncio.run(go())
