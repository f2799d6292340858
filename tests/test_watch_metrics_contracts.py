"""The contracts of lltd/watch/metrics.py (issue 27), in-process: what ``lltd watch
--metrics-port`` accepts as an address and answers on it (each family's name, type and help,
the fixed latency buckets a dashboard's ``le`` relies on, the counters read at scrape time),
and how its server starts, refuses and stops.

Expected values are literals, never the module's own constants: a changed bucket or name
must fail here, not follow along."""

from __future__ import annotations

import http.client
import re
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("prometheus_client")

from test_serve_metrics_contracts import buckets
from test_serve_metrics_contracts import samples as text_samples

from lltd.common.errors import UsageError
from lltd.common.exposition import render
from lltd.watch.metrics import Metrics, parse_address, start_metrics
from lltd.watch.status import Counters, FolderCounts

TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_LE = [
    "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0",
    "10.0", "30.0", "60.0", "300.0", "1800.0", "+Inf",
]  # fmt: skip


def counters() -> Counters:
    return Counters([FolderCounts("in", "out")])


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by name and sorted labels, without the ``_created`` timestamps."""
    return text_samples(render(metrics.registry).decode())


def port_of(metrics: Metrics) -> int:
    return int(metrics.url.rsplit(":", 1)[1].removesuffix("/metrics"))


def latency_buckets(metrics: Metrics) -> dict[str, float]:
    return buckets(render(metrics.registry).decode(), "lltd_watch_latency_seconds")


@pytest.fixture
def served() -> Iterator[list[Metrics]]:
    """Every Metrics a test serves is closed after it, whatever the test did."""
    made: list[Metrics] = []
    yield made
    for metrics in made:
        metrics.close()


def get(host: str, port: int, path: str = "/metrics") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=20)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        connection.close()


# --- the address of --metrics-port ---


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("9100", ("127.0.0.1", 9100)),  # a bare port is loopback only: nothing exposed by default
        (":9100", ("127.0.0.1", 9100)),
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        ("localhost:9100", ("localhost", 9100)),
        ("XENON:9100", ("XENON", 9100)),  # a host name is kept as written
        ("[::1]:9100", ("::1", 9100)),
        ("[::]:0", ("::", 0)),  # port 0: the system picks a free port
        ("65535", ("127.0.0.1", 65535)),
        ("0", ("127.0.0.1", 0)),
    ],
)
def test_an_address_is_a_port_on_loopback_or_host_colon_port(
    text: str, address: tuple[str, int]
) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text",
    [
        "x:y", "", "host:", "65536", "127.0.0.1:65536", "-1", "9100/",
        "²", "٩١٠٠",  # digits to str.isdigit(): "²" was a traceback from int()
    ],
)  # fmt: skip
def test_anything_else_is_one_usage_error_naming_the_value(text: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_address(text)
    assert str(raised.value) == f"metrics port must be PORT or HOST:PORT, got {text!r}"


def test_without_prometheus_client_metrics_are_a_usage_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(UsageError) as raised:
        Metrics(counters(), 1, lambda: 0)
    assert str(raised.value) == (
        "--metrics-port needs prometheus_client: pip install 'lltd[metrics]'"
    )


# --- what a scrape exposes ---


def test_each_family_has_its_name_type_and_help() -> None:
    text = render(Metrics(counters(), 1, lambda: 0).registry).decode()
    helps = dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    created = {name for name in types if name.endswith("_created")}
    assert created == {"lltd_watch_latency_seconds_created"}
    assert {name: (types[name], helps[name]) for name in types.keys() - created} == {
        "lltd_watch_latency_seconds": (
            "histogram",
            "From the input's last write (its close) to its output in place.",
        ),
        "lltd_watch_files_total": ("counter", "Files finished, by outcome."),
        "lltd_watch_rescans_total": ("counter", "Whole-folder rescans."),
        "lltd_watch_overflows_total": (
            "counter",
            "Kernel event queue overflows (each followed by a rescan).",
        ),
        "lltd_watch_queue_depth": ("gauge", "Files waiting."),
        "lltd_watch_settling": ("gauge", "Files settling."),
        "lltd_watch_workers_busy": ("gauge", "Workers on a file now."),
        "lltd_watch_workers": ("gauge", "Worker processes allowed."),
    }


def test_first_scrape_has_every_value_at_zero_but_the_workers_allowed() -> None:
    # Files by outcome appear with their first file; everything else is there from the start.
    found = samples(Metrics(counters(), 3, lambda: 0))
    assert {key: value for key, value in found.items() if not key[0].endswith("_bucket")} == {
        ("lltd_watch_latency_seconds_count", ()): 0.0,
        ("lltd_watch_latency_seconds_sum", ()): 0.0,
        ("lltd_watch_rescans_total", ()): 0.0,
        ("lltd_watch_overflows_total", ()): 0.0,
        ("lltd_watch_queue_depth", ()): 0.0,
        ("lltd_watch_settling", ()): 0.0,
        ("lltd_watch_workers_busy", ()): 0.0,
        ("lltd_watch_workers", ()): 3.0,
    }


def test_latency_histogram_has_the_fixed_buckets_from_50_ms_to_30_min() -> None:
    metrics = Metrics(counters(), 1, lambda: 0)
    for seconds in (0.03, 0.75, 45.0, 1000.0, 4000.0):
        metrics.observe_latency(seconds)
    buckets = latency_buckets(metrics)
    assert list(buckets) == LATENCY_LE
    assert list(buckets.values()) == [1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 4, 5]
    found = samples(metrics)
    assert found["lltd_watch_latency_seconds_count", ()] == 5
    assert found["lltd_watch_latency_seconds_sum", ()] == pytest.approx(5045.78)


def test_a_negative_latency_counts_as_zero() -> None:
    # An input's mtime in the future (a writer's clock ahead of ours) is not a negative time.
    metrics = Metrics(counters(), 1, lambda: 0)
    metrics.observe_latency(-30.0)
    metrics.observe_latency(0.5)
    found = samples(metrics)
    assert found["lltd_watch_latency_seconds_sum", ()] == 0.5
    assert found["lltd_watch_latency_seconds_count", ()] == 2
    assert latency_buckets(metrics)["0.05"] == 1


def test_counters_are_read_at_each_scrape_with_files_by_outcome_in_order() -> None:
    c = Counters([FolderCounts("a", "a-out"), FolderCounts("b", "b-out")])
    busy = [0]
    metrics = Metrics(c, 2, lambda: busy[0])
    assert samples(metrics)["lltd_watch_queue_depth", ()] == 0
    c.count(1, failed=False, outcome="skipped")
    c.count(0, failed=False)
    c.count(0, failed=True, error="not an image", source="a/x.png")
    c.count(1, failed=False)
    c.rescans, c.overflows = 3, 1
    c.set_gauges(backlog=4, arrivals=2, settling=5, in_flight=1)
    busy[0] = 1
    text = render(metrics.registry).decode()
    files = re.findall(r'^lltd_watch_files_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)
    assert files == [("converted", "2.0"), ("failed", "1.0"), ("skipped", "1.0")]
    found = samples(metrics)
    assert {key: value for key, value in found.items() if "latency" not in key[0]} == {
        ("lltd_watch_files_total", (("outcome", "converted"),)): 2.0,
        ("lltd_watch_files_total", (("outcome", "failed"),)): 1.0,
        ("lltd_watch_files_total", (("outcome", "skipped"),)): 1.0,
        ("lltd_watch_rescans_total", ()): 3.0,
        ("lltd_watch_overflows_total", ()): 1.0,
        ("lltd_watch_queue_depth", ()): 6.0,
        ("lltd_watch_settling", ()): 5.0,
        ("lltd_watch_workers_busy", ()): 1.0,
        ("lltd_watch_workers", ()): 2.0,
    }


def test_workers_busy_never_exceeds_the_workers_allowed() -> None:
    # The pool briefly holds a dead worker beside its replacement.
    busy = [5]
    metrics = Metrics(counters(), 2, lambda: busy[0])
    assert samples(metrics)["lltd_watch_workers_busy", ()] == 2
    busy[0] = 2
    assert samples(metrics)["lltd_watch_workers_busy", ()] == 2
    busy[0] = 1
    assert samples(metrics)["lltd_watch_workers_busy", ()] == 1


def test_each_daemon_has_its_own_registry() -> None:
    # Two daemons in one process (the suite's in-process ones) neither collide nor share.
    first, second = Metrics(counters(), 1, lambda: 0), Metrics(counters(), 1, lambda: 0)
    first.observe_latency(1.0)
    assert samples(first)["lltd_watch_latency_seconds_count", ()] == 1
    assert samples(second)["lltd_watch_latency_seconds_count", ()] == 0


# --- the server ---


def test_start_metrics_serves_every_path_with_the_one_text_format(
    served: list[Metrics],
) -> None:
    c = counters()
    c.count(0, failed=False)
    metrics = start_metrics("127.0.0.1:0", c, 4, lambda: 3)
    served.append(metrics)
    port = port_of(metrics)
    assert metrics.url == f"http://127.0.0.1:{port}/metrics"
    for path in ("/metrics", "/", "/anything?x=1"):
        status, headers, body = get("127.0.0.1", port, path)
        assert status == 200
        assert headers["Content-Type"] == TEXT_0_0_4
        assert headers["Content-Length"] == str(len(body))
        text = body.decode()
        assert 'lltd_watch_files_total{outcome="converted"} 1.0\n' in text
        assert "lltd_watch_workers_busy 3.0\n" in text
        assert "lltd_watch_workers 4.0\n" in text


def test_serve_returns_the_port_chosen_for_port_zero(served: list[Metrics]) -> None:
    metrics = Metrics(counters(), 1, lambda: 0)
    served.append(metrics)
    port = metrics.serve("127.0.0.1", 0)
    assert port > 0
    assert metrics.url == f"http://127.0.0.1:{port}/metrics"
    assert get("127.0.0.1", port)[0] == 200


def test_an_ipv6_host_is_served_over_ipv6(served: list[Metrics]) -> None:
    metrics = start_metrics("[::1]:0", counters(), 1, lambda: 0)
    served.append(metrics)
    port = port_of(metrics)
    assert metrics.url == f"http://::1:{port}/metrics"
    status, _, body = get("::1", port)
    assert status == 200 and b"lltd_watch_workers 1.0\n" in body


def test_a_port_in_use_is_one_usage_error_naming_the_address(served: list[Metrics]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        metrics = Metrics(counters(), 1, lambda: 0)
        served.append(metrics)
        with pytest.raises(UsageError) as raised:
            metrics.serve("127.0.0.1", port)
    assert str(raised.value) == f"cannot serve metrics on 127.0.0.1:{port}: Address already in use"
    assert metrics.url == ""


def test_the_server_runs_on_a_daemon_thread_named_lltd_metrics(served: list[Metrics]) -> None:
    # A thread dump names it, and it never keeps the process alive.
    before = set(threading.enumerate())
    metrics = start_metrics("127.0.0.1:0", counters(), 1, lambda: 0)
    served.append(metrics)
    started = [(t.name, t.daemon) for t in set(threading.enumerate()) - before]
    assert started == [("lltd-metrics", True)]


def test_scrapes_are_not_logged(served: list[Metrics], capfd: pytest.CaptureFixture[str]) -> None:
    # The daemon's stderr is its journal: a scrape every few seconds is not news.
    metrics = start_metrics("127.0.0.1:0", counters(), 1, lambda: 0)
    served.append(metrics)
    port = port_of(metrics)
    assert get("127.0.0.1", port)[0] == 200
    assert get("127.0.0.1", port, "/nothing")[0] == 200
    metrics.close()
    assert capfd.readouterr() == ("", "")


def test_close_stops_listening_and_may_be_called_again(served: list[Metrics]) -> None:
    metrics = start_metrics("127.0.0.1:0", counters(), 1, lambda: 0)
    port = port_of(metrics)
    assert get("127.0.0.1", port)[0] == 200
    metrics.close()
    with pytest.raises(ConnectionRefusedError):
        get("127.0.0.1", port)
    metrics.close()  # the daemon's stop path may run twice
    Metrics(counters(), 1, lambda: 0).close()  # and never served: nothing to stop


def test_a_stalled_scraper_does_not_hold_up_close(served: list[Metrics]) -> None:
    # A client that connects and sends nothing must not keep the daemon from stopping.
    metrics = start_metrics("127.0.0.1:0", counters(), 1, lambda: 0)
    served.append(metrics)
    port = port_of(metrics)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as stalled:
        assert get("127.0.0.1", port)[0] == 200  # the stalled connection is being handled
        closing = threading.Thread(target=metrics.close, daemon=True)
        closing.start()
        closing.join(20)
        assert not closing.is_alive(), "close() waited for a client that sent nothing"
        stalled.close()
