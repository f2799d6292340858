"""Peak resident memory per decoded pixel of one ``POST /v1/defend`` (issue 24, item 5).

Each measurement runs in a fresh process: it imports the service's kernel, reads the request
body into memory (the body is accounted for separately, by ``--max-bytes``), resets the peak of
its resident set (``/proc/self/clear_refs``), runs :func:`lltd.serve.kernel.defend_bytes`
exactly as a worker thread does (decode, defense, encode of the answer, which the request holds
until it is sent) and reads the peak (``VmHWM``). The growth divided by the image's pixels is
the cost per pixel that ``--max-inflight-pixels`` budgets. Pixels are noise (the answer's PNG is
then as large as it gets), in every mode the decoder can hand the kernel, at several sizes.

    .venv/bin/python bench/serve/peak_rss.py [--sizes 2000 5000] [--modes RGB] [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

MODES = ("RGB", "RGBA", "L", "I;16", "P")
CHILD = r"""
import gc, json, sys
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings
from lltd.serve.kernel import defend_bytes
body = open(sys.argv[1], "rb").read()
webp = sys.argv[2] == "webp"
settings = DefenseSettings(**json.loads(sys.argv[3]))
def rss(field):
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith(field + ":"))
gc.collect()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset VmHWM (the peak) to the current RSS: imports' transients are gone
before = rss("VmRSS")
answer = defend_bytes(body, settings, DEFAULT_MAX_PIXELS, webp)
after = rss("VmHWM")
print(json.dumps({"before_kib": before, "after_kib": after, "answer": len(answer.data)}))
"""


def noise_image(mode: str, side: int) -> bytes:
    rng = np.random.default_rng(side)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (side, side), dtype=np.uint16))
    else:
        channels = {"RGB": 3, "RGBA": 4}.get(mode, 1)
        shape = (side, side, channels) if channels > 1 else (side, side)
        array = rng.integers(0, 256, shape, dtype=np.uint8)
        if mode == "RGBA":
            array[..., 3] = 128  # transparency: the kernel keeps RGBA
        image = Image.fromarray(array, "L" if mode == "P" else mode)
        if mode == "P":
            image = image.convert("P")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def measure(body: Path, webp: bool, settings: dict[str, object]) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(body), "webp" if webp else "png", json.dumps(settings)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 3000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--modes", nargs="+", default=MODES, help="input modes to measure")
    args = parser.parse_args()
    variants = [(mode, False, {}) for mode in args.modes]
    variants += [(mode, True, {}) for mode in ("RGB", "RGBA") if mode in args.modes]
    if "RGB" in args.modes:
        variants.append(("RGB", False, {"resize_pad": 0.1, "seed": 1}))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode, webp, settings in variants:
            points = []
            for side in args.sizes:
                body = Path(tmp) / "body.png"
                body.write_bytes(noise_image(mode, side))
                got = measure(body, webp, settings)
                growth = (got["after_kib"] - got["before_kib"]) * 1024
                points.append((side * side, growth))
                print(mode, webp, settings, side, growth / (side * side), flush=True)
            (p0, g0), (p1, g1) = points[0], points[-1]
            rows.append(
                {
                    "mode": mode,
                    "answer": "webp" if webp else "png",
                    "settings": settings,
                    "points": points,
                    "bytes_per_pixel_largest": points[-1][1] / points[-1][0],
                    "slope_bytes_per_pixel": (g1 - g0) / (p1 - p0),
                }
            )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {"sizes": args.sizes, "rows": rows, "largest_child_maxrss_kib": peak}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peak_rss.json").write_text(json.dumps(result, indent=1) + "\n")
    for row in rows:
        print(
            f"{row['mode']:5} {row['answer']:4} {json.dumps(row['settings']):32} "
            f"slope {row['slope_bytes_per_pixel']:6.2f} B/px, "
            f"at the largest {row['bytes_per_pixel_largest']:6.2f} B/px"
        )


if __name__ == "__main__":
    main()
