"""``lltd watch --rescan SECONDS``: periodic rescans happen, and an input that cannot be moved
away (``IN/.lltd/done`` replaced by a link) is logged once and left in place, not redone by every
rescan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_watch_daemon import Watch, png_bytes
from waiting import wait_until

pytest.importorskip("prometheus_client")
from test_watch_metrics import scrape


def test_an_unmovable_input_is_logged_once_and_left_in_place_across_rescans(
    tmp_path: Path,
) -> None:
    inp, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    for folder in (inp, elsewhere):
        folder.mkdir()
    watch = Watch(
        tmp_path, inp, "-o", out, "-j", "1", "--settle", "100", "--rescan", "1",
        "--metrics-port", "127.0.0.1:0",
    )  # fmt: skip
    try:
        watch.wait_ready()
        url = re.search(r"serving Prometheus metrics on (http://\S+)", watch.stdout)
        assert url, watch.stdout
        (inp / ".lltd" / "done").mkdir(exist_ok=True)
        (inp / ".lltd" / "done").rmdir()
        (inp / ".lltd" / "done").symlink_to(elsewhere)
        (inp / "x.png").write_bytes(png_bytes(6))
        wait_until(lambda: "left in place" in watch.stderr, 60, "the refusal")
        rescans = scrape(url[1])["lltd_watch_rescans_total"]
        # --rescan 1: three more whole-folder rescans, each of which lists x.png again.
        wait_until(
            lambda: scrape(url[1])["lltd_watch_rescans_total"] >= rescans + 3, 60, "3 rescans"
        )
        values = scrape(url[1])
    finally:
        assert watch.stop() == 0
    refusals = [line for line in watch.stderr.splitlines() if "left in place" in line]
    assert len(refusals) == 1, watch.stderr
    assert "x.png" in refusals[0] and ".lltd/done" in refusals[0]
    assert values['lltd_watch_files_total{outcome="failed"}'] == 1
    assert (inp / "x.png").read_bytes() == png_bytes(6)
    assert list(elsewhere.iterdir()) == []
