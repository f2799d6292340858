"""Page faults of reallocation with and without ``lltd.common.allocator.keep_freed_memory``.

A 64 MiB buffer is allocated, written and freed 20 times in a fresh process, once with glibc's
defaults and once with freed memory kept; the minor page faults of the first round and of the 19
others are printed side by side, with their ratio. (Moved here from tests/test_allocator.py: the
counts move with memory pressure and transparent huge pages, so a loaded machine made the old
assertion fail; the test now checks glibc's own accounting instead.)

    .venv/bin/python bench/bench_allocator.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

_FAULTS = """
import resource, sys
import numpy as np
from lltd.common.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
np.ones(1 << 20)  # numpy's own first-use allocations, outside the count
counts = [resource.getrusage(resource.RUSAGE_SELF).ru_minflt]
for _ in range(20):
    buffer = np.ones(64 << 17)  # 64 MiB of float64, every page written
    del buffer
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
print(counts[1] - counts[0], counts[-1] - counts[1])
"""


def faults(mode: str) -> tuple[int, int]:
    env = dict(os.environ)
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("run | default: first, 19 others | kept: first, 19 others | ratio of totals")
    for run in range(args.runs):  # interleaved, so both see the same machine
        default_first, default_rest = faults("default")
        kept_first, kept_rest = faults("keep")
        ratio = (default_first + default_rest) / max(1, kept_first + kept_rest)
        print(
            f"{run + 1} | {default_first}, {default_rest} | {kept_first}, {kept_rest} | "
            f"{ratio:.1f}x"
        )


if __name__ == "__main__":
    main()
