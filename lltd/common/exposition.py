"""The one exposition format of lltd's ``/metrics`` (``lltd serve`` and ``lltd watch``).

Prometheus' text format 0.0.4, whatever the scraper's ``Accept`` asks: every Prometheus and
``promtool`` reads it, and lltd's metrics need nothing OpenMetrics-only (no exemplars, no
UTF-8 names). prometheus_client is imported by the caller's module, only when metrics are on.
"""

from __future__ import annotations

from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(registry: Any) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(registry)
