"""Both ``/metrics`` endpoints (``lltd serve`` and ``lltd watch --metrics-port``) after traffic:
one content type whatever the scraper asks for, nothing for Prometheus' own linter (``promtool
check metrics``, from Debian's prometheus package) to report, exactly the metrics that
docs/serving/metrics.md lists, and a real Prometheus (the same package) scrapes both."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from model_server_helpers import ROOT, SOURCE, free_port, process_group
from serve_helpers import running
from test_watch_daemon import Watch, png_bytes
from waiting import wait_until

from lltd.common.exposition import CONTENT_TYPE

pytest.importorskip("prometheus_client")
OPENMETRICS = "application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4; q=0.5"
DOCS = ROOT / "docs" / "serving" / "metrics.md"


def debian_tool(name: str) -> str:
    """``promtool`` or ``prometheus``: on PATH, or where .ci/setup unpacks Debian's package."""
    found = shutil.which(name) or ROOT / ".cache" / "prometheus" / "usr" / "bin" / name
    if not Path(found).exists():
        pytest.skip(f"no {name}: .ci/setup unpacks Debian's prometheus into .cache/prometheus")
    return str(found)


def promtool() -> str:
    return debian_tool("promtool")


def lint(text: bytes) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    assert result.returncode == 0 and not result.stdout + result.stderr, result


def scrape(url: str) -> tuple[str, bytes]:
    request = urllib.request.Request(url, headers={"Accept": OPENMETRICS})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.headers["Content-Type"], answer.read()


def families(text: bytes) -> set[str]:
    """The metrics by the name a query uses (counters with ``_total``), without the
    ``_created`` timestamps prometheus_client adds to counters and histograms."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text.decode(), re.MULTILINE):
        if not name.endswith("_created"):
            names.add(
                f"{name}_total" if kind == "counter" and not name.endswith("_total") else name
            )
    return names


def documented() -> set[str]:
    return set(re.findall(r"^\| `(lltd_\w+)`", DOCS.read_text(), re.MULTILINE))


def test_serve_and_watch_metrics_lint_clean_in_one_content_type(tmp_path: Path) -> None:
    with running() as server:
        assert server.defend(SOURCE.read_bytes())[0] == 200
        assert server.defend(b"not an image")[0] == 400
        assert server.request("GET", "/healthz")[0] == 200
        served_type, served = scrape(f"http://127.0.0.1:{server.port}/metrics")
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--metrics-port", "127.0.0.1:0")
    try:
        watch.wait_ready()
        found = re.search(r"serving Prometheus metrics on (http://\S+)", watch.stdout)
        assert found, watch.stdout
        (inp / "a.png").write_bytes(png_bytes(1))
        wait_until(lambda: (out / "a.png").exists(), 60, "the output")
        watched_type, watched = scrape(found.group(1))
    finally:
        assert watch.stop() == 0
    assert served_type == watched_type == CONTENT_TYPE
    lint(served)
    lint(watched)
    # The documented list is the whole list, serve's and watch's.
    assert families(served) | families(watched) == documented()


def test_a_real_prometheus_scrapes_both(tmp_path: Path) -> None:
    prometheus = debian_tool("prometheus")
    inp = tmp_path / "in"
    inp.mkdir()
    watch = Watch(tmp_path, inp, "-o", tmp_path / "out", "--metrics-port", "127.0.0.1:0")
    try:
        watch.wait_ready()
        found = re.search(r"serving Prometheus metrics on http://(\S+)/metrics", watch.stdout)
        assert found, watch.stdout
        with running() as server:
            targets = {"serve": f"127.0.0.1:{server.port}", "watch": found.group(1)}
            jobs = [
                f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']"
                for job, target in targets.items()
            ]
            config = tmp_path / "prometheus.yml"
            config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n" + "\n".join(jobs))
            port = free_port()
            argv = [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ]
            home = tmp_path / "prometheus"
            home.mkdir()
            with process_group(argv, home, {}):
                api = f"http://127.0.0.1:{port}/api/v1/targets"
                health: dict[str, tuple[str, str]] = {}

                def both_up() -> bool:
                    try:
                        with urllib.request.urlopen(api, timeout=5) as answer:
                            active = json.load(answer)["data"]["activeTargets"]
                    except OSError:
                        return False
                    for target in active:
                        health[target["labels"]["job"]] = (target["health"], target["lastError"])
                    return all(health.get(job, ("",))[0] == "up" for job in targets)

                try:
                    wait_until(both_up, 60, "Prometheus to scrape serve and watch")
                except AssertionError as exc:
                    log = (home / "server.log").read_text()[-2000:]
                    raise AssertionError(f"{exc}: {health}\n{log}") from None
    finally:
        assert watch.stop() == 0
