"""How often a daemon's main loop ignores SIGTERM: the old handler (``Event.set()``) against
lltd's (:class:`lltd.watch.stopping.StopRequest`, a flag).

Each trial starts a process whose main thread loops on ``wait(WAIT)`` as the watch daemon's does
(``TICK`` = 0.05 s; 0 makes the loop spend most of its time inside the wait's lock, where the
race is), sends SIGTERM at a random moment and counts the process as deaf if it has not exited
5 s later. Usage: ``bench/bench_stop_signal.py [--trials N] [--wait S] [--handler event|flag]``.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LOOPS = {
    "event": """
import signal, threading
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("ready", flush=True)
while not stop.wait({wait}):
    sum(range(2000))
""",
    "flag": """
from lltd.watch.stopping import StopRequest
stop = StopRequest()
stop.install()
print("ready", flush=True)
while not stop.wait({wait}):
    sum(range(2000))
""",
}


def trial(code: str) -> bool:
    """True when the process ignored SIGTERM for 5 s (it is then killed)."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout is not None
    process.stdout.readline()
    time.sleep(random.uniform(0.0, 0.1))
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--handler", choices=sorted(LOOPS), default="event")
    args = parser.parse_args()
    code = LOOPS[args.handler].format(wait=args.wait)
    deaf = sum(trial(code) for _ in range(args.trials))
    print(f"{args.handler}, wait({args.wait:g}): {deaf} of {args.trials} ignored SIGTERM for 5 s")


if __name__ == "__main__":
    main()
