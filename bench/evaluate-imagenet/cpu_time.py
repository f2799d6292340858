"""Why CPU time depends on the machine's load: one fixed workload (10 plain PGD steps on the 20
seed images, EfficientNet-Lite0), its CPU time (user + system, getrusage) and wall time.

Usage (from the repository root; run it once per setting, each in a fresh process, since the
OpenMP runtime reads its environment when torch loads):

    OMP_WAIT_POLICY=PASSIVE python bench/evaluate-imagenet/cpu_time.py THREADS [REPEATS]

Prints one line: threads, wait policy, CPU seconds, wall seconds, voluntary and involuntary
context switches, the load average before and after.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

threads = int(sys.argv[1])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
seed = Path(os.environ.get("SEED_DATA", "../shared/seed-data"))

from lltd.common.allocator import keep_freed_memory  # noqa: E402

keep_freed_memory()
import torch  # noqa: E402

torch.set_num_threads(threads)
from lltd.evaluate.data import load_folder  # noqa: E402
from lltd.evaluate.pgd import pgd  # noqa: E402
from lltd.models import EFFICIENTNET_LITE0, load_pixel_classifier, read_synset_words  # noqa: E402

classifier = load_pixel_classifier(EFFICIENTNET_LITE0, device="cpu")
data = load_folder(seed / "original", read_synset_words(seed / "synset_words.txt"), 224)
pgd(classifier.model, None, data.images[:2], data.labels[:2], 4 / 255, steps=1)  # warm up
load_before = os.getloadavg()[0]
for _ in range(repeats):
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    # No image leaves early: a budget of 0 levels breaks none of the 20, so every run is 10 steps.
    pgd(classifier.model, None, data.images, data.labels, 0.5 / 255, steps=10)
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - started
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    print(
        f"threads {threads} {os.environ.get('OMP_WAIT_POLICY', '-')}: cpu {cpu:.2f} s, wall "
        f"{wall:.2f} s, switches {after.ru_nvcsw - before.ru_nvcsw} voluntary "
        f"{after.ru_nivcsw - before.ru_nivcsw} involuntary, load {load_before:.1f} -> "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
