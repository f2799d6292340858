"""Run the service: uvicorn, its worker processes, readiness for systemd (``Type=notify``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Generator

import uvicorn
from uvicorn.supervisors import Multiprocess

from lltd.common.errors import LltdError
from lltd.serve.settings import ENVIRONMENT_KEY, ServeSettings
from lltd.watch.notify import Notifier


def _announce(sockets: list[socket.socket], settings: ServeSettings, notifier: Notifier) -> None:
    host, port = sockets[0].getsockname()[:2]
    address = f"[{host}]" if ":" in host else host
    # stdout, flushed: tests and scripts read the real port from this line (--port 0).
    print(
        f"lltd serve: listening on http://{address}:{port} "
        f"(workers {settings.workers}, threads {settings.thread_count()}, "
        f"queue {settings.queue_size()}, pixels in flight {settings.max_inflight_pixels}, "
        f"defense {settings.defense.label()}"
        + (
            f", upstream {settings.upstream_protocol} {settings.upstream}"
            if settings.upstream
            else ""
        )
        + ")",
        flush=True,
    )
    notifier.ready(f"listening on {address}:{port}")


class Keepalive:
    """``WATCHDOG=1`` every half ``WatchdogSec=``, from the loop whose liveness it vouches for."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.last = 0.0

    def tick(self) -> None:
        interval = self.notifier.watchdog_interval
        if interval is not None and time.monotonic() - self.last >= interval:
            self.last = time.monotonic()
            self.notifier.watchdog()


class NotifyingServer(uvicorn.Server):
    """A single-process server that says when it listens (stdout and sd_notify) and keeps
    systemd's watchdog fed from its event loop (a blocked loop stops the keep-alives)."""

    def __init__(self, config: uvicorn.Config, settings: ServeSettings, notifier: Notifier):
        super().__init__(config)
        self.settings = settings
        self.notifier = notifier
        self.keepalive = Keepalive(notifier)

    async def on_tick(self, counter: int) -> bool:
        self.keepalive.tick()
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            _announce(sockets, self.settings, self.notifier)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            # uvicorn re-raises the SIGTERM it handled; a clean stop exits 0 instead.
            self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.notifier.stopping("stopping")
        await super().shutdown(sockets)


class NotifyingSupervisor(Multiprocess):
    """uvicorn's worker supervisor (it restarts a worker that dies or stops answering its
    health check), feeding systemd's watchdog from its loop."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], notifier: Notifier):
        super().__init__(config, sockets)
        self.keepalive = Keepalive(notifier)

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self.keepalive.tick()


def listen(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, so a taken port is one ``lltd: error`` line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise LltdError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)  # uvicorn's worker processes share it
    return sock


def serve(settings: ServeSettings, *, access_log: bool = False) -> int:
    """Serve until SIGTERM/SIGINT; the exit status."""
    from lltd.serve.protocol import HeaderDeadlineProtocol

    os.environ[ENVIRONMENT_KEY] = settings.to_json()  # read by the app and protocol of every worker
    metrics_dir = None
    if settings.workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="lltd-serve-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # Taken out of the environment: only this process speaks to systemd, never a worker.
    notifier = Notifier.from_environment()
    config = uvicorn.Config(
        "lltd.serve.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=HeaderDeadlineProtocol,
        lifespan="on",
        access_log=access_log,
        use_colors=False,
        server_header=False,
        proxy_headers=False,
        # A backstop above the service's own admission, against a flood of connections (each
        # costs buffers even while idle); beyond it a request gets 503 (lltd.serve.protocol).
        limit_concurrency=settings.connection_limit(),
        timeout_graceful_shutdown=30,
        log_level="info",
    )
    sock = listen(settings.host, settings.port)
    try:
        if settings.workers > 1:
            sock.listen(config.backlog)
            # Connections wait in the backlog from here on until a worker takes them: ready.
            _announce([sock], settings, notifier)
            NotifyingSupervisor(config, [sock], notifier).run()
            return 0
        config.load()
        server = NotifyingServer(config, settings, notifier)
        server.run(sockets=[sock])
        return 0 if server.started else 1
    except SystemExit as exc:  # uvicorn exits on a port it cannot bind
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sock.close()
        notifier.close()
        if metrics_dir:
            with contextlib.suppress(OSError):
                shutil.rmtree(metrics_dir)
        sys.stdout.flush()
