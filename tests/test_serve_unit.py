"""``lltd serve`` under systemd, short of booting one (tests/system does that): the unit's
hardening as systemd-analyze rates it, and the sd_notify protocol on a real datagram socket."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

import pytest
from conftest import REPO, systemd_exposure
from serve_helpers import start_server, stop

UNIT = REPO / "systemd" / "lltd-serve@.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_unit_exposure_is_at_most_2_5_and_the_docs_say_what_it_is() -> None:
    measured = systemd_exposure(str(UNIT.relative_to(REPO)))
    assert float(measured) <= 2.5
    page = REPO / "docs" / "operations" / "systemd.md"
    text = " ".join(page.read_text(encoding="utf-8").split())
    claimed = re.search(r"lltd-serve@\.service` \(systemd \d+\) rates it (\d+\.\d+)", text)
    assert claimed and claimed[1] == measured


def test_unit_runs_lltd_serve_as_notify_with_a_watchdog() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=/usr/bin/env lltd serve --port %i $LLTD_SERVE_OPTIONS",
        "RestartPreventExitStatus=2",
    ):
        assert line in text.splitlines()
    assert re.search(r"^WatchdogSec=\d+$", text, re.M)


def datagrams(sock: socket.socket, until: str, limit: int = 50) -> list[str]:
    seen: list[str] = []
    for _ in range(limit):
        message = sock.recv(4096).decode()
        seen.append(message)
        if until in message:
            return seen
    raise AssertionError(f"no {until} in {seen}")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ready_watchdog_and_stopping_reach_the_notify_socket(tmp_path: Path, workers: str) -> None:
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(60)
        env = {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "200000"}
        server, _ = start_server("--workers", workers, env=env)
        try:
            seen = datagrams(sock, "READY=1")
            ready = next(m for m in seen if "READY=1" in m)
            assert f"STATUS=listening on 127.0.0.1:{server.port}" in ready
            assert server.request("GET", "/readyz")[0] == 200
            datagrams(sock, "WATCHDOG=1")
            datagrams(sock, "WATCHDOG=1")  # again: keep-alives keep coming
        finally:
            code, err = stop(server.process, server.stderr_file)
        assert code == 0, err
        if workers == "1":
            datagrams(sock, "STOPPING=1")
