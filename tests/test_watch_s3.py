"""Object storage for real: a ``moto`` S3 server on loopback (started and stopped by PID),
``s3fs`` talking to it. ``lltd watch s3://... -o s3://...`` polls the bucket; the batch
commands take the same URLs."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_watch_daemon import Watch, defended_pixels, png_bytes
from test_watch_metrics import scrape
from waiting import wait_until

pytest.importorskip("moto")
s3fs = pytest.importorskip("s3fs")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "moto.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=self.log,
        )
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
            "FSSPEC_S3_ENDPOINT_URL": self.url,  # fsspec's own configuration, for s3fs
        }

        def up() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, 60, "the S3 server")

    def fs(self) -> s3fs.S3FileSystem:
        return s3fs.S3FileSystem(
            key="testing", secret="testing", endpoint_url=self.url, use_listings_cache=False
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def objects(fs: s3fs.S3FileSystem, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` but the provenance records (one moved meanwhile: skipped)."""
    fs.invalidate_cache()
    found: dict[str, bytes] = {}
    for path in fs.find(prefix):
        name = path[len(prefix) + 1 :]
        if not name.startswith(".lltd/made/"):
            try:
                found[name] = fs.cat_file(path)
            except FileNotFoundError:
                continue
    return found


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_watch_polls_an_s3_bucket_exactly_once(tmp_path: Path, s3: S3Server) -> None:
    fs = s3.fs()
    fs.mkdir("drop")
    fs.pipe_file("drop/in/.keep", b"")  # the prefix exists before the first upload
    env = {**os.environ, **s3.env}
    watch = Watch(
        tmp_path, "s3://drop/in", "-o", "s3://drop/out", "-j", "2", "--settle", "300",
        "--metrics-port", "127.0.0.1:0", env=env,
    )  # fmt: skip
    inputs = {"a.png": png_bytes(1), "sub/b.png": png_bytes(2), "c.jpg": png_bytes(3)}
    try:
        watch.wait_ready()
        for name, data in inputs.items():
            fs.pipe_file(f"drop/in/{name}", data)
        fs.pipe_file("drop/in/bad.png", b"not an image")
        fs.pipe_file("drop/in/notes.txt", b"not ours")

        def done() -> bool:
            names = objects(fs, "drop/in")
            return all(f".lltd/done/{n}" in names for n in inputs) and (
                ".lltd/failed/bad.png" in names
            )

        wait_until(done, 60, "every upload done")
        # Three more polls (the rescans counter, read at scrape time): nothing is done twice.
        url = re.search(r"serving Prometheus metrics on (http://\S+)", watch.stdout)
        assert url, watch.stdout
        polls = scrape(url[1])["lltd_watch_rescans_total"]
        wait_until(lambda: scrape(url[1])["lltd_watch_rescans_total"] >= polls + 3, 60, "3 polls")
    finally:
        assert watch.stop() == 0, watch.stderr
    out = objects(fs, "drop/out")
    assert sorted(out) == [
        "a.png", "c.png", "failed/bad.png", "failed/bad.png.error.txt", "sub/b.png",
    ]  # fmt: skip
    for name, data in inputs.items():
        assert np.array_equal(decode(out[str(Path(name).with_suffix(".png"))]),
                              defended_pixels(data)), name  # fmt: skip
    assert out["failed/bad.png.error.txt"].startswith(b"s3://drop/in/bad.png: ")
    left = objects(fs, "drop/in")
    assert sorted(n for n in left if not n.startswith(".lltd/")) == [".keep", "notes.txt"]
    assert watch.stdout.count("converted:") == 3
    assert "stopped: processed 3, failed 1" in watch.stdout


@pytest.mark.parametrize("command", ["defend", "compress"])
def test_batch_commands_on_s3_urls_match_a_local_run(
    tmp_path: Path, s3: S3Server, run_lltd, command: str
) -> None:
    local_in = tmp_path / "in"
    local_in.mkdir()
    for i in range(3):
        (local_in / f"p{i}.png").write_bytes(png_bytes(10 + i))
    fs = s3.fs()
    fs.mkdir("batch")
    for path in local_in.iterdir():
        fs.pipe_file(f"batch/in/{path.name}", path.read_bytes())
    args = ("-q", "60") if command == "compress" else ()
    remote = run_lltd(command, "s3://batch/in", "-o", "s3://batch/out", *args, env=s3.env)
    assert remote.returncode == 0, remote.stderr
    local = run_lltd(command, local_in, "-o", tmp_path / "out", *args)
    assert local.returncode == 0, local.stderr
    expected = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert objects(fs, "batch/out") == expected
    again = run_lltd(command, "s3://batch/in", "-o", "s3://batch/out", *args, env=s3.env)
    assert again.returncode == 0, again.stderr
    assert objects(fs, "batch/out") == expected  # a second run changes nothing


def test_watch_names_colliding_uploads_through_the_planner(tmp_path: Path, s3: S3Server) -> None:
    """a.png then a.jpg (both a.png in OUT): the second gets a.jpg.png, never a replacement,
    also after a restart, when only the provenance records in the bucket say who holds a.png."""
    fs = s3.fs()
    fs.mkdir("names")
    fs.pipe_file("names/in/.keep", b"")
    env = {**os.environ, **s3.env}
    uploads = {"a.png": png_bytes(1), "a.jpg": png_bytes(2), "a.jpeg": png_bytes(3)}

    def run(names: list[str]) -> None:
        watch = Watch(tmp_path, "s3://names/in", "-o", "s3://names/out", "--settle", "300", env=env)
        try:
            watch.wait_ready()
            for name in names:
                fs.pipe_file(f"names/in/{name}", uploads[name])
                wait_until(
                    lambda name=name: f".lltd/done/{name}" in objects(fs, "names/in"),
                    60,
                    f"{name} done",
                )
        finally:
            assert watch.stop() == 0, watch.stderr

    run(["a.png", "a.jpg"])
    run(["a.jpeg"])  # a new daemon: nothing in memory
    out = objects(fs, "names/out")
    assert sorted(out) == ["a.jpeg.png", "a.jpg.png", "a.png"]
    for name, output in (("a.png", "a.png"), ("a.jpg", "a.jpg.png"), ("a.jpeg", "a.jpeg.png")):
        assert np.array_equal(decode(out[output]), defended_pixels(uploads[name])), name
