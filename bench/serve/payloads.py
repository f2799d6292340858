"""What building the model server's request costs, per protocol, for the defended astronaut
(299x299): time and peak memory (tracemalloc) of each body, and the UINT8 body as
``json.dumps`` of a list would build it, side by side.

    nice -n 19 .venv/bin/python bench/serve/payloads.py
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings
from lltd.serve import payloads
from lltd.serve.kernel import defend_bytes

SOURCE = Path(__file__).resolve().parents[2] / "sample_data" / "astronaut.png"


def measure(build: Callable[[], bytes], rounds: int = 20) -> tuple[float, int, int]:
    tracemalloc.start()
    size = len(build())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    start = time.perf_counter()
    for _ in range(rounds):
        build()
    return (time.perf_counter() - start) / rounds * 1000, peak, size


def main() -> None:
    data, settings = SOURCE.read_bytes(), DefenseSettings()
    png = defend_bytes(data, settings, DEFAULT_MAX_PIXELS, False)
    rgb = defend_bytes(data, settings, DEFAULT_MAX_PIXELS, False, rgb=True)
    width, height = rgb.size

    def dumps_list() -> bytes:
        tensor = {"name": "image", "shape": [height, width, 3], "datatype": "UINT8"}
        return json.dumps({"inputs": [{**tensor, "data": list(rgb.data)}]}).encode()

    bodies = {
        "kserve-v1 image.b64": lambda: payloads.kserve_v1(png.data, "image.b64").body,
        "kserve-v2 BYTES": lambda: payloads.kserve_v2_bytes(png.data, "image", None).body,
        "kserve-v2 UINT8": lambda: payloads.kserve_v2_uint8(rgb.data, rgb.size, "image", None).body,
        "UINT8 by json.dumps(list)": dumps_list,
    }
    pixels = width * height
    print(f"{'body':28} {'ms':>7} {'peak B/pixel':>13} {'bytes':>10}")
    results = {name: measure(build) for name, build in bodies.items()}
    for name, (ms, peak, size) in results.items():
        print(f"{name:28} {ms:7.2f} {peak / pixels:13.1f} {size:10d}")
    ours, theirs = results["kserve-v2 UINT8"], results["UINT8 by json.dumps(list)"]
    print(f"UINT8: json.dumps(list) / translate: time {theirs[0] / ours[0]:.1f}x, "
          f"peak {theirs[1] / ours[1]:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
