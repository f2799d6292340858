"""The contracts of lltd/common/exposition.py (issue 27), in-process: the one media type both
``/metrics`` endpoints answer with, and the bytes of Prometheus' text format 0.0.4 it names
(no OpenMetrics ``# EOF``, whatever prometheus_client's own latest format is)."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, Counter, Gauge

from lltd.common.exposition import CONTENT_TYPE, render


def test_the_media_type_is_text_format_0_0_4_in_utf8() -> None:
    # What docs/serving/metrics.md promises, and what Prometheus 2.x parses as the text format.
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_render_writes_a_registry_in_text_format_0_0_4_exactly() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("lltd_test_depth", "Files waiting.", ["queue"], registry=registry)
    gauge.labels(queue="in").set(3)
    gauge.labels(queue="out").set(0.5)
    Gauge("lltd_test_workers", "Workers allowed.", registry=registry).set(2)
    assert render(registry) == (
        b"# HELP lltd_test_depth Files waiting.\n"
        b"# TYPE lltd_test_depth gauge\n"
        b'lltd_test_depth{queue="in"} 3.0\n'
        b'lltd_test_depth{queue="out"} 0.5\n'
        b"# HELP lltd_test_workers Workers allowed.\n"
        b"# TYPE lltd_test_workers gauge\n"
        b"lltd_test_workers 2.0\n"
    )


def test_render_names_counters_with_total_and_renders_only_the_registry_given() -> None:
    registry = CollectorRegistry()
    Counter("lltd_test_files", "Files finished.", registry=registry).inc(4)
    text = render(registry).decode()
    lines = [line for line in text.splitlines() if "_created" not in line]
    assert lines == [
        "# HELP lltd_test_files_total Files finished.",
        "# TYPE lltd_test_files_total counter",
        "lltd_test_files_total 4.0",
    ]
    assert render(CollectorRegistry()) == b""
