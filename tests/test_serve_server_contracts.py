"""How ``lltd serve`` starts uvicorn, in-process: the line it prints, what systemd hears, the
keep-alive's clock, the listening socket, and the options uvicorn gets. uvicorn itself is
replaced only where it would serve (``run``); test_serve*.py run the real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import sys
import types
from pathlib import Path
from typing import ClassVar

import pytest
import uvicorn
from uvicorn.supervisors import Multiprocess

import lltd.serve.server as server_module
from lltd.common.errors import LltdError
from lltd.defense.settings import DefenseSettings
from lltd.serve.protocol import HeaderDeadlineProtocol
from lltd.serve.server import Keepalive, NotifyingServer, NotifyingSupervisor, listen, serve
from lltd.serve.settings import ENVIRONMENT_KEY, ServeSettings
from lltd.watch.notify import Notifier


@pytest.fixture
def systemd(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A datagram socket standing in for systemd's notify socket, and a reader of it."""
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.setblocking(False)

        def heard() -> list[str]:
            messages = []
            while True:
                try:
                    messages.append(sock.recv(4096).decode())
                except BlockingIOError:
                    return messages

        yield str(address), heard


def test_the_listening_line_names_the_address_and_the_settings(
    capsys: pytest.CaptureFixture[str], systemd
) -> None:
    address, heard = systemd
    notifier = Notifier(address)
    settings = ServeSettings(workers=2, threads=3, queue=5, max_inflight_pixels=1000)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server_module._announce([sock], settings, notifier)
    label = DefenseSettings().label()
    assert capsys.readouterr().out == (
        f"lltd serve: listening on http://127.0.0.1:{port} (workers 2, threads 3, queue 5, "
        f"pixels in flight 1000, defense {label})\n"
    )
    assert heard() == [f"READY=1\nSTATUS=listening on 127.0.0.1:{port}"]


def test_the_listening_line_brackets_an_ipv6_address_and_names_the_upstream(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    settings = ServeSettings(
        threads=1, upstream="http://model:8080/v2", upstream_protocol="kserve-v2"
    )
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
        port = sock.getsockname()[1]
        server_module._announce([sock], settings, Notifier(None))
    out = capsys.readouterr().out
    assert out.startswith(f"lltd serve: listening on http://[::1]:{port} (workers 1, threads 1,")
    assert out.endswith(", upstream kserve-v2 http://model:8080/v2)\n")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def test_the_keepalive_feeds_the_watchdog_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, systemd
) -> None:
    address, heard = systemd
    clock = Clock(100.0)
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    notifier = Notifier(address, watchdog_usec=10_000_000)  # WatchdogSec=10: every 5 s
    keepalive = Keepalive(notifier)
    keepalive.tick()
    assert heard() == ["WATCHDOG=1"] and keepalive.last == 100.0
    clock.now = 104.9
    keepalive.tick()
    assert heard() == []
    clock.now = 105.0  # exactly half WatchdogSec after the last: due
    keepalive.tick()
    assert heard() == ["WATCHDOG=1"] and keepalive.last == 105.0


def test_without_a_watchdog_the_keepalive_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, systemd
) -> None:
    address, heard = systemd
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=lambda: 1e6))
    keepalive = Keepalive(Notifier(address))
    keepalive.tick()
    assert heard() == [] and keepalive.last == 0.0


def test_listen_binds_a_reusable_inheritable_socket() -> None:
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0
        assert sock.get_inheritable()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
        assert sock.type == socket.SOCK_STREAM
    finally:
        sock.close()


