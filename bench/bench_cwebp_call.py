"""Per-call cost of ``lltd cwebp`` against cwebp itself, as a shell loop calls them.

Paired runs: in every round, each variant encodes the same 299x299 PNG once (``-q 60``, a fresh
output file), one after the other, so a burst of background load hits all of them alike. The
figure is the median over rounds of each variant's wall time divided by cwebp's in the same round.

Variants: ``cwebp`` itself; ``lltd cwebp`` through a console script exactly as pip writes it for
``lltd.cli:main`` (default pillow backend, and ``--backend cwebp``); ``python -m lltd cwebp``; and
the floor under any Python implementation: ``python -c pass``, ``python -I -S -c pass`` (no site,
no editable-install finder) and ``python -c 'from PIL import Image, PngImagePlugin,
WebPImagePlugin'``, plus typer's import for scale.

Target (issue 15): ``lltd cwebp`` within 2.5x of cwebp's wall time per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import OUT, cwebp_binary, machine_note, table

ROOT = Path(__file__).resolve().parents[1]

CONSOLE_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from lltd.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def console_script() -> Path:
    """What ``pip install`` writes for ``lltd = "lltd.cli:main"`` (pyproject's entry point)."""
    path = OUT / "bin" / "lltd"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONSOLE_SCRIPT.format(python=sys.executable))
    path.chmod(0o755)
    return path


def variants(source: Path, out: Path) -> dict[str, list[str]]:
    script, python = str(console_script()), sys.executable
    target = str(out / "out.webp")
    encode = ["-q", "60", str(source), "-o", target]
    pil = "from PIL import Image, PngImagePlugin, WebPImagePlugin"
    return {
        "cwebp": [cwebp_binary(), "-quiet", *encode],
        "lltd cwebp (pillow)": [script, "cwebp", *encode],
        "lltd cwebp --backend cwebp": [script, "cwebp", "--backend", "cwebp", *encode],
        "python -m lltd cwebp": [python, "-m", "lltd", "cwebp", *encode],
        "python -c pass": [python, "-c", "pass"],
        "python -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
        "python: import PIL (png, webp)": [python, "-c", pil],
        "python: import typer": [python, "-c", "import typer"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    source = ROOT / "sample_data" / "astronaut.png"  # a 299x299 RGB PNG
    out = OUT / "cwebp-call"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = variants(source, out)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(args.rounds + 2):  # two warm-up rounds (page cache, .pyc)
        for name, argv in runs.items():
            (out / "out.webp").unlink(missing_ok=True)
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
            if round_index >= 2:
                times[name].append(time.perf_counter() - start)
    cwebp = times["cwebp"]
    rows = []
    for name, samples in times.items():
        ratios = [t / c for t, c in zip(samples, cwebp, strict=True)]
        rows.append([name, statistics.median(samples) * 1e3, min(samples) * 1e3,
                     statistics.median(ratios)])  # fmt: skip
    print(f"# bench_cwebp_call\n\n{machine_note()}; {args.rounds} paired rounds; input "
          f"{source.name} (299x299 PNG, {source.stat().st_size} bytes)\n")  # fmt: skip
    print(table(["variant", "median ms", "best ms", "x cwebp (median of pairs)"], rows))
    lltd = statistics.median(
        t / c for t, c in zip(times["lltd cwebp (pillow)"], cwebp, strict=True)
    )
    print(f"\nlltd cwebp (pillow) per call: {lltd:.2f}x cwebp   [target <= 2.5x]")


if __name__ == "__main__":
    main()
