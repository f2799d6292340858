"""Deterministic benchmark corpus, cached under ``bench/out/corpus``.

Natural content like the seed data: crops, rescales and mild photometric variations of the
photographs bundled with scikit-image (read straight from its data folder, so nothing is
downloaded), plus a little seeded sensor-like noise. ``small/`` holds 299x299 images (3/4 PNG,
1/4 JPEG, as the seed data mixes adversarial PNGs and ImageNet JPEGs); ``large/`` holds
images of about 3 megapixels (2048x1536). Run it directly to (re)build and describe it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

OUT = Path(__file__).resolve().parent / "out"
CORPUS = OUT / "corpus"
VERSION = 1  # bump when the recipe changes so cached corpora are rebuilt

# Photographs only (no test patterns, logos or scans of text); grey ones become RGB.
SOURCES = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "retina.jpg",
    "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png", "ihc.png", "camera.png",
    "brick.png", "grass.png", "gravel.png", "coins.png", "moon.png",
)  # fmt: skip
SMALL_SIDE = 299
LARGE_SIZE = (2048, 1536)


@dataclass(frozen=True)
class Corpus:
    small: Path
    large: Path

    def files(self, which: str) -> list[Path]:
        return sorted(p for p in getattr(self, which).iterdir() if p.is_file())


def skimage_data() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise SystemExit("bench: scikit-image is needed for its bundled photographs")
    return Path(spec.origin).parent / "data"


def _sources() -> list[np.ndarray]:
    data = skimage_data()
    return [np.asarray(Image.open(data / name).convert("RGB")) for name in SOURCES]


def _vary(source: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A random crop (35-100% of the short side, at the target aspect), rescaled to ``size``,
    perhaps mirrored, with brightness/contrast/colour jitter and Gaussian noise (sigma 0-4)."""
    height, width = source.shape[:2]
    aspect = size[0] / size[1]
    scale = rng.uniform(0.35, 1.0)
    crop_h = max(16, int(min(height, width / aspect) * scale))
    crop_w = max(16, int(crop_h * aspect))
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    image = Image.fromarray(source[top : top + crop_h, left : left + crop_w])
    image = image.resize(size, Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.85, 1.15))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0.0, rng.uniform(0.0, 4.0), pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8))


def _write(image: Image.Image, path: Path) -> None:
    if path.suffix == ".png":
        image.save(path, format="PNG")  # Pillow's default level 6, like most tools write
    else:
        image.save(path, format="JPEG", quality=90)


def _build(folder: Path, count: int, size: tuple[int, int], seed: int, sources: list) -> None:
    folder.mkdir(parents=True)
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        image = _vary(sources[index % len(sources)], size, rng)
        suffix = ".jpg" if index % 4 == 3 else ".png"
        _write(image, folder / f"img{index:04d}{suffix}")


def build_corpus(small: int = 200, large: int = 4, root: Path | None = None) -> Corpus:
    """Build (or reuse the cached) corpus; the same arguments always give the same pixels.

    The default corpus lives in ``bench/out/corpus``; other sizes get their own folder, so a
    bigger run does not evict it.
    """
    if root is None:
        root = CORPUS if (small, large) == (200, 4) else OUT / f"corpus-{small}-{large}"
    manifest = root / "manifest.json"
    wanted = {"version": VERSION, "small": small, "large": large, "sources": list(SOURCES)}
    corpus = Corpus(root / "small", root / "large")
    if manifest.exists() and json.loads(manifest.read_text()) == wanted:
        return corpus
    shutil.rmtree(root, ignore_errors=True)
    sources = _sources()
    _build(corpus.small, small, (SMALL_SIDE, SMALL_SIDE), 299, sources)
    _build(corpus.large, large, LARGE_SIZE, 3000, sources)
    manifest.write_text(json.dumps(wanted))
    return corpus


def describe(corpus: Corpus) -> str:
    lines = []
    for which in ("small", "large"):
        files = corpus.files(which)
        with Image.open(files[0]) as first:
            size = "x".join(map(str, first.size))
        pngs = sum(f.suffix == ".png" for f in files)
        total = sum(f.stat().st_size for f in files)
        lines.append(
            f"{which}: {len(files)} images of {size} ({pngs} PNG, {len(files) - pngs} JPEG), "
            f"{total / 1e6:.1f} MB, in {getattr(corpus, which)}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="number of 299x299 images")
    parser.add_argument("--large", type=int, default=4, help="number of ~3 MP images")
    args = parser.parse_args()
    print(describe(build_corpus(args.small, args.large)))


if __name__ == "__main__":
    main()
