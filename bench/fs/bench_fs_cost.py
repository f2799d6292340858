"""What the file layer by descriptor costs compress, per 299x299 image (issue 24).

Two measures, side by side, interleaved round by round in fresh processes:

* **per-file CPU of compress, before and after**: the same in-process work (plan the folder,
  then run the compress job on every file, serially, ``-q 60``, Pillow) with the package of a
  commit before the file layer (``--before``, default ``dad496f``: extracted with ``git
  archive`` into ``bench/out``) and with this checkout; ``time.process_time`` over the whole
  plan + convert, divided by the files.
* **the descriptor walk alone**: per file, what the layer adds around the conversion (open the
  input beneath the tree's descriptor and fstat it, create the temporary in the output folder's
  descriptor, publish it with link()+unlink, the seam calls), with no image work, divided by
  the per-file compress CPU above. Target: under 3 %.

``--images N`` (default 200), ``--rounds R`` (default 5). Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from corpus import build_corpus  # noqa: E402

WORK = """
import sys, time, tempfile, shutil
from pathlib import Path
src, rounds_out = Path(sys.argv[1]), Path(sys.argv[2])
from lltd.batch.plan import plan_local
from lltd.codecs import EncodeOptions
from lltd.jobs.compress import CompressJob
out = Path(tempfile.mkdtemp(dir=rounds_out))
job = CompressJob(output_dir=out, options=EncodeOptions(quality=60))
start = time.process_time()
batch = plan_local(src, job)
for task in batch.tasks:
    job(task)
cpu = time.process_time() - start
print(cpu / len(batch.tasks))
shutil.rmtree(out)
"""

WALK = """
import os, sys, time
from pathlib import Path
from lltd.fs.tree import Folder
src, out = Path(sys.argv[1]), Path(sys.argv[2])
names = sorted(n for n in os.listdir(src) if not n.startswith("."))
tree, target = Folder.open(src), Folder.open(out)
start = time.process_time()
for name in names:
    with tree.open_input(name) as opened:
        fd, temp = target.new_temporary(name + ".webp")
        os.close(fd)
        target.publish(temp, name + ".webp", replaces=False)
cpu = time.process_time() - start
for name in names:
    os.unlink(name + ".webp", dir_fd=target.fd)
print(cpu / len(names))
"""


def before_tree(commit: str) -> Path:
    """The package as it was at ``commit`` (git archive), cached under bench/out."""
    folder = REPO / "bench" / "out" / f"lltd-{commit}"
    if not (folder / "lltd").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "lltd"], capture_output=True, check=True
        ).stdout
        with tempfile.TemporaryFile() as handle:
            handle.write(archive)
            handle.seek(0)
            with tarfile.open(fileobj=handle) as tar:
                tar.extractall(folder, filter="data")
    return folder


def run(code: str, package_root: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="dad496f")
    args = parser.parse_args()
    corpus = build_corpus(small=args.images, large=0)
    old = before_tree(args.before)
    scratch = Path(tempfile.mkdtemp(prefix="lltd-bench-fs-"))
    series: dict[str, list[float]] = {"before": [], "after": [], "walk": []}
    try:
        for _ in range(args.rounds):
            series["before"].append(run(WORK, old, str(corpus.small), str(scratch)))
            series["after"].append(run(WORK, REPO, str(corpus.small), str(scratch)))
            walk_out = Path(tempfile.mkdtemp(dir=scratch))
            series["walk"].append(run(WALK, REPO, str(corpus.small), str(walk_out)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in series.items()}
    result = {
        "images": args.images,
        "rounds": args.rounds,
        "before_commit": args.before,
        "per_file_cpu_ms": {k: round(v * 1000, 3) for k, v in medians.items()},
        "after_over_before": round(medians["after"] / medians["before"], 4),
        "walk_share_of_compress": round(medians["walk"] / medians["after"], 4),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
