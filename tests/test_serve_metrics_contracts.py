"""The contracts of lltd/serve/metrics.py (issue 27), in-process: what ``GET /metrics`` of
``lltd serve`` exposes (each family's name, type, help and labels, the fixed histogram
buckets a dashboard's ``le`` relies on, every stage at zero from the first scrape), one
registry per service, and with ``PROMETHEUS_MULTIPROC_DIR`` the values summed over workers.

Expected values are literals, never the module's own constants: a changed bucket or name
must fail here, not follow along."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from lltd.serve.metrics import Metrics, multiprocess

TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
STAGE_LE = [
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
]  # fmt: skip
REQUEST_LE = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf",
]  # fmt: skip


@pytest.fixture
def one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lltd serve`` with one worker: no multiprocess directory, plain in-memory values."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(values, "ValueClass", values.MutexValue)


def scrape(metrics: Metrics) -> str:
    data, media_type = metrics.exposition()
    assert media_type == TEXT_0_0_4
    return data.decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and sorted labels, without the ``_created`` timestamps."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def buckets(text: str, name: str, **labels: str) -> dict[str, float]:
    """One histogram child's cumulative bucket counts by ``le``, in exposition order."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            rest = {k: v for k, v in sample.labels.items() if k != "le"}
            if sample.name == f"{name}_bucket" and rest == labels:
                found[sample.labels["le"]] = sample.value
    return found


def test_each_family_has_its_name_type_and_help(one_process: None) -> None:
    text = scrape(Metrics())
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    created = {name for name in types if name.endswith("_created")}
    assert {name: (types[name], helps[name]) for name in types.keys() - created} == {
        "lltd_serve_requests_total": (
            "counter",
            "HTTP requests answered, by route and status code.",
        ),
        "lltd_serve_request_seconds": (
            "histogram",
            "Time from a request's start to its answer, by route.",
        ),
        "lltd_serve_stage_seconds": (
            "histogram",
            "Time of each step of POST /v1/defend: decode, defend, encode, upstream.",
        ),
        "lltd_serve_in_flight_requests": ("gauge", "Requests being processed now (all routes)."),
        "lltd_serve_admitted_pixels": (
            "gauge",
            "Decoded pixels of the requests admitted now (--max-inflight-pixels bounds them).",
        ),
        "lltd_serve_body_bytes": (
            "gauge",
            "Bytes of request bodies in memory now (--max-inflight-bytes bounds them).",
        ),
        "lltd_serve_waiting_requests": (
            "gauge",
            "Requests whose body is read, waiting for a thread and their pixels (--queue).",
        ),
        "lltd_serve_received_bytes_total": ("counter", "Request body bytes received."),
        "lltd_serve_sent_bytes_total": ("counter", "Response body bytes sent."),
    }


def test_first_scrape_has_every_stage_at_zero_and_every_unlabelled_value_at_zero(
    one_process: None,
) -> None:
    # A rate() over a stage that has not run yet is 0, not "no data"; requests by route and
    # status appear with their first answer.
    zero = {
        (f"lltd_serve_stage_seconds_{part}", (("stage", stage),)): 0.0
        for stage in ("decode", "defend", "encode", "upstream")
        for part in ("count", "sum")
    }
    zero |= {
        (name, ()): 0.0
        for name in (
            "lltd_serve_in_flight_requests",
            "lltd_serve_admitted_pixels",
            "lltd_serve_body_bytes",
            "lltd_serve_waiting_requests",
            "lltd_serve_received_bytes_total",
            "lltd_serve_sent_bytes_total",
        )
    }
    found = samples(scrape(Metrics()))
    assert {key: value for key, value in found.items() if not key[0].endswith("_bucket")} == zero


def test_stage_histogram_has_the_fixed_buckets_and_counts_each_stage_apart(
    one_process: None,
) -> None:
    metrics = Metrics()
    metrics.stage_seconds.labels(stage="defend").observe(0.75)
    metrics.stage_seconds.labels(stage="defend").observe(7.0)
    text = scrape(metrics)
    defend = buckets(text, "lltd_serve_stage_seconds", stage="defend")
    assert list(defend) == STAGE_LE
    assert [defend[le] for le in ("0.5", "1.0", "5.0", "10.0", "+Inf")] == [0, 1, 1, 2, 2]
    assert buckets(text, "lltd_serve_stage_seconds", stage="decode") == dict.fromkeys(STAGE_LE, 0)