def test_a_port_taken_is_one_error_line_naming_host_port_and_reason() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LltdError) as refused:
            listen("127.0.0.1", port)
    assert str(refused.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"


class Recorded:
    """Stands in for the uvicorn server or supervisor: records how it was made, then returns."""

    made: ClassVar[list[Recorded]] = []

    def __init__(self, config: uvicorn.Config, *args: object) -> None:
        self.config, self.args = config, args
        self.started = True
        self.environment = dict(os.environ)
        Recorded.made.append(self)

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        self.sockets = sockets
        self.environment = dict(os.environ)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    Recorded.made = []
    for name in (ENVIRONMENT_KEY, "PROMETHEUS_MULTIPROC_DIR", "NOTIFY_SOCKET", "WATCHDOG_USEC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(server_module, "NotifyingServer", Recorded)
    monkeypatch.setattr(server_module, "NotifyingSupervisor", Recorded)
    return Recorded.made


def test_one_worker_runs_uvicorn_with_the_services_options(recorded: list[Recorded]) -> None:
    settings = ServeSettings(host="127.0.0.1", port=0, threads=2, queue=3, max_connections=0)
    assert serve(settings, access_log=True) == 0
    (server,) = recorded
    config, (passed_settings, _notifier) = server.config, server.args
    assert passed_settings is settings
    assert os.environ[ENVIRONMENT_KEY] == settings.to_json()
    assert config.app == "lltd.serve.app:create_app" and config.factory is True
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 0, 1)
    assert config.http is HeaderDeadlineProtocol
    assert config.lifespan == "on" and config.access_log is True
    assert config.use_colors is False and config.server_header is False
    assert config.proxy_headers is False
    assert config.limit_concurrency == settings.connection_limit() == 64
    assert config.timeout_graceful_shutdown == 30
    assert config.log_level == "info"
    assert config.loaded  # the app factory was imported before serving
    (sock,) = server.sockets
    assert sock.fileno() == -1  # closed once uvicorn returned
    assert "PROMETHEUS_MULTIPROC_DIR" not in server.environment


def test_a_server_that_never_started_exits_1(
    recorded: list[Recorded], monkeypatch: pytest.MonkeyPatch
) -> None:
    class NeverStarted(Recorded):
        def run(self, sockets: list[socket.socket] | None = None) -> None:
            self.started = False

    monkeypatch.setattr(server_module, "NotifyingServer", NeverStarted)
    assert serve(ServeSettings(port=0, threads=1)) == 1


@pytest.mark.parametrize(("code", "status"), [(3, 3), (0, 0), ("no", 1), (None, 1)])
def test_uvicorns_exit_becomes_the_exit_status(
    recorded: list[Recorded], monkeypatch: pytest.MonkeyPatch, code: object, status: int
) -> None:
    class Exiting(Recorded):
        def run(self, sockets: list[socket.socket] | None = None) -> None:
            raise SystemExit(code)

    monkeypatch.setattr(server_module, "NotifyingServer", Exiting)
    assert serve(ServeSettings(port=0, threads=1)) == status


def test_several_workers_share_one_listening_socket_and_a_metrics_folder_removed_after(
    recorded: list[Recorded], capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve(ServeSettings(port=0, threads=1, workers=3)) == 0
    (supervisor,) = recorded
    config, (sockets, _notifier) = supervisor.config, supervisor.args
    assert config.workers == 3
    (sock,) = sockets
    assert sock.fileno() == -1
    folder = Path(supervisor.environment["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.name.startswith("lltd-serve-metrics-")
    assert not folder.exists()  # removed when the supervisor returned
    # Announced before the supervisor starts: connections wait in the backlog until a worker.
    assert capsys.readouterr().out.startswith("lltd serve: listening on http://127.0.0.1:")


def test_the_server_tells_systemd_it_is_stopping_before_uvicorn_shuts_down(
    systemd, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, heard = systemd
    order: list[object] = []

    async def shutdown(self: uvicorn.Server, sockets: object = None) -> None:
        order.append(("uvicorn shutdown", sockets, heard()))

    monkeypatch.setattr(uvicorn.Server, "shutdown", shutdown)
    config = uvicorn.Config("lltd.serve.app:create_app", factory=True)
    server = NotifyingServer(config, ServeSettings(threads=1), Notifier(address))
    asyncio.run(server.shutdown(["s"]))  # type: ignore[list-item]
    assert order == [("uvicorn shutdown", ["s"], ["STOPPING=1\nSTATUS=stopping"])]


def test_a_sigterm_stops_the_server_without_being_raised_again_at_its_process() -> None:
    config = uvicorn.Config("lltd.serve.app:create_app", factory=True)
    server = NotifyingServer(config, ServeSettings(threads=1), Notifier(None))
    with server.capture_signals():
        signal.raise_signal(signal.SIGTERM)  # handled by uvicorn: recorded, not fatal
        assert server.should_exit
    # Left the block without uvicorn re-raising the SIGTERM at this process: still here.
    assert server._captured_signals == []


def test_the_listening_line_is_flushed_at_once_for_scripts_reading_the_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Pipe(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.flushed_at: list[str] = []

        def flush(self) -> None:
            self.flushed_at.append(self.getvalue())

    pipe = Pipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server_module._announce([sock], ServeSettings(threads=1), Notifier(None))
    assert pipe.flushed_at and pipe.flushed_at[0].startswith("lltd serve: listening on ")


@pytest.mark.parametrize(
    ("started", "with_sockets", "announced"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_the_server_announces_itself_once_started_on_its_sockets(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    systemd,
    started: bool,
    with_sockets: bool,
    announced: bool,
) -> None:
    address, heard = systemd

    async def startup(self: uvicorn.Server, sockets: object = None) -> None:
        self.started = started

    monkeypatch.setattr(uvicorn.Server, "startup", startup)
    config = uvicorn.Config("lltd.serve.app:create_app", factory=True)
    server = NotifyingServer(config, ServeSettings(threads=4, workers=1), Notifier(address))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        asyncio.run(server.startup([sock] if with_sockets else None))
    out = capsys.readouterr().out
    assert out.startswith("lltd serve: listening on http://127.0.0.1:") is announced
    assert ("(workers 1, threads 4," in out) is announced
    assert bool(heard()) is announced


def test_each_tick_of_the_servers_loop_feeds_the_watchdog(
    monkeypatch: pytest.MonkeyPatch, systemd
) -> None:
    address, heard = systemd

    async def on_tick(self: uvicorn.Server, counter: int) -> bool:
        return counter == 7

    monkeypatch.setattr(uvicorn.Server, "on_tick", on_tick)
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=lambda: 1e6))
    config = uvicorn.Config("lltd.serve.app:create_app", factory=True)
    server = NotifyingServer(config, ServeSettings(threads=1), Notifier(address, 2_000_000))
    assert asyncio.run(server.on_tick(7)) is True  # uvicorn's own answer, passed on
    assert heard() == ["WATCHDOG=1"]


def test_the_supervisors_loop_feeds_the_watchdog(monkeypatch: pytest.MonkeyPatch, systemd) -> None:
    address, heard = systemd
    kept: list[bool] = []
    monkeypatch.setattr(Multiprocess, "keep_subprocess_alive", lambda self: kept.append(True))
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(monotonic=lambda: 1e6))
    handlers = {sig: signal.getsignal(sig) for sig in signal.Signals}  # uvicorn sets its own
    try:
        config = uvicorn.Config("lltd.serve.app:create_app", factory=True, workers=2)
        supervisor = NotifyingSupervisor(config, [], Notifier(address, 2_000_000))
        supervisor.keep_subprocess_alive()
    finally:
        for sig, handler in handlers.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, handler)
    assert kept == [True] and heard() == ["WATCHDOG=1"]


def test_the_access_log_is_off_unless_asked(recorded: list[Recorded]) -> None:
    assert serve(ServeSettings(port=0, threads=1)) == 0
    assert recorded[0].config.access_log is False


def test_two_workers_are_already_the_supervised_many(recorded: list[Recorded]) -> None:
    assert serve(ServeSettings(port=0, threads=1, workers=2)) == 0
    (supervisor,) = recorded
    assert isinstance(supervisor.args[0], list)  # NotifyingSupervisor(config, sockets, ...)
    assert "PROMETHEUS_MULTIPROC_DIR" in supervisor.environment
