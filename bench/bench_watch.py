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

    def tree(self) -> list[int]:
        """The daemon and every descendant (workers, resource tracker)."""
        found, pending = [], [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                # Children are listed per thread: workers are spawned by a daemon thread.
                children = [c for task in Path(f"/proc/{pid}/task").iterdir()
                            for c in (task / "children").read_text().split()]  # fmt: skip
            except OSError:
                continue
            found.append(pid)
            pending.extend(int(child) for child in children)
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.tree():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += int(status.split("VmRSS:")[1].split()[0])
        return total / 1024

    def cpu(self) -> float:
        """User + system seconds of the live processes of the tree."""
        total = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

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
    cpu0, start = daemon.cpu(), time.perf_counter()
    for staged in names:
        staged.rename(daemon.inp / staged.name)
    daemon.arrivals.wait(set(names.values()), 300)
    end = max(daemon.arrivals.seen[name] for name in names.values())
    return Sample(end - start, daemon.cpu() - cpu0)


def throughput(files: list[Path], copies: int, rounds: int) -> list[list[object]]:
    folder = batch_folder(files, copies)
    n = len(list(folder.iterdir()))
    jobs = str(cores())
    durable = Daemon(fresh_dir("watch-throughput"), "-j", jobs, "--worker-idle", "600")
    fast = Daemon(fresh_dir("watch-throughput-nofsync"), "-j", jobs, "--worker-idle", "600",
                  "--no-fsync")  # fmt: skip
    results: dict[str, list[Sample]] = {"lltd defend": [], "lltd watch": [],
                                        "lltd watch --no-fsync": []}  # fmt: skip
    try:
        warm_up(durable, files)
        warm_up(fast, files)
        defend_run(folder)  # warm-up: page cache, .pyc
        for round_index in range(rounds):
            results["lltd defend"].append(defend_run(folder))
            results["lltd watch"].append(watch_run(durable, folder, round_index))
            results["lltd watch --no-fsync"].append(watch_run(fast, folder, round_index))
    finally:
        durable.stop()
        fast.stop()
    base = n / statistics.median(s.wall for s in results["lltd defend"])
    rows: list[list[object]] = []
    for label, samples in results.items():
        walls = [s.wall for s in samples]
        rate = n / statistics.median(walls)
        cpu_ms = statistics.median(s.cpu for s in samples) / n * 1000
        rows.append([label, n, statistics.median(walls), min(walls), rate, rate / base, cpu_ms])
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
    parser.add_argument("--rates", default="50,10",
                        help="files per second of the latency runs, comma-separated")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a latency run")
    parser.add_argument("--copies", type=int, default=3, help="corpus copies per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = build_corpus().files("small")
    print(f"# lltd watch, {len(files)} images of 299x299; {machine_note()}\n")

    lats = [latency(files, rate, int(rate * args.seconds))
            for rate in (float(r) for r in args.rates.split(","))]  # fmt: skip
    print(f"## Latency, close to output in place (-j {cores()}, fsync on)\n")
    print(table(
        ["files/s", "files", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"],
        [[x["rate"], x["files"], x["p50_ms"], x["p90_ms"], x["p99_ms"], x["max_ms"], x["mean_ms"]]
         for x in lats],
    ))  # fmt: skip

    rows = throughput(files, args.copies, args.rounds)
    print(f"\n## Sustained throughput, {args.rounds} interleaved rounds (-j {cores()})\n")
    print(table(["variant", "files", "median s", "best s", "files/s", "vs defend",
                 "CPU ms/file"], rows))  # fmt: skip

    mem = memory(files, idle=3.0)
    print("\n## Memory (RSS of the daemon and all its processes, MB)\n")
    print(
        table(
            ["at start (no workers)", "right after work", "after --worker-idle"],
            [[mem["idle_at_start_mb"], mem["after_work_mb"], mem["idle_after_mb"]]],
        )
    )
    report = {"latency": lats, "throughput": rows, "memory": mem, "machine": machine_note()}
    (OUT / "watch.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
