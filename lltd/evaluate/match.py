"""``--match-size``: WebP against JPEG at equal bytes, not at equal quality setting.

At one quality number JPEG files are 2-3x larger than WebP's, so comparing the two codecs at
"q60" compares a small file with a large one. Here each WebP quality is paired with the JPEG
quality whose mean encoded size on the evaluated images is closest, and both are attacked: the
oblivious attacks already computed (per image, an image counts only if it survives all of them)
and, with ``--adaptive``, BPDA-PGD through each codec (without Square: it is the cross-check of
the headline, not of this comparison).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from lltd.evaluate.adaptive import AdaptiveSettings, attack_defense, defended_predictions
from lltd.evaluate.data import Dataset
from lltd.evaluate.defenses import DefenseParameters, jpeg_bytes, make_defense, webp_bytes

#: WebP qualities paired when --sweep-quality gives none.
DEFAULT_QUALITIES = (20, 40, 60, 80)
JPEG_QUALITIES = range(1, 101)


def mean_bytes(images: np.ndarray, encode: Callable[[np.ndarray, int], bytes], q: int) -> float:
    return float(np.mean([len(encode(image, q)) for image in images]))


def equal_size_jpeg(images: np.ndarray, webp_quality: int) -> tuple[int, float, float]:
    """The JPEG quality whose mean size on ``images`` is closest to WebP's at ``webp_quality``
    (the lower quality on a tie); returns it with both mean sizes in bytes."""
    target = mean_bytes(images, webp_bytes, webp_quality)
    sizes = {q: mean_bytes(images, jpeg_bytes, q) for q in JPEG_QUALITIES}
    best = min(sizes, key=lambda q: (abs(sizes[q] - target), q))
    return best, target, sizes[best]


def match_size(
    model: nn.Module,
    data: Dataset,
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    qualities: Sequence[int],
    settings: AdaptiveSettings | None,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Per WebP quality, a WebP entry and the equal-size JPEG entry (see the module)."""
    qualities = list(qualities) or list(DEFAULT_QUALITIES)
    pixels = int(np.prod(data.images.shape[1:3]))
    out: list[dict[str, Any]] = []
    for quality in qualities:
        jpeg_quality, webp_size, jpeg_size = equal_size_jpeg(data.images, quality)
        say(f"match-size: webp q{quality} ({webp_size:.0f} B) ~ jpeg q{jpeg_quality} "
            f"({jpeg_size:.0f} B)")  # fmt: skip
        pair = (
            ("webp", quality, webp_size, make_defense("webp", DefenseParameters(quality))),
            ("jpeg", jpeg_quality, jpeg_size,
             make_defense("jpeg", DefenseParameters(jpeg_quality=jpeg_quality))),
        )  # fmt: skip
        for codec, codec_quality, size, defense in pair:
            correct = {
                name: defended_predictions(model, defense, images) == labels
                for name, (images, labels) in sets.items()
            }
            clean = correct.get("none", np.ones(len(data), dtype=bool))
            oblivious = np.logical_and.reduce(list(correct.values()))
            entry: dict[str, Any] = {
                "codec": codec,
                "quality": codec_quality,
                "webp_quality": quality,
                "mean_bytes": size,
                # Not always 1 for JPEG: on small images no JPEG quality gets as small as WebP
                # (its headers alone are about 600 bytes); the table then says how far off.
                "size_ratio": size / webp_size,
                "bits_per_pixel": 8 * size / pixels,
                "clean": float(clean.mean()),
                "oblivious": float(oblivious.mean()),
                "adaptive": None,
                "worst": float(oblivious.mean()),
                "n": len(data),
            }
            if settings is not None:
                result = attack_defense(
                    model, defense, data.images, data.labels, settings, square=False
                )
                entry["adaptive"] = float(1 - result.broken.mean())
                entry["worst"] = float((oblivious & ~result.broken).mean())
                say(f"  {defense.label}: adaptive {100 * entry['adaptive']:.1f} %, worst "
                    f"{100 * entry['worst']:.1f} %")  # fmt: skip
            out.append(entry)
    return out
