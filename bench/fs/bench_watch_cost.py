"""What taking the file by descriptor costs ``lltd watch``, per 299x299 image (issue 24 item 2).

The same in-process work, before and after, interleaved round by round in fresh processes: for
each file of a drop folder, what the daemon and its worker do from "settled" to "disposed of" —
the settle signature of the name, then the worker's ``process()`` (open, check, defend with the
watch defaults, fsync, move to ``IN/.lltd/done/``) — with the package of a commit before the
file layer (``--before``, default ``dad496f``, extracted by ``bench_fs_cost.before_tree``) and
with this checkout. ``time.process_time`` over all files, divided by the files. Events, the
dispatcher's queue and the process pool's IPC are the same code before and after and are left
out (``bench/bench_watch.py`` measures them whole).

``--images N`` (default 100), ``--rounds R`` (default 5). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_fs_cost import REPO, before_tree, run  # noqa: E402
from corpus import build_corpus  # noqa: E402

WORK = """
import shutil, sys, tempfile, time
from pathlib import Path
src, scratch = Path(sys.argv[1]), Path(sys.argv[2])
from lltd.batch.scan import Task
from lltd.watch.actions import make_job
from lltd.watch.config import FolderConfig
from lltd.watch.settle import signature
from lltd.watch.worker import WorkItem, process
base = Path(tempfile.mkdtemp(dir=scratch))
inp, out = base / "in", base / "out"
shutil.copytree(src, inp)
out.mkdir()
(inp / ".lltd").mkdir(mode=0o700)
job = make_job(FolderConfig(input=inp, output=out), out)
names = sorted(p.name for p in inp.iterdir() if p.is_file())
by_descriptor = "expect" in WorkItem.__dataclass_fields__
start = time.process_time()
for name in names:
    source = inp / name
    settled = signature(source)
    extra = {"expect": settled} if by_descriptor else {}
    item = WorkItem(
        job=job, task=Task(source, Path(name), out / Path(name).with_suffix(".png")),
        on_success="move", state_dir=inp / ".lltd", quarantine_dir=out / "failed",
        input_root=inp, output_root=out, **extra,
    )
    done = process(item)
    assert done.disposed.startswith("moved:"), done
cpu = time.process_time() - start
shutil.rmtree(base)
print(cpu / len(names))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="dad496f")
    args = parser.parse_args()
    corpus = build_corpus(small=args.images, large=0)
    old = before_tree(args.before)
    scratch = Path(tempfile.mkdtemp(prefix="lltd-bench-watch-"))
    series: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        series["before"].append(run(WORK, old, str(corpus.small), str(scratch)))
        series["after"].append(run(WORK, REPO, str(corpus.small), str(scratch)))
    medians = {name: statistics.median(values) for name, values in series.items()}
    result = {
        "images": args.images,
        "rounds": args.rounds,
        "before_commit": args.before,
        "per_file_cpu_ms": {k: round(v * 1000, 3) for k, v in medians.items()},
        "all_rounds_ms": {k: [round(v * 1000, 2) for v in vs] for k, vs in series.items()},
        "after_over_before": round(medians["after"] / medians["before"], 4),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
