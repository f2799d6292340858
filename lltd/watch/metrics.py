"""``--metrics-port``: the daemon's counters as Prometheus metrics (the official
``prometheus_client``, imported only when asked for).

Everything but the latency histogram is read from :class:`~lltd.watch.status.Counters` at
scrape time, so the metrics, ``STATUS=`` and the status file can never disagree.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lltd.common.errors import UsageError
from lltd.common.exposition import CONTENT_TYPE, render
from lltd.watch.status import Counters

#: Close-to-output latency buckets (s): a small image takes tens of ms, a backlog file minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


def parse_address(text: str) -> tuple[str, int]:
    """``PORT`` (on 127.0.0.1) or ``HOST:PORT``."""
    host, _, port = text.rpartition(":")
    # isdigit() alone takes "²", which int() refuses with a traceback.
    if not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise UsageError(f"metrics port must be PORT or HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def start_metrics(
    address: str, counters: Counters, workers: int, busy: Callable[[], int]
) -> Metrics:
    host, port = parse_address(address)
    metrics = Metrics(counters, workers, busy)
    metrics.serve(host, port)
    return metrics


class Metrics:
    def __init__(self, counters: Counters, workers: int, busy: Callable[[], int]) -> None:
        try:
            from prometheus_client import CollectorRegistry, Histogram
        except ModuleNotFoundError:
            raise UsageError(
                "--metrics-port needs prometheus_client: pip install 'lltd[metrics]'"
            ) from None
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "lltd_watch_latency_seconds",
            "From the input's last write (its close) to its output in place.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_CountersCollector(counters, workers, busy))
        self._server: Any = None
        self.url = ""

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on a thread; return the port (the chosen one for port 0)."""
        try:
            self._server = _MetricsServer((host, port), self.registry)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        threading.Thread(
            target=self._server.serve_forever, name="lltd-metrics", daemon=True
        ).start()
        port = int(self._server.server_address[1])
        self.url = f"http://{host}:{port}/metrics"
        return port

    def observe_latency(self, seconds: float) -> None:
        self.latency.observe(max(0.0, seconds))

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.shutdown()
                self._server.server_close()
            self._server = None


class _CountersCollector:
    def __init__(self, counters: Counters, workers: int, busy: Callable[[], int]) -> None:
        self.counters = counters
        self.workers = workers
        self.busy = busy

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        c = self.counters
        files = CounterMetricFamily(
            "lltd_watch_files", "Files finished, by outcome.", labels=["outcome"]
        )
        for outcome, count in sorted(c.outcomes().items()):
            files.add_metric([outcome], count)
        yield files
        yield CounterMetricFamily("lltd_watch_rescans", "Whole-folder rescans.", value=c.rescans)
        yield CounterMetricFamily(
            "lltd_watch_overflows",
            "Kernel event queue overflows (each followed by a rescan).",
            value=c.overflows,
        )
        yield GaugeMetricFamily("lltd_watch_queue_depth", "Files waiting.", value=c.queued)
        yield GaugeMetricFamily("lltd_watch_settling", "Files settling.", value=c.settling)
        yield GaugeMetricFamily(
            "lltd_watch_workers_busy",
            "Workers on a file now.",
            value=min(self.busy(), self.workers),
        )
        yield GaugeMetricFamily(
            "lltd_watch_workers", "Worker processes allowed.", value=self.workers
        )


class _MetricsServer(ThreadingHTTPServer):
    """prometheus_client's own server answers OpenMetrics to a scraper that asks for it; this one
    answers every path with the one format of :mod:`lltd.common.exposition`, as ``lltd serve``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], registry: Any) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.registry = registry
        super().__init__(address, _MetricsHandler)


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _MetricsServer

    def do_GET(self) -> None:
        body = render(self.server.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news
