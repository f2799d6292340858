"""``lltd watch`` as a real process: real files, real signals, a real notify socket."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from waiting import wait_until

from lltd.transforms import defend_image

TEMP_SUFFIX = ".lltd-tmp"


def png_bytes(seed: int, size: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def defended_pixels(data: bytes) -> np.ndarray:
    """What ``lltd defend`` with its defaults makes of an image (the watch default action)."""
    return np.asarray(defend_image(Image.open(io.BytesIO(data)).convert("RGB")))


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def write_old(path: Path, data: bytes) -> None:
    """A file that has been there a while (a backlog file needs no settling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))


class NotifySocket:
    """A datagram socket in the abstract namespace, read continuously as systemd does."""

    def __init__(self) -> None:
        self.name = f"lltd-watch-test-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.settimeout(0.05)
        self.messages: list[str] = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def address(self) -> str:
        return "@" + self.name

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def fields(self) -> list[str]:
        return [line for message in list(self.messages) for line in message.split("\n")]

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float, what: str) -> None:
        wait_until(lambda: predicate(self.fields()), timeout, what)

    def close(self) -> None:
        # Called once the daemon has exited: whatever it sent is in the socket's buffer. Stop the
        # reader, then drain the buffer, rather than hoping a pause was long enough.
        self._closed.set()
        self._reader.join()
        self.sock.setblocking(False)
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                break
        self.sock.close()


class Watch:
    """``python -m lltd watch ...`` with its output in files (a full pipe must not block it);
    ``launcher``: how lltd is started instead of ``python -m lltd``."""

    def __init__(
        self,
        tmp: Path,
        *args: str | Path,
        env: dict[str, str] | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        self.notify = NotifySocket()
        self.log_out = tmp / f"watch-{time.monotonic_ns()}.out"
        self.log_err = self.log_out.with_suffix(".err")
        full_env = {**os.environ, "NOTIFY_SOCKET": self.notify.address, **(env or {})}
        with self.log_out.open("w") as out, self.log_err.open("w") as err:
            self.process = subprocess.Popen(
                [*(launcher or [sys.executable, "-m", "lltd"]), "watch", *map(str, args)],
                stdout=out,
                stderr=err,
                env=full_env,
                cwd=tmp,
            )

    def wait_ready(self, timeout: float = 30) -> None:
        def ready(fields: list[str]) -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"lltd watch exited {self.process.returncode}: {self.stderr}")
            return "READY=1" in fields

        self.notify.wait_for(ready, timeout, "READY=1")

    @property
    def stdout(self) -> str:
        return self.log_out.read_text()

    @property
    def stderr(self) -> str:
        return self.log_err.read_text()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()  # never leave a daemon behind a failed test
            self.process.wait(10)
            raise
        finally:
            self.notify.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self.notify.close()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    return inp, out


def temporaries(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob(f"*{TEMP_SUFFIX}")]


