"""Prometheus metrics (the official ``prometheus_client``), exposed at ``GET /metrics``.

With ``--workers`` > 1 each worker process writes its values to files in
``$PROMETHEUS_MULTIPROC_DIR`` (set by the server before the workers start) and ``/metrics``
sums them over all workers, as prometheus_client's multiprocess mode does.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lltd.common.exposition import CONTENT_TYPE, render

# Per-stage times of a 299x299 image are a few ms; a whole request can wait in the queue.
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STAGES = ("decode", "defend", "encode", "upstream")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    def __init__(self) -> None:
        # In multiprocess mode the values live in files; the registry is built per scrape.
        self.registry: CollectorRegistry | None = None if multiprocess() else CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "lltd_serve_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "lltd_serve_request_seconds",
            "Time from a request's start to its answer, by route.",
            ["route"],
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self.stage_seconds = Histogram(
            "lltd_serve_stage_seconds",
            "Time of each step of POST /v1/defend: decode, defend, encode, upstream.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=reg,
        )
        self.in_flight = Gauge(
            "lltd_serve_in_flight_requests",
            "Requests being processed now (all routes).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.admitted_pixels = Gauge(
            "lltd_serve_admitted_pixels",
            "Decoded pixels of the requests admitted now (--max-inflight-pixels bounds them).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.body_bytes = Gauge(
            "lltd_serve_body_bytes",
            "Bytes of request bodies in memory now (--max-inflight-bytes bounds them).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.waiting_requests = Gauge(
            "lltd_serve_waiting_requests",
            "Requests whose body is read, waiting for a thread and their pixels (--queue).",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.bytes_in = Counter(
            "lltd_serve_received_bytes", "Request body bytes received.", registry=reg
        )
        self.bytes_out = Counter("lltd_serve_sent_bytes", "Response body bytes sent.", registry=reg)
        for stage in STAGES:  # present (at zero) from the first scrape on
            self.stage_seconds.labels(stage)

    def exposition(self) -> tuple[bytes, str]:
        if self.registry is not None:
            return render(self.registry), CONTENT_TYPE
        from prometheus_client import multiprocess as mp

        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)
        return render(registry), CONTENT_TYPE
