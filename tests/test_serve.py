"""``lltd serve``: real HTTP requests to a real server process on a free loopback port."""

from __future__ import annotations

import io
import re
import signal
import socket
from pathlib import Path

import pytest
from conftest import IMPORT_TIMES, RunLltd, heavy_imports
from PIL import Image
from serve_helpers import file_pixels, json_error, png_pixels, running, start_server, stop
from test_extras import light_python, run_light  # noqa: F401 (the real light venv)
from waiting import wait_for

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def images_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def png_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "options",
    [(), ("-q", "35", "--order", "flip-webp", "--direction", "vertical", "-m", "6")],
    ids=["defaults", "options"],
)
def test_served_pixels_equal_lltd_defend(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd, options: tuple[str, ...]
) -> None:
    out = tmp_path / "defended"
    result = run_lltd("defend", sample_dir, "-o", out, *options)
    assert result.returncode == 0, result.stderr
    inputs = images_under(sample_dir)
    assert len(inputs) >= 8  # PNG, JPEG, gray, RGBA, transparency, a subfolder
    with running(*options) as server:
        for source in inputs:
            media = "image/jpeg" if source.suffix.lower() in (".jpg", ".jpeg") else "image/png"
            status, headers, body = server.defend(source.read_bytes(), media)
            assert status == 200, (source, body[:200])
            assert headers["content-type"] == "image/png"
            expected = out / source.relative_to(sample_dir).with_suffix(".png")
            assert png_pixels(body) == file_pixels(expected), source
            # Accept: image/webp gives the same pixels in lossless WebP.
            status, headers, body = server.defend(
                source.read_bytes(), "application/octet-stream", Accept="image/webp"
            )
            assert status == 200 and headers["content-type"] == "image/webp"
            assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
            assert png_pixels(body) == file_pixels(expected), source
        quality = options[1] if options else "60"
        assert headers["x-lltd-quality"] == quality
        assert headers["x-lltd-flip"] == ("vertical" if options else "horizontal")
        assert headers["x-lltd-order"] == ("flip-webp" if options else "webp-flip")
        assert headers["x-lltd-method"] == ("6" if options else "4")


def test_no_flip_no_webp_headers_and_identity(tmp_path: Path) -> None:
    data = png_bytes()
    with running("--no-flip", "--no-webp") as server:
        status, headers, body = server.defend(data)
    assert status == 200
    assert headers["x-lltd-quality"] == "off" and headers["x-lltd-flip"] == "off"
    assert png_pixels(body) == png_pixels(data)


def served_draw(headers: dict[str, str]) -> dict[str, object]:
    """The drawn settings a response reports, as DefenseSettings fields."""
    quality = headers["x-lltd-quality"]
    return {
        "quality": None if quality == "off" else float(quality),
        "flip": None if headers["x-lltd-flip"] == "off" else headers["x-lltd-flip"],
        "order": headers["x-lltd-order"],
        "method": int(headers["x-lltd-method"]),
    }