def test_backlog_first_then_arrivals_partial_names_links_and_notify(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    images = {f"b{i}": png_bytes(i) for i in range(4)}
    for name, data in images.items():
        write_old(inp / f"{name}.png", data)
    write_old(inp / "sub" / "deep.png", png_bytes(50))
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes(99))
    status = tmp_path / "status.json"
    watch = Watch(
        tmp_path,
        inp,
        "-o",
        out,
        "-j",
        "1",
        "--settle",
        "200",
        "--status-file",
        status,
        env={"WATCHDOG_USEC": "400000"},
    )
    try:
        watch.wait_ready()
        ready = next(m for m in watch.notify.messages if "READY=1" in m)
        assert "STATUS=processed 0, failed 0," in ready

        # Arrivals: written in place, and partial names that must wait for their rename.
        (inp / "new.png").write_bytes(png_bytes(10))
        partials = [".hidden.png", "p.png.part", "p.png.tmp", "p.png~", "p.png.crdownload"]
        for name in partials:
            (inp / name).write_bytes(png_bytes(11))
        (inp / "notes.txt").write_text("not an image")
        (inp / "link-out.png").symlink_to(outside)
        (inp / "sentinel.png").write_bytes(png_bytes(12))
        wait_until(lambda: (out / "sentinel.png").exists(), 60, "the sentinel's output")
        # Events are handled in order: once a second sentinel, written after everything above, is
        # done, a partial file taken by mistake would have been taken too.
        (inp / "sentinel2.png").write_bytes(png_bytes(13))
        wait_until(lambda: (out / "sentinel2.png").exists(), 60, "the second sentinel's output")
        for name in [*partials, "notes.txt", "link-out.png"]:
            assert (inp / name).exists(), name
        produced = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert produced == [
            "b0.png",
            "b1.png",
            "b2.png",
            "b3.png",
            "new.png",
            "sentinel.png",
            "sentinel2.png",
            "sub/deep.png",
        ]
        assert outside.exists()

        (inp / "p.png.part").rename(inp / "renamed.png")
        (inp / ".hidden.png").rename(inp / "unhidden.png")
        wait_until(
            lambda: (out / "renamed.png").exists() and (out / "unhidden.png").exists(),
            20,
            "outputs of renamed partial files",
        )
        assert np.array_equal(decoded(out / "renamed.png"), defended_pixels(png_bytes(11)))

        # Backlog first: with one worker, every file found at start-up precedes any arrival.
        lines = [line for line in watch.stdout.splitlines() if "converted:" in line]
        order = [Path(line.split(" -> ")[0].split(": ", 2)[-1]).name for line in lines]
        assert set(order[:5]) == {"b0.png", "b1.png", "b2.png", "b3.png", "deep.png"}
        assert order[5:8] == ["new.png", "sentinel.png", "sentinel2.png"]

        for name, data in images.items():
            assert np.array_equal(decoded(out / f"{name}.png"), defended_pixels(data))
            assert (inp / ".lltd" / "done" / f"{name}.png").read_bytes() == data
            assert not (inp / f"{name}.png").exists()

        watch.notify.wait_for(lambda f: f.count("WATCHDOG=1") >= 2, 5, "WATCHDOG=1 keep-alives")
        watch.notify.wait_for(
            lambda f: "STATUS=processed 10, failed 0, queued 0, in flight 0" in f,
            5,
            "STATUS= with the counters",
        )
        wait_until(lambda: json.loads(status.read_text())["processed"] == 10, 60, "status file")
    finally:
        code = watch.stop()
    assert code == 0, watch.stderr
    assert "STOPPING=1" in watch.notify.fields()
    state = json.loads(status.read_text())
    assert state["state"] == "stopped" and state["processed"] == 10 and state["failed"] == 0
    assert state["folders"][0]["input"] == str(inp.resolve())
    assert "Traceback" not in watch.stderr
    assert temporaries(inp, out, tmp_path) == []


