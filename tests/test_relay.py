"""lltd.common.relay: a child's messages reach our stderr with the temporary names it saw
replaced by the names the user gave, never cut in two at a read's edge, and the bytes received
are returned as they came."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lltd.common.relay import _CHUNK, relay

TEMP, SHOWN = "/out/.a.webp.1f2e.lltd-tmp", "/out/a.webp"


def _relay(tmp_path: Path, data: bytes, names: dict[str, str]) -> tuple[bytes, bytes]:
    """relay() from a regular file (each read is exactly a chunk, so where a read ends is
    known) into another; returns (what it returned, what it wrote)."""
    source, sink = tmp_path / "child.err", tmp_path / "our.err"
    source.write_bytes(data)
    reader = os.open(source, os.O_RDONLY)
    writer = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        received = relay(reader, names, writer)
    finally:
        os.close(reader)
        os.close(writer)
    return received, sink.read_bytes()


def test_each_name_seen_is_shown_as_the_user_gave_it_and_the_bytes_come_back_as_received(
    tmp_path: Path,
) -> None:
    data = f"Saving file '{TEMP}'\nFile:      in.png\rdone {TEMP}".encode()
    received, shown = _relay(tmp_path, data, {TEMP: SHOWN, "in.png": "my photo.png", "": "x"})
    assert received == data
    assert shown == f"Saving file '{SHOWN}'\nFile:      my photo.png\rdone {SHOWN}".encode()


def test_a_name_across_a_reads_edge_is_still_replaced(tmp_path: Path) -> None:
    for at in (_CHUNK - 5, _CHUNK - 1, _CHUNK, 2 * _CHUNK - 10):  # where the name starts
        line = b"x" * (at - 1) + b"\n" + TEMP.encode() + b" written\n" + b"y" * 100
        received, shown = _relay(tmp_path, line, {TEMP: SHOWN})
        assert received == line
        assert shown == line.replace(TEMP.encode(), SHOWN.encode()), at


def test_nothing_to_relay_writes_nothing(tmp_path: Path) -> None:
    assert _relay(tmp_path, b"", {TEMP: SHOWN}) == (b"", b"")


def test_by_default_the_messages_go_to_stderr(tmp_path: Path, capfdbinary) -> None:
    source = tmp_path / "child.err"
    source.write_bytes(f"{TEMP}\n".encode())
    reader = os.open(source, os.O_RDONLY)
    try:
        relay(reader, {TEMP: SHOWN})
    finally:
        os.close(reader)
    assert capfdbinary.readouterr().err == f"{SHOWN}\n".encode()


@pytest.mark.parametrize("end", [b"\n", b"\r"])
def test_each_line_is_passed_on_as_soon_as_it_is_complete(tmp_path: Path, end: bytes) -> None:
    """A line (or cwebp's \\r progress) shows while the child still runs, not at its end."""
    reader, child = os.pipe()
    sink = tmp_path / "our.err"
    writer = os.open(sink, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    relaying = threading.Thread(target=relay, args=(reader, {TEMP: SHOWN}, writer))
    relaying.start()
    try:
        os.write(child, b"Saving " + TEMP.encode() + end + b"half a li")
        deadline = time.monotonic() + 30  # a bound a passing test never reaches
        while sink.read_bytes() != b"Saving " + SHOWN.encode() + end:
            assert time.monotonic() < deadline, sink.read_bytes()
            time.sleep(0.01)
    finally:
        os.write(child, b"ne\n")
        os.close(child)
        relaying.join()
        os.close(reader)
        os.close(writer)
    assert sink.read_bytes() == b"Saving " + SHOWN.encode() + end + b"half a line\n"
