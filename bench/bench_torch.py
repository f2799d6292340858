"""Speed of ``lltd.torch.WebPFlip`` on a batch of 64 natural images of 224x224 (uint8 NCHW).

Compares, side by side and interleaved: serial (``workers=1``), ``WebPFlip``'s own threads
(``workers=<cores>``; its first call is timed separately), and a plain thread pool over the same
per-image function. A separate check times the WebP encode alone with 1 and <cores> threads: if
Pillow holds the GIL while encoding, threads would not scale.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from corpus import build_corpus, describe
from PIL import Image
from timing import Sample, Variant, cores, interleave, machine_note, table

from lltd.defense import DefenseSettings
from lltd.defense.kernel import apply_array
from lltd.torch import WebPFlip

BATCH, SIDE, QUALITY = 64, 224, 60


def batch_of_images(files: list) -> torch.Tensor:
    """64 corpus images (natural content), centre 224x224 crops after a 256 resize, as NCHW."""
    arrays = []
    for path in files[:BATCH]:
        with Image.open(path) as image:
            image = image.convert("RGB").resize((256, 256), Image.Resampling.BILINEAR)
            offset = (256 - SIDE) // 2
            arrays.append(np.asarray(image.crop((offset, offset, offset + SIDE, offset + SIDE))))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def threaded_webpflip(batch: torch.Tensor, threads: ThreadPoolExecutor) -> torch.Tensor:
    """What WebPFlip would do with threads: the same per-image kernel call."""
    arrays = list(batch.permute(0, 2, 3, 1).contiguous().numpy())
    settings = [DefenseSettings(quality=QUALITY)] * len(arrays)
    outs = list(threads.map(apply_array, arrays, settings))
    return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)


def timed(work: Callable[[], object]) -> Variant:
    def run() -> Sample:
        cpu0, start = time.process_time(), time.perf_counter()
        work()
        return Sample(time.perf_counter() - start, time.process_time() - cpu0)

    return run


def encode_only(arrays: list[np.ndarray], pool: ThreadPoolExecutor | None) -> None:
    def encode(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="WEBP", quality=QUALITY, method=4)
        return buffer.getvalue()

    list(pool.map(encode, arrays) if pool else map(encode, arrays))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="recorded rounds per variant")
    parser.add_argument("--workers", type=int, default=cores(), help="parallel workers")
    args = parser.parse_args()
    n_workers = args.workers
    corpus = build_corpus()
    batch = batch_of_images(corpus.files("small"))
    print(f"# bench_torch\n\n{machine_note()}; torch {torch.__version__} "
          f"(intra-op threads {torch.get_num_threads()}); {args.rounds} rounds after 1 warm-up\n"
          f"{describe(corpus)}\nbatch: {tuple(batch.shape)} {batch.dtype}\n")  # fmt: skip

    serial = WebPFlip(QUALITY, workers=1)
    reference = serial(batch)
    pooled = WebPFlip(QUALITY, workers=n_workers)
    start = time.perf_counter()
    first = pooled(batch)
    first_call = time.perf_counter() - start
    threads = ThreadPoolExecutor(n_workers)
    threaded = threaded_webpflip(batch, threads)
    if not (torch.equal(first, reference) and torch.equal(threaded, reference)):
        raise SystemExit("bench: the parallel paths disagree with the serial one")

    series = interleave(
        {
            "WebPFlip workers=1 (serial)": timed(lambda: serial(batch)),
            f"WebPFlip workers={n_workers} (threads)": timed(lambda: pooled(batch)),
            f"thread pool, {n_workers} threads": timed(lambda: threaded_webpflip(batch, threads)),
            "WebPFlip float input, workers=1": timed(lambda: serial(batch.float() / 255)),
        },
        args.rounds,
    )
    base = series["WebPFlip workers=1 (serial)"]
    rows = [
        [k, s.median * 1e3, s.best * 1e3, BATCH / s.median, s.cpu * 1e3, base.median / s.median]
        for k, s in series.items()
    ]
    rows.append([f"WebPFlip workers={n_workers}: first call", first_call * 1e3,
                 first_call * 1e3, BATCH / first_call, "", base.median / first_call])  # fmt: skip
    print(f"### WebPFlip on {BATCH}x3x{SIDE}x{SIDE} uint8\n")
    print(table(["variant", "median ms", "best ms", "images/s", "CPU ms (this process)",
                 "x serial"], rows))  # fmt: skip
    fastest = min(series, key=lambda k: series[k].median)
    print(f"\nfastest (median): {fastest}")

    arrays = list(batch.permute(0, 2, 3, 1).contiguous().numpy())
    gil = interleave(
        {
            "WebP encode only, 1 thread": timed(lambda: encode_only(arrays, None)),
            f"WebP encode only, {n_workers} threads": timed(lambda: encode_only(arrays, threads)),
        },
        args.rounds,
    )
    one, many = gil["WebP encode only, 1 thread"], gil[f"WebP encode only, {n_workers} threads"]
    print("\n### GIL check: does Pillow's WebP encoder run in parallel threads?\n")
    gil_rows = [[k, s.median * 1e3, s.best * 1e3, s.cpu * 1e3] for k, s in gil.items()]
    print(table(["variant", "median ms", "best ms", "CPU ms"], gil_rows))
    print(
        f"\n{n_workers} threads vs 1: {one.median / many.median:.2f}x (median), "
        f"{one.best / many.best:.2f}x (best); CPU seconds per wall second with threads: "
        f"{many.cpu / many.median:.2f}.\nA speed-up well above 1 means the encoder runs "
        "without the GIL (if it held the GIL, N threads would be no faster than 1); CPU per "
        "wall second near N confirms it, but only on a machine with idle cores."
    )
    threads.shutdown()


if __name__ == "__main__":
    main()
