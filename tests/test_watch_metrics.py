"""``lltd watch --metrics-port``: Prometheus metrics scraped from the running daemon."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
from test_watch_daemon import Watch, png_bytes, write_old
from waiting import wait_until

pytest.importorskip("prometheus_client")


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("lltd_watch_"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_count_files_latency_and_queue(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    for i in range(3):
        write_old(inp / f"ok{i}.png", png_bytes(i))
    write_old(inp / "bad.png", b"not an image")
    expected = {
        'lltd_watch_files_total{outcome="converted"}': 4,
        'lltd_watch_files_total{outcome="failed"}': 1,
        "lltd_watch_latency_seconds_count": 5,
        # Four backlog files were written 60 s before the start; the new one took less than 30.
        'lltd_watch_latency_seconds_bucket{le="30.0"}': 1,
        "lltd_watch_queue_depth": 0,
        "lltd_watch_workers": 1,
        "lltd_watch_workers_busy": 0,
        "lltd_watch_overflows_total": 0,
    }
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--metrics-port", "127.0.0.1:0")
    scraped: list[dict[str, float]] = [{}]

    def settled() -> bool:
        # The counters, the histogram and the gauges are updated one after another (the gauges
        # at the next status refresh): wait for all of them, not for the first.
        scraped.append(scrape(url))
        return {name: scraped[-1].get(name) for name in expected} == expected

    try:
        watch.wait_ready()
        found = re.search(r"serving Prometheus metrics on (http://\S+)", watch.stdout)
        assert found, watch.stdout
        url = found.group(1)
        wait_until(lambda: not list(inp.glob("*.png")), 60, "all four files done")
        (inp / "new.png").write_bytes(png_bytes(7))
        wait_until(lambda: (out / "new.png").exists(), 60, "the new file")
        try:
            wait_until(settled, 60, "the metrics to count every file")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {scraped[-1]}\n{watch.stderr}") from None
    finally:
        assert watch.stop() == 0
    assert "lltd_watch_rescans_total" in scraped[-1]


def test_a_bad_metrics_port_is_a_usage_error(tmp_path: Path, run_lltd) -> None:
    (tmp_path / "in").mkdir()
    result = run_lltd("watch", tmp_path / "in", "-o", tmp_path / "out", "--metrics-port", "x:y")
    assert result.returncode == 2
    assert result.stderr.startswith("lltd: error: metrics port must be PORT or HOST:PORT")
