"""``lltd serve`` under load (issue 14), on loopback, with ``hey`` (Debian's package).

One run, side by side, on the same cores:

* **The libwebp defend limit**: the CPU time of one request's work done in-process (decode the
  PNG, WebP round trip at q60, flip, encode the PNG answer) divided into the cores: the most
  images/s the machine could defend with no HTTP at all. The same work is also mapped over a
  warm pool of threads and a warm pool of processes (why the server uses threads).
* **Saturation**: ``hey`` posts the image with enough concurrency to keep every thread busy
  for ``--duration`` seconds; throughput as a fraction of the limit (target >= 0.75), and of
  the warm thread pool. On a machine other jobs load, wall-clock rates mean little, so the
  server's own CPU per request is measured too: "CPU efficiency" = the limit's CPU per image /
  the server's CPU per request, the fraction of the limit a machine whose cores were all the
  server's would reach.
* **Latency**: one client, one request at a time (the single-request latency), then ``hey`` at
  half the saturation rate: p50 and p99 (target p99 <= 3 x the single-request p50).
* **Memory**: RSS of the server after 1,000 requests and after ``--leak-requests`` (100,000)
  requests of a small PNG (small so that 100,000 requests take minutes, not an hour; the path is
  the same): within 10 % (no leak). Then a flood: 300 clients at once; RSS afterwards.

Both 299x299 and 224x224 PNGs (from the deterministic corpus of bench/corpus.py). hey runs on
the same cores as the server and takes its share of them; the limit does not pay for it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from corpus import build_corpus
from PIL import Image
from timing import OUT, cores, fresh_dir, lltd_argv, machine_note, table

from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings
from lltd.serve.kernel import defend_bytes

SETTINGS = DefenseSettings()


def work(data: bytes) -> int:
    return len(defend_bytes(data, SETTINGS, DEFAULT_MAX_PIXELS, False).data)


def cpu_per_image(data: bytes, count: int) -> float:
    work(data)
    start = time.process_time()
    for _ in range(count):
        work(data)
    return (time.process_time() - start) / count


def pool_rate(pool: ThreadPoolExecutor | ProcessPoolExecutor, data: bytes, count: int) -> float:
    list(pool.map(work, [data] * (2 * cores())))  # warm
    start = time.perf_counter()
    list(pool.map(work, [data] * count))
    return count / (time.perf_counter() - start)


def hey(url: str, body: Path, *args: str) -> dict[str, float]:
    """Run hey; throughput and latency percentiles from its per-request CSV (hey's own summary
    leaves out p99 on short runs)."""
    argv = ["hey", "-m", "POST", "-T", "image/png", "-D", str(body), "-t", "60", "-o", "csv"]
    out = subprocess.run([*argv, *args, url], capture_output=True, text=True, check=True).stdout
    rows = [line.split(",") for line in out.splitlines()[1:] if line and line[0].isdigit()]
    ok = sorted(float(r[0]) for r in rows if r[6] == "200")
    span = max((float(r[7]) + float(r[0]) for r in rows), default=0.0)

    def pct(q: float) -> float:
        return ok[min(len(ok) - 1, int(q * len(ok)))] if ok else float("nan")

    return {
        "rate": len(ok) / span if span else 0.0,
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "ok": float(len(ok)),
        # answers other than 200, plus requests that got none (hey writes no CSV row for those)
        "other": float(len(rows) - len(ok)),
    }


def cpu_seconds(pid: int) -> float:
    """user + sys CPU of the server process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def start_server(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*lltd_argv(), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on (http://\S+)", line)
    if not found:
        process.kill()
        raise SystemExit(f"bench: lltd serve did not start: {line!r}")
    return process, found[1]


def png_file(folder: Path, image: Image.Image, name: str) -> Path:
    path = folder / name
    image.save(path, format="PNG")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per hey run")
    parser.add_argument("--leak-requests", type=int, default=100_000)
    parser.add_argument("--limit-images", type=int, default=60)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("bench: hey is not installed (apt-get install hey)")
    print(machine_note())
    n = cores()
    folder = fresh_dir("serve")
    with Image.open(build_corpus().files("small")[0]) as source:
        source = source.convert("RGB")
        bodies = {
            "299x299": png_file(folder, source, "299.png"),
            "224x224": png_file(
                folder, source.resize((224, 224), Image.Resampling.LANCZOS), "224.png"
            ),
        }
        tiny = png_file(folder, source.resize((32, 32), Image.Resampling.LANCZOS), "32.png")

    report: dict[str, object] = {"cores": n, "load_at_start": os.getloadavg()}
    rows = []
    server, url = start_server()
    endpoint = f"{url}/v1/defend"
    try:
        for size, body in bodies.items():
            data = body.read_bytes()
            per_image = cpu_per_image(data, args.limit_images)
            limit = n / per_image
            with ThreadPoolExecutor(n) as threads:
                thread_rate = pool_rate(threads, data, 4 * args.limit_images)
            with ProcessPoolExecutor(n) as processes:
                process_rate = pool_rate(processes, data, 4 * args.limit_images)
            single = hey(endpoint, body, "-n", "200", "-c", "1")
            cpu_before = cpu_seconds(server.pid)
            saturated = hey(endpoint, body, "-z", f"{args.duration}s", "-c", str(4 * n))
            server_cpu = (cpu_seconds(server.pid) - cpu_before) / max(1.0, saturated["ok"])
            half = saturated["rate"] / 2
            workers = 4
            paced = hey(
                endpoint, body, "-z", f"{args.duration}s", "-c", str(workers),
                "-q", f"{half / workers:.2f}",
            )  # fmt: skip
            entry = {
                "cpu_ms_per_image": per_image * 1000,
                "limit_per_s": limit,
                "threads_per_s": thread_rate,
                "processes_per_s": process_rate,
                "single": single,
                "saturated": saturated,
                "half_rate": paced,
                "fraction_of_limit": saturated["rate"] / limit,
                "fraction_of_thread_pool": saturated["rate"] / thread_rate,
                # Load-proof: the kernel's CPU per image over the server's CPU per request (the
                # fraction of the limit a CPU-bound machine would reach, hey's own CPU aside).
                "server_cpu_ms_per_request": server_cpu * 1000,
                "cpu_efficiency": per_image / server_cpu if server_cpu else float("nan"),
                "p99_over_single": paced["p99"] / single["p50"],
            }
            report[size] = entry
            rows.append(
                [
                    size, f"{per_image * 1000:.1f}", f"{limit:.1f}", f"{thread_rate:.1f}",
                    f"{process_rate:.1f}", f"{saturated['rate']:.1f}",
                    f"{entry['fraction_of_limit']:.2f}",
                    f"{entry['fraction_of_thread_pool']:.2f}", f"{server_cpu * 1000:.1f}",
                    f"{entry['cpu_efficiency']:.2f}", f"{single['p50'] * 1000:.1f}",
                    f"{paced['rate']:.1f}", f"{paced['p50'] * 1000:.1f}",
                    f"{paced['p99'] * 1000:.1f}", f"{entry['p99_over_single']:.2f}",
                    int(saturated["other"] + paced["other"]),
                ]
            )  # fmt: skip
        print()
        print(
            table(
                [
                    "image", "CPU ms/img", "limit img/s", "threads img/s", "processes img/s",
                    "saturated req/s", "of limit", "of thread pool", "server CPU ms/req",
                    "CPU efficiency", "single p50 ms",
                    "half-rate req/s", "p50 ms", "p99 ms", "p99 / single", "non-200",
                ],
                rows,
            )
        )  # fmt: skip
        # Memory: 1,000 requests, then the rest of --leak-requests.
        first = 1000
        hey(endpoint, tiny, "-n", str(first), "-c", str(4 * n))
        rss_first = rss_kib(server.pid)
        start = time.perf_counter()
        rest = hey(endpoint, tiny, "-n", str(args.leak_requests - first), "-c", str(4 * n))
        rss_last = rss_kib(server.pid)
        report["memory"] = {
            "rss_kib_after_1000": rss_first,
            f"rss_kib_after_{args.leak_requests}": rss_last,
            "growth": rss_last / rss_first - 1,
            "requests_per_s": rest["rate"],
            "non_200": rest["other"],
            "seconds": time.perf_counter() - start,
        }
        print()
        # A flood: far more concurrent clients than threads + queue (and than --max-connections).
        flood = hey(endpoint, bodies["299x299"], "-z", f"{args.duration}s", "-c", "300")
        rss_flood = rss_kib(server.pid)
        report["flood"] = {"clients": 300, **flood, "rss_kib_after": rss_flood}
        growth = (rss_last / rss_first - 1) * 100
        print(
            f"RSS after {first} requests: {rss_first / 1024:.1f} MiB; after "
            f"{args.leak_requests}: {rss_last / 1024:.1f} MiB ({growth:+.1f} %; "
            f"32x32 PNG at {rest['rate']:.0f} req/s, {int(rest['other'])} non-200)"
        )
        print(
            f"Flood of 300 clients for {args.duration} s (299x299): {int(flood['ok'])} answered "
            f"200 ({flood['rate']:.1f}/s, p99 {flood['p99'] * 1000:.0f} ms), "
            f"{int(flood['other'])} other answers (503); RSS afterwards {rss_flood / 1024:.1f} MiB"
        )
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(60)
    report["load_at_end"] = os.getloadavg()
    OUT.mkdir(exist_ok=True)
    (OUT / "serve.json").write_text(json.dumps(report, indent=2))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at end {load}; {OUT / 'serve.json'}")


if __name__ == "__main__":
    sys.exit(main())