def write_slowly(path: Path, data: bytes, chunks: int, pause: float) -> None:
    step = max(1, -(-len(data) // chunks))
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(pause)


def test_polling_mode_waits_for_files_to_settle(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    inp, out = folders
    write_old(inp / "old.png", png_bytes(1))
    # A settle period 13 times the writer's pause: a busy CI machine may stall the writer a while.
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--polling", "--settle", "2000")
    try:
        watch.wait_ready()
        wait_until(lambda: (out / "old.png").exists(), 20, "the backlog in polling mode")
        data = png_bytes(2)
        writer = threading.Thread(target=write_slowly, args=(inp / "slow.png", data, 6, 0.15))
        writer.start()
        while writer.is_alive():
            assert not (out / "slow.png").exists(), "processed before the writer finished"
            time.sleep(0.02)
        writer.join()
        wait_until(lambda: (out / "slow.png").exists(), 20, "the slow file's output")
        assert np.array_equal(decoded(out / "slow.png"), defended_pixels(data))
        (inp / "late.png.part").write_bytes(png_bytes(3))
        # A file written after the .part settles and is done only after the poller has seen the
        # .part for a whole settle period: had it been taken, it would be done by then.
        (inp / "after.png").write_bytes(png_bytes(4))
        wait_until(lambda: (out / "after.png").exists(), 60, "the file written after the .part")
        assert (inp / "late.png.part").exists() and not (out / "late.png").exists()
        (inp / "late.png.part").rename(inp / "late.png")
        wait_until(lambda: (out / "late.png").exists(), 20, "the renamed file in polling mode")
    finally:
        code = watch.stop()
    assert code == 0, watch.stderr
    assert sorted(p.name for p in (inp / ".lltd" / "done").iterdir()) == [
        "after.png",
        "late.png",
        "old.png",
        "slow.png",
    ]


def test_keep_mode_does_not_redo_after_a_restart_but_redoes_a_replaced_file(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    write_old(inp / "a.png", png_bytes(1))
    write_old(inp / "b.png", png_bytes(2))
    args = (inp, "-o", out, "-j", "1", "--on-success", "keep", "--settle", "200")
    first = Watch(tmp_path, *args)
    try:
        first.wait_ready()
        wait_until(lambda: (out / "a.png").exists() and (out / "b.png").exists(), 20, "outputs")
    finally:
        assert first.stop() == 0, first.stderr
    stamps = {name: (out / name).stat().st_mtime_ns for name in ("a.png", "b.png")}
    assert (inp / "a.png").exists() and (inp / "b.png").exists()  # kept

    second = Watch(tmp_path, *args)
    try:
        second.wait_ready()
        # The backlog comes first: once a file dropped now is done, a redo of a or b would be too.
        (inp / "c.png").write_bytes(png_bytes(4))
        wait_until(lambda: (out / "c.png").exists(), 60, "the file dropped after the restart")
        assert [line for line in second.stdout.splitlines() if "converted" in line] == [
            line for line in second.stdout.splitlines() if "converted" in line and "c.png" in line
        ]
        assert {name: (out / name).stat().st_mtime_ns for name in stamps} == stamps
        replacement = png_bytes(3)
        (inp / "a.png.part").write_bytes(replacement)
        (inp / "a.png.part").rename(inp / "a.png")
        wait_until(
            lambda: (out / "a.png").stat().st_mtime_ns != stamps["a.png"], 60, "the redo of a.png"
        )
        assert np.array_equal(decoded(out / "a.png"), defended_pixels(replacement))
        assert (out / "b.png").stat().st_mtime_ns == stamps["b.png"]
    finally:
        assert second.stop() == 0, second.stderr


def test_a_second_daemon_on_the_same_folder_is_refused(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    status = tmp_path / "status.json"
    first = Watch(tmp_path, inp, "-o", out, "-j", "1", "--status-file", status)
    try:
        first.wait_ready()
        wait_until(status.exists, 60, "the status file")
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "lltd",
                "watch",
                str(inp),
                "-o",
                str(tmp_path / "other"),
                "--status-file",
                str(status),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"lltd: error: another lltd watch is already running on {inp.resolve()} "
            f"(pid {first.process.pid}); it holds {inp.resolve() / '.lltd' / 'lock'} "
            "(several daemons on one folder: --shared, for all)"
        ]
        assert first.process.poll() is None  # the first one goes on
        state = json.loads(status.read_text())  # and its status file is left alone
        assert state["pid"] == first.process.pid and state["state"] == "running"
    finally:
        assert first.stop(signal.SIGINT) == 0, first.stderr


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "lltd", "watch", str(tmp_path / "nope"), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"lltd: error: input folder {tmp_path / 'nope'} does not exist or is not a folder"
    ]


def test_a_deleted_drop_folder_stops_the_daemon_with_an_error(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1")
    watch.wait_ready()
    shutil.rmtree(inp)
    assert watch.stop(signal.SIGCONT, timeout=20) == 1  # SIGCONT: a no-op, we only wait
    assert f"lltd watch: stopped watching {inp.resolve()}" in watch.stderr
    assert "Traceback" not in watch.stderr


def test_sigterm_finishes_the_file_in_flight_and_a_hard_stop_loses_nothing(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    big = png_bytes(7, size=1000)
    write_old(inp / "big.png", big)
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--no-fsync")
    try:
        watch.wait_ready()
        watch.notify.wait_for(lambda f: any("in flight 1" in x for x in f), 20, "work in flight")
    finally:
        code = watch.stop()
    assert code == 0, watch.stderr
    assert (inp / ".lltd" / "done" / "big.png").exists()
    assert np.array_equal(decoded(out / "big.png"), defended_pixels(big))

    # With no time to finish, the file stays in IN and the next start does it.
    write_old(inp / "big2.png", big)
    hard = Watch(tmp_path, inp, "-o", out, "-j", "1", "--stop-timeout", "0")
    try:
        hard.wait_ready()
        hard.notify.wait_for(lambda f: any("in flight 1" in x for x in f), 20, "work in flight")
    finally:
        assert hard.stop() == 0, hard.stderr
    assert (inp / "big2.png").exists() and not (out / "big2.png").exists()
    again = Watch(tmp_path, inp, "-o", out, "-j", "1")
    try:
        again.wait_ready()
        wait_until(lambda: (out / "big2.png").exists(), 30, "big2.png after the restart")
    finally:
        assert again.stop() == 0
    assert temporaries(inp, out) == []


def test_config_file_with_folders_of_their_own(tmp_path: Path) -> None:
    for name in ("flip", "compress"):
        (tmp_path / name / "in").mkdir(parents=True)
    write_old(tmp_path / "flip" / "in" / "a.png", png_bytes(1))
    write_old(tmp_path / "flip" / "in" / "broken.png", b"\x89PNG\r\n\x1a\n truncated")
    write_old(tmp_path / "compress" / "in" / "c.png", png_bytes(2))
    config = tmp_path / "watch.toml"
    config.write_text(
        """
jobs = 1
settle = 200
[[folder]]
input = "flip/in"
output = "flip/out"
action = "flip"
on_success = "delete"
[[folder]]
input = "compress/in"
output = "compress/out"
action = "compress"
quality = 80
""",
        encoding="utf-8",
    )
    watch = Watch(tmp_path, "--config", config)
    flip_out, compress_out = tmp_path / "flip" / "out", tmp_path / "compress" / "out"
    try:
        watch.wait_ready()
        wait_until(
            lambda: (
                (flip_out / "a_f.png").exists()
                and (compress_out / "c.webp").exists()
                and (flip_out / "failed" / "broken.png.error.txt").exists()
            ),
            20,
            "both folders' outputs",
        )
    finally:
        assert watch.stop() == 0, watch.stderr
    original = decoded(tmp_path / "flip" / "in" / ".." / "out" / "a_f.png")
    assert np.array_equal(original, np.asarray(Image.open(io.BytesIO(png_bytes(1))))[:, ::-1])
    assert not (tmp_path / "flip" / "in" / "a.png").exists()  # on_success = "delete"
    assert "broken.png" in (flip_out / "failed" / "broken.png.error.txt").read_text()
    assert (compress_out / "c.webp").read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "compress" / "in" / ".lltd" / "done" / "c.png").exists()
    assert "failed: " in watch.stderr and "Traceback" not in watch.stderr


# -- reliability: a burst, concurrent writers, corrupt files, SIGKILL, restart ----------------

CORRUPT_KINDS = ("random", "truncated", "empty")


def corrupt_bytes(kind: str, seed: int) -> bytes:
    if kind == "random":
        return random.Random(seed).randbytes(700)
    if kind == "truncated":
        data = png_bytes(seed)
        return data[: len(data) // 2]
    return b""


def drop(inp: Path, staging: Path, relative: str, data: bytes, how: str) -> None:
    target = inp / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if how == "direct":
        target.write_bytes(data)
    elif how == "rename":
        part = target.with_name(target.name + ".part")
        part.write_bytes(data)
        part.rename(target)
    elif how == "slow":
        write_slowly(target, data, chunks=4, pause=0.01)
    else:  # moved in from another folder on the same file system
        staged = staging / relative.replace("/", "_")
        staged.write_bytes(data)
        staged.rename(target)


def child_pids(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.slow
def test_burst_with_sigkill_and_restart_gives_exactly_one_output_per_input(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    staging = tmp_path / "staging"
    staging.mkdir()
    good: dict[str, bytes] = {}
    corrupt: dict[str, bytes] = {}
    for i in range(200):  # the backlog, there before the daemon starts
        good[f"backlog/g{i:04d}.png"] = png_bytes(i)
        write_old(inp / f"backlog/g{i:04d}.png", good[f"backlog/g{i:04d}.png"])
    for i in range(10):
        corrupt[f"backlog/bad{i}.png"] = corrupt_bytes(CORRUPT_KINDS[i % 3], i)
        write_old(inp / f"backlog/bad{i}.png", corrupt[f"backlog/bad{i}.png"])
    # 4 writers drop 210 files each: good ones in four manners, a corrupt one now and then.
    plans: list[list[tuple[str, bytes, str]]] = []
    hows = ("direct", "rename", "slow", "moved")
    for writer in range(4):
        plan = []
        for i in range(210):
            seed = 1000 * (writer + 1) + i
            folder = f"w{writer}" if i % 2 else f"w{writer}/sub{i % 3}"
            if i % 30 == 7:
                name = f"{folder}/bad{i}.png"
                corrupt[name] = corrupt_bytes(CORRUPT_KINDS[i % 3], seed)
                plan.append((name, corrupt[name], hows[i % 4]))
            else:
                name = f"{folder}/g{i:04d}.png"
                good[name] = png_bytes(seed)
                plan.append((name, good[name], hows[i % 4]))
        plans.append(plan)
    assert len(good) + len(corrupt) >= 1000

    dropped = threading.Event()
    progress = [0] * 4

    def write_all(index: int) -> None:
        for count, (name, data, how) in enumerate(plans[index], 1):
            drop(inp, staging, name, data, how)
            progress[index] = count
            if count % 20 == 0:
                time.sleep(0.05)  # bursts, so some files land while the daemon is down

    args = (inp, "-o", out, "-j", "2", "--settle", "300", "--rescan", "2", "--quiet")
    first = Watch(tmp_path, *args)
    first.wait_ready()
    writers = [threading.Thread(target=write_all, args=(i,)) for i in range(4)]
    for thread in writers:
        thread.start()
    wait_until(lambda: sum(progress) >= 300, 60, "writers to be under way")
    wait_until(lambda: len(list((inp / ".lltd" / "done").rglob("*.png"))) >= 150, 60, "progress")
    workers = child_pids(first.process.pid)
    assert workers, "no worker processes to kill"
    first.kill()  # SIGKILL, mid-burst, with work in flight
    assert first.process.returncode == -signal.SIGKILL
    # The workers die with the daemon: none may race the next one.
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers),
        60,
        "the killed daemon's workers to die",
    )

    second = Watch(tmp_path, *args)
    try:
        second.wait_ready()
        for thread in writers:
            thread.join(120)
        dropped.set()
        expected_outputs = {str(Path(name).with_suffix(".png")) for name in good}

        def finished() -> bool:
            done = {
                p.relative_to(out).as_posix()
                for p in out.rglob("*.png")
                if "failed" not in p.relative_to(out).parts
            }
            failed = (
                {p.relative_to(out / "failed").as_posix() for p in (out / "failed").rglob("*.png")}
                if (out / "failed").exists()
                else set()
            )
            return done >= expected_outputs and failed >= set(corrupt)

        wait_until(finished, 120, "every dropped file to be done")
        # Nothing more is on its way once the daemon reports an empty queue and nothing in flight.
        second.notify.wait_for(
            lambda f: [x for x in f if x.startswith("STATUS=")][-1].endswith(
                "queued 0, in flight 0"
            ),
            60,
            "an idle daemon",
        )
    finally:
        code = second.stop()
    assert code == 0, second.stderr

    outputs = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "failed" not in p.relative_to(out).parts
    )
    assert outputs == sorted(expected_outputs)  # nothing missing, nothing extra
    for name, data in good.items():
        assert np.array_equal(decoded(out / name), defended_pixels(data)), name
    failed_dir = out / "failed"
    assert sorted(
        p.relative_to(failed_dir).as_posix() for p in failed_dir.rglob("*") if p.is_file()
    ) == sorted([*corrupt, *(f"{n}.error.txt" for n in corrupt)])
    for name, data in corrupt.items():
        assert (failed_dir / name).read_bytes() == data
    # Each input was disposed of exactly once: done/ for good ones, failed/ for bad ones.
    done = sorted(
        p.relative_to(inp / ".lltd" / "done").as_posix()
        for p in (inp / ".lltd" / "done").rglob("*")
        if p.is_file()
    )
    assert done == sorted(good)
    set_aside = sorted(
        p.relative_to(inp / ".lltd" / "failed").as_posix()
        for p in (inp / ".lltd" / "failed").rglob("*")
        if p.is_file()
    )
    assert set_aside == sorted(corrupt)
    assert [p for p in inp.rglob("*") if p.is_file() and ".lltd" not in p.parts] == []
    assert temporaries(inp, out) == []
    assert "Traceback" not in second.stderr