def test_request_histogram_has_the_fixed_buckets_by_route(one_process: None) -> None:
    metrics = Metrics()
    metrics.request_seconds.labels(route="/v1/defend").observe(45.0)
    metrics.request_seconds.labels(route="/healthz").observe(0.002)
    text = scrape(metrics)
    defend = buckets(text, "lltd_serve_request_seconds", route="/v1/defend")
    assert list(defend) == REQUEST_LE
    assert [defend[le] for le in ("30.0", "60.0", "+Inf")] == [0, 1, 1]
    assert buckets(text, "lltd_serve_request_seconds", route="/healthz") == dict.fromkeys(
        REQUEST_LE, 1
    )


def test_requests_are_counted_by_route_and_status_and_bytes_in_and_out(
    one_process: None,
) -> None:
    metrics = Metrics()
    metrics.requests.labels(route="/v1/defend", status="200").inc()
    metrics.requests.labels(route="/v1/defend", status="200").inc()
    metrics.requests.labels(route="other", status="404").inc()
    metrics.bytes_in.inc(1000)
    metrics.bytes_out.inc(250)
    metrics.in_flight.inc()
    metrics.admitted_pixels.inc(89401)
    metrics.body_bytes.inc(1000)
    metrics.waiting_requests.inc(2)
    found = samples(scrape(metrics))
    counted = {key: value for key, value in found.items() if "_seconds" not in key[0]}
    assert counted == {
        ("lltd_serve_requests_total", (("route", "/v1/defend"), ("status", "200"))): 2.0,
        ("lltd_serve_requests_total", (("route", "other"), ("status", "404"))): 1.0,
        ("lltd_serve_received_bytes_total", ()): 1000.0,
        ("lltd_serve_sent_bytes_total", ()): 250.0,
        ("lltd_serve_in_flight_requests", ()): 1.0,
        ("lltd_serve_admitted_pixels", ()): 89401.0,
        ("lltd_serve_body_bytes", ()): 1000.0,
        ("lltd_serve_waiting_requests", ()): 2.0,
    }


def test_each_service_has_its_own_registry(one_process: None) -> None:
    # Two services in one process (the suite's in-process apps) neither collide nor share.
    first, second = Metrics(), Metrics()
    first.bytes_in.inc(7)
    assert samples(scrape(first))["lltd_serve_received_bytes_total", ()] == 7.0
    assert samples(scrape(second))["lltd_serve_received_bytes_total", ()] == 0.0


def test_multiprocess_is_on_exactly_when_the_directory_variable_is_set_and_not_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert multiprocess() is False
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    assert multiprocess() is False
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert multiprocess() is True


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[int], Metrics]]:
    """``lltd serve --workers N`` in one process: the server sets the directory before its
    workers import prometheus_client; each worker here is a value class with its own
    identifier (prometheus_client's pid), so each writes its own files there."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    made: list[type] = []

    def worker(number: int) -> Metrics:
        made.append(values.MultiProcessValue(lambda: number))
        monkeypatch.setattr(values, "ValueClass", made[-1])
        return Metrics()

    yield worker
    for value_class in made:
        value_class.close_all_files()  # type: ignore[attr-defined]


def test_with_a_multiprocess_directory_each_scrape_sums_every_workers_files(
    workers: Callable[[int], Metrics], tmp_path: Path
) -> None:
    first = workers(1)
    first.requests.labels(route="/v1/defend", status="200").inc()
    first.in_flight.inc()
    first.bytes_in.inc(100)
    first.stage_seconds.labels(stage="encode").observe(0.003)
    second = workers(2)
    second.requests.labels(route="/v1/defend", status="200").inc(2)
    second.in_flight.inc()
    second.bytes_in.inc(20)
    second.stage_seconds.labels(stage="encode").observe(0.02)
    assert first.registry is None and second.registry is None
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "counter_1.db",
        "counter_2.db",
        "gauge_livesum_1.db",
        "gauge_livesum_2.db",
        "histogram_1.db",
        "histogram_2.db",
    ]
    # Either worker answers the scrape with the sum over both.
    for metrics in (first, second):
        text = scrape(metrics)
        found = samples(text)
        assert found["lltd_serve_requests_total", (("route", "/v1/defend"), ("status", "200"))] == 3
        assert found["lltd_serve_in_flight_requests", ()] == 2
        assert found["lltd_serve_received_bytes_total", ()] == 120
        assert found["lltd_serve_stage_seconds_count", (("stage", "encode"),)] == 2
        assert found["lltd_serve_stage_seconds_count", (("stage", "upstream"),)] == 0
        encode = buckets(text, "lltd_serve_stage_seconds", stage="encode")
        assert [encode[le] for le in ("0.0025", "0.005", "0.01", "0.025")] == [0, 1, 1, 2]