def test_randomised_defense_reports_its_draw_and_a_seed_makes_it_repeatable() -> None:
    from lltd.defense.kernel import apply
    from lltd.defense.settings import DefenseSettings, Draw

    data = png_bytes((96, 80))
    image = Image.open(io.BytesIO(data))
    options = ("--quality-range", "0-100", "--direction", "random", "--resize-pad", "0.3")
    seen: set[tuple[object, ...]] = set()
    with running(*options) as server:
        for _ in range(6):
            status, headers, body = server.defend(data)
            assert status == 200
            assert headers["x-lltd-defense"] == "webp q0-100 + flip random + resize-pad 0.3"
            draw = served_draw(headers)
            assert 0 <= draw["quality"] <= 100 and draw["flip"] in ("horizontal", "vertical")
            match = re.fullmatch(r"scale=(\S+); offset=(\S+),(\S+)", headers["x-lltd-resize-pad"])
            assert match, headers
            scale, offset = float(match[1]), (float(match[2]), float(match[3]))
            assert 0.7 <= scale <= 1.0
            # The pixels are the kernel's for exactly the draw the headers report.
            settings = DefenseSettings(quality=60, flip="horizontal")
            fixed = Draw(draw["quality"], draw["flip"], scale, offset)
            assert png_pixels(body) == png_pixels(_png(apply(image, settings, fixed)))
            seen.add((draw["quality"], draw["flip"], scale))
    assert len(seen) > 1  # unseeded: fresh draws (6 identical draws: about 1 in 10^10)
    answers = []
    for _ in range(2):  # two servers, the same seed: the same draw for the same image
        with running(*options, "--seed", "7") as server:
            answers.append([server.defend(data) for _ in range(2)])
    flat = [
        (status, served_draw(h), h["x-lltd-resize-pad"], body)
        for a in answers
        for status, h, body in a
    ]
    assert all(item == flat[0] for item in flat)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_bad_input_gets_one_line_json_errors_and_the_worker_lives(tmp_path: Path) -> None:
    good = png_bytes()
    big = png_bytes((200, 200))
    with running("--max-bytes", "20000", "--max-pixels", "30000") as server:
        pid = server.process.pid
        cases = [
            (b"this is not an image", "image/png", 400, "not a PNG, JPEG or WebP"),
            (good[: len(good) // 2], "image/png", 400, "truncated"),
            (b"", "image/png", 400, "empty body"),
            (good, "text/plain", 415, "content type"),
            (good, "multipart/form-data; boundary=x", 415, "content type"),
            (b"\0" * 20001, "image/png", 413, "--max-bytes"),
            (big, "image/png", 413, "--max-pixels"),
        ]
        gif = io.BytesIO()
        Image.new("RGB", (8, 8)).save(gif, "GIF")
        cases.append((gif.getvalue(), "application/octet-stream", 400, "not a PNG, JPEG or WebP"))
        for body, media, expected_status, needle in cases:
            status, headers, answer = server.defend(body, media)
            assert status == expected_status, (needle, answer)
            assert headers["content-type"] == "application/json"
            assert needle in json_error(answer)["error"]
        # A chunked body (no Content-Length) over the limit is cut off as it arrives.
        conn = server.connection()
        conn.putrequest("POST", "/v1/defend")
        conn.putheader("Content-Type", "image/png")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"\0" * 8192
        try:
            for _ in range(4):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass  # the server may answer and close before the rest is sent
        answer = conn.getresponse()
        assert answer.status == 413 and "--max-bytes" in json_error(answer.read())["error"]
        conn.close()
        # Unknown routes and methods are JSON too; the same worker still answers.
        status, headers, body = server.request("GET", "/v1/defend")
        assert status == 405 and "POST" in headers["allow"] and json_error(body)
        status, _, body = server.request("GET", "/v2/nothing")
        assert status == 404 and json_error(body)
        status, _, body = server.request("GET", "/healthz")
        assert status == 200 and server.process.pid == pid and server.process.poll() is None
        status, _, body = server.defend(good)
        assert status == 200


def refused(port: int) -> bool:
    """True once nothing listens on the port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


def raw_connection(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:length]


def test_slow_clients_get_408_and_others_are_served(tmp_path: Path) -> None:
    with running("--read-timeout", "1") as server:
        # Slowloris: headers that never end.
        slow_head = raw_connection(server.port)
        slow_head.sendall(b"POST /v1/defend HTTP/1.1\r\nHost: x\r\n")
        # A body that never completes.
        slow_body = raw_connection(server.port)
        slow_body.sendall(
            b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 1000\r\n\r\n" + b"\x89PNG"
        )
        # Meanwhile a normal client is served.
        status, _, _ = server.defend(png_bytes())
        assert status == 200
        for sock, needle in ((slow_head, "headers"), (slow_body, "body")):
            status, _, body = read_answer(sock)
            assert status == 408, body
            assert needle in json_error(body)["error"]
            assert sock.recv(1) == b""  # and the connection is closed
            sock.close()
        status, _, _ = server.request("GET", "/healthz")
        assert status == 200


def test_too_many_connections_get_503_json_and_service_returns(tmp_path: Path) -> None:
    with running("--max-connections", "8", "--read-timeout", "60") as server:
        idle = [raw_connection(server.port) for _ in range(8)]
        try:
            answers = []

            def limited() -> bool:  # once the server has accepted them all
                answers.append(server.request("GET", "/healthz"))
                return answers[-1][0] == 503

            wait_for(limited, "the connection limit")
            _, headers, body = answers[-1]
            assert headers["retry-after"] == "1"
            assert "too many connections" in json_error(body)["error"]
        finally:
            for sock in idle:
                sock.close()
        wait_for(lambda: server.request("GET", "/healthz")[0] == 200, "the service to return")
        assert server.defend(png_bytes())[0] == 200


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        base, _, label_text = key.partition("{")
        got = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if base == name and got == wanted:
            return float(value)
    raise AssertionError(f"{name}{labels} not in metrics:\n{text}")


def test_metrics_count_requests_stages_and_bytes(tmp_path: Path) -> None:
    data = png_bytes()
    sent = 0
    with running() as server:
        for _ in range(3):
            status, _, answer = server.defend(data)
            assert status == 200
            sent += len(answer)
        status, _, answer = server.defend(b"junk")
        assert status == 400
        sent += len(answer)
        status, headers, body = server.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert metric(text, "lltd_serve_requests_total", route="/v1/defend", status="200") == 3
    assert metric(text, "lltd_serve_requests_total", route="/v1/defend", status="400") == 1
    for stage in ("decode", "defend", "encode"):
        assert metric(text, "lltd_serve_stage_seconds_count", stage=stage) == 3
    assert metric(text, "lltd_serve_stage_seconds_count", stage="upstream") == 0
    assert metric(text, "lltd_serve_request_seconds_count", route="/v1/defend") == 4
    assert metric(text, "lltd_serve_received_bytes_total") == 3 * len(data) + len(b"junk")
    assert metric(text, "lltd_serve_sent_bytes_total") == sent  # before this scrape
    assert metric(text, "lltd_serve_in_flight_requests") == 1  # this scrape


def test_two_worker_processes_share_the_port_and_the_metrics(tmp_path: Path) -> None:
    data = png_bytes()
    with running("--workers", "2") as server:
        for _ in range(6):
            assert server.defend(data)[0] == 200

        def answered() -> float:
            # A request is counted once its answer has gone out, so a scrape right after the
            # sixth answer may come first: wait for the count, then check it is exactly 6.
            text = server.request("GET", "/metrics")[2].decode()
            if "lltd_serve_requests_total{" not in text:
                return 0.0
            return metric(text, "lltd_serve_requests_total", route="/v1/defend", status="200")

        wait_for(lambda: answered() >= 6, "six answered requests in /metrics", timeout=30)
        assert answered() == 6


def test_serve_starts_without_torch_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server, line = start_server(env=IMPORT_TIMES)
    try:
        assert "threads" in line and "defense webp q60 + flip" in line
        assert server.request("GET", "/healthz")[0] == 200
    finally:
        code, err = stop(server.process, server.stderr_file)
    assert code == 0, err
    assert not heavy_imports(err)
    assert "lltd.serve.kernel" in err  # the request path was loaded, and measured


def test_usage_errors_and_a_taken_port_are_one_line(run_lltd: RunLltd) -> None:
    for args, needle in [
        (("--direction", "diagonal"), "--direction"),
        (("--upstream", "ftp://x"), "--upstream"),
        (("--upstream-protocol", "grpc"), "--upstream-protocol"),
    ]:
        result = run_lltd("serve", *args, timeout=60)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr and needle in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_lltd("serve", "--port", str(port), timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"lltd: error: cannot listen on 127.0.0.1:{port}" in result.stderr


def test_light_install_names_the_serve_extra(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    python = request.getfixturevalue("light_python")  # imported from test_extras above
    result = run_light(python, tmp_path, "-m", "lltd", "serve", "--port", "0")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lltd: error: lltd serve needs the 'serve'")
    assert "'.[serve]'" in lines[0]


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    data = png_bytes()
    server, _ = start_server("--read-timeout", "60")
    try:
        sock = raw_connection(server.port)
        sock.sendall(
            b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: %d\r\n\r\n" % len(data) + data[:10]
        )
        wait_for(  # the request is admitted
            lambda: b"lltd_serve_in_flight_requests 2.0" in server.request("GET", "/metrics")[2],
            "the held request to be in flight",
        )
        server.process.send_signal(signal.SIGTERM)
        # Shutting down, it stops listening first: the SIGTERM has been handled once a new
        # connection is refused, and the process must still be there for the request in flight.
        wait_for(lambda: refused(server.port), "the listening socket to close after SIGTERM")
        assert server.process.poll() is None  # still finishing the request in flight
        sock.sendall(data[10:])
        status, _, body = read_answer(sock)
        assert status == 200 and png_pixels(body)
        sock.close()
        assert server.process.wait(30) == 0
    finally:
        code, err = stop(server.process, server.stderr_file)
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
        b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
        b"Content-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ],
    ids=["two Content-Lengths", "negative Content-Length", "no colon"],
)
def test_a_request_http_cannot_parse_gets_the_same_json_error_and_the_worker_lives(
    request_bytes: bytes,
) -> None:
    with running() as server:
        sock = raw_connection(server.port)
        try:
            sock.sendall(request_bytes)
            status, headers, body = read_answer(sock)
        finally:
            sock.close()
        assert status == 400
        assert headers["content-type"] == "application/json"
        assert headers["x-lltd-problem"] == "error"
        assert json_error(body)["error"] == "malformed HTTP request"
        assert server.request("GET", "/healthz")[0] == 200


def test_a_request_with_both_content_length_and_chunked_is_answered_then_closed() -> None:
    """RFC 9112, 6.1: the bytes after such a request may be smuggled; none of them is served."""
    with running() as server:
        sock = raw_connection(server.port)
        try:
            sock.sendall(
                b"POST /v1/defend HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            status, headers, body = read_answer(sock)
            rest = b""
            while chunk := sock.recv(65536):
                rest += chunk
        finally:
            sock.close()
        assert status == 400 and json_error(body)
        assert headers["connection"] == "close"
        assert rest == b""  # the smuggled GET got no answer
        assert server.request("GET", "/healthz")[0] == 200
