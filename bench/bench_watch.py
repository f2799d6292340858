"""Speed and footprint of ``lltd watch`` (issue 6), on the 299x299 corpus.

* Latency: files are written into the drop folder at a steady rate (50 files/s by default) and
  the time from each file's close to its output being renamed into place (seen by inotify on
  OUT) is recorded: p50, p90, p99, max.
* Sustained throughput: a batch of files is renamed into IN at once (a running daemon, warm
  workers) and timed until the last output is in place; ``lltd defend`` (the real CLI, a
  subprocess, start-up included) runs on the same files, interleaved. Target: watch >= 0.9 of
  defend. The daemon fsyncs each output before disposing of its input; ``--no-fsync`` shows
  what that costs.
* Idle memory: RSS of the daemon and all its descendants right after start-up, right after
  work (workers alive), and once idle workers have exited (``--worker-idle``). Target: < 80 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path

from corpus import build_corpus
from timing import OUT, Sample, cores, fresh_dir, lltd_argv, machine_note, run_timed, table
from watchdog.events import FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class Arrivals(FileSystemEventHandler):
    """When each output appeared (lltd renames a temporary file into place)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.changed = threading.Condition()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent) and event.dest_path:
            now = time.perf_counter()
            with self.changed:
                self.seen.setdefault(os.path.basename(os.fsdecode(event.dest_path)), now)
                self.changed.notify_all()

    def wait(self, names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not names <= self.seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = len(names - self.seen.keys())
                    raise SystemExit(f"bench: {missing} outputs missing after {timeout} s")
                self.changed.wait(left)


class Daemon:
    """``lltd watch IN -o OUT`` as a subprocess, ready once it sends READY=1."""

    def __init__(self, root: Path, *extra: str) -> None:
        self.inp, self.out = root / "in", root / "out"
        self.inp.mkdir(parents=True)
        self.out.mkdir(parents=True)
        self.arrivals = Arrivals()
        self.observer = Observer()
        self.observer.schedule(self.arrivals, str(self.out), recursive=True)
        self.observer.start()
        name = f"lltd-bench-{os.getpid()}-{time.monotonic_ns()}"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind("\0" + name)
        notify.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": "@" + name}
        argv = [*lltd_argv(), "watch", str(self.inp), "-o", str(self.out), "--quiet", *extra]
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        while b"READY=1" not in notify.recv(4096):
            pass
        self.reader = threading.Thread(target=self._drain, args=(notify,), daemon=True)
        self.reader.start()

    @staticmethod
    def _drain(notify: socket.socket) -> None:
        notify.settimeout(None)
        while True:
            try:
                notify.recv(4096)
            except OSError:
                return

    def rss_mb(self) -> float:
        """RSS of the daemon and every descendant (workers, resource tracker), in MB."""
        total, pending = 0, [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                # Children are listed per thread: workers are spawned by a daemon thread.
                children = [c for task in Path(f"/proc/{pid}/task").iterdir()
                            for c in (task / "children").read_text().split()]  # fmt: skip
            except OSError:
                continue
            total += int(status.split("VmRSS:")[1].split()[0])
            pending.extend(int(child) for child in children)
        return total / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(60) != 0:
            raise SystemExit(f"bench: lltd watch exited {self.process.returncode}")
        self.observer.stop()
        self.observer.join()


def warm_up(daemon: Daemon, files: list[Path], count: int = 10) -> None:
    names = set()
    for i, source in enumerate(files[:count]):
        stem = f"warm{i:03d}"
        shutil.copyfile(source, daemon.inp / f"{stem}{source.suffix}")
        names.add(f"{stem}.png")  # defend's default output: <stem>.png
    daemon.arrivals.wait(names, 60)


def latency(files: list[Path], rate: float, count: int) -> dict[str, float]:
    daemon = Daemon(fresh_dir("watch-latency"), "-j", str(cores()))
    try:
        warm_up(daemon, files)
        payloads = [(p.suffix, p.read_bytes()) for p in files]
        closed: dict[str, float] = {}
        start = time.perf_counter()
        for i in range(count):
            due = start + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            suffix, data = payloads[i % len(payloads)]
            stem = f"lat{i:05d}"
            with open(daemon.inp / f"{stem}{suffix}", "wb") as handle:
                handle.write(data)
            closed[f"{stem}.png"] = time.perf_counter()
        achieved = count / (time.perf_counter() - start)
        daemon.arrivals.wait(set(closed), 120)
    finally:
        daemon.stop()
    delays = sorted((daemon.arrivals.seen[name] - t) * 1000 for name, t in closed.items())

    def pct(q: float) -> float:
        return delays[min(len(delays) - 1, round(q * (len(delays) - 1)))]

    return {
        "files": count, "rate": achieved, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
        "p99_ms": pct(0.99), "max_ms": delays[-1], "mean_ms": statistics.fmean(delays),
    }  # fmt: skip


def batch_folder(files: list[Path], copies: int) -> Path:
    folder = OUT / "runs" / "watch-batch-input"
    if folder.exists() and len(list(folder.iterdir())) == len(files) * copies:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for copy in range(copies):
        for source in files:
            shutil.copyfile(source, folder / f"c{copy}_{source.name}")
    return folder


def defend_run(folder: Path) -> Sample:
    out = fresh_dir("watch-defend-out")
    argv = [*lltd_argv(), "defend", str(folder), "-o", str(out), "-j", str(cores()), "--quiet"]
    return run_timed(argv)


def watch_run(daemon: Daemon, folder: Path, round_index: int) -> Sample:
    """Stage the batch in a dot-folder inside IN (ignored), then rename it all into IN."""
    stage = daemon.inp / ".stage"
    stage.mkdir(exist_ok=True)
    names = {}
    for source in sorted(folder.iterdir()):
        staged = stage / f"r{round_index}_{source.name}"
        shutil.copyfile(source, staged)
        names[staged] = f"r{round_index}_{source.stem}.png"
    start = time.perf_counter()
    for staged in names:
        staged.rename(daemon.inp / staged.name)
    daemon.arrivals.wait(set(names.values()), 300)
    end = max(daemon.arrivals.seen[name] for name in names.values())
    return Sample(end - start, 0.0)


def throughput(files: list[Path], copies: int, rounds: int) -> list[list[object]]:
    folder = batch_folder(files, copies)
    n = len(list(folder.iterdir()))
    jobs = str(cores())
    durable = Daemon(fresh_dir("watch-throughput"), "-j", jobs, "--worker-idle", "600")
    fast = Daemon(fresh_dir("watch-throughput-nofsync"), "-j", jobs, "--worker-idle", "600",
                  "--no-fsync")  # fmt: skip
    results: dict[str, list[float]] = {"lltd defend": [], "lltd watch": [],
                                       "lltd watch --no-fsync": []}  # fmt: skip
    try:
        warm_up(durable, files)
        warm_up(fast, files)
        defend_run(folder)  # warm-up: page cache, .pyc
        for round_index in range(rounds):
            results["lltd defend"].append(defend_run(folder).wall)
            results["lltd watch"].append(watch_run(durable, folder, round_index).wall)
            results["lltd watch --no-fsync"].append(watch_run(fast, folder, round_index).wall)
    finally:
        durable.stop()
        fast.stop()
    base = n / statistics.median(results["lltd defend"])
    rows: list[list[object]] = []
    for label, walls in results.items():
        rate = n / statistics.median(walls)
        rows.append([label, n, statistics.median(walls), min(walls), rate, rate / base])
    return rows


def memory(files: list[Path], idle: float) -> dict[str, float]:
    daemon = Daemon(fresh_dir("watch-memory"), "-j", str(cores()), "--worker-idle", str(idle))
    try:
        time.sleep(1)
        at_start = daemon.rss_mb()
        warm_up(daemon, files, count=50)
        busy = daemon.rss_mb()
        time.sleep(idle + 1.5)
        after_idle = daemon.rss_mb()
    finally:
        daemon.stop()
    return {"idle_at_start_mb": at_start, "after_work_mb": busy, "idle_after_mb": after_idle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="files per second (latency)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency run")
    parser.add_argument("--copies", type=int, default=3, help="corpus copies per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = build_corpus().files("small")
    print(f"# lltd watch, {len(files)} images of 299x299; {machine_note()}\n")

    lat = latency(files, args.rate, int(args.rate * args.seconds))
    print(f"## Latency, close to output in place, {lat['rate']:.1f} files/s for "
          f"{lat['files']} files (-j {cores()}, fsync on)\n")  # fmt: skip
    print(
        table(
            ["p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"],
            [[lat["p50_ms"], lat["p90_ms"], lat["p99_ms"], lat["max_ms"], lat["mean_ms"]]],
        )
    )

    rows = throughput(files, args.copies, args.rounds)
    print(f"\n## Sustained throughput, {args.rounds} interleaved rounds (-j {cores()})\n")
    print(table(["variant", "files", "median s", "best s", "files/s", "vs defend"], rows))

    mem = memory(files, idle=3.0)
    print("\n## Memory (RSS of the daemon and all its processes, MB)\n")
    print(
        table(
            ["at start (no workers)", "right after work", "after --worker-idle"],
            [[mem["idle_at_start_mb"], mem["after_work_mb"], mem["idle_after_mb"]]],
        )
    )
    report = {"latency": lat, "throughput": rows, "memory": mem, "machine": machine_note()}
    (OUT / "watch.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
