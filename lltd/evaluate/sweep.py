"""``--sweep-quality``: accuracy and size against WebP and JPEG quality, and its argument."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from lltd.common.errors import UsageError
from lltd.evaluate.defenses import decode, jpeg_bytes, webp_bytes
from lltd.evaluate.oblivious import predict

_RANGE = re.compile(r"^(\d+)\.\.(\d+)(?::(\d+))?$")
_ELLIPSIS = re.compile(r"^(\d+),(\d+),\.\.\.,(\d+)$")


def _span(first: int, last: int, step: int, text: str) -> list[int]:
    if step < 1 or last < first:
        raise UsageError(f"--sweep-quality {text!r}: needs LOW <= HIGH and a step of at least 1")
    return list(range(first, last + 1, step))


def parse_qualities(text: str) -> list[int]:
    """``10,20,30``, ``10..100:10`` (LOW..HIGH:STEP, step 1 by default) or ``10,20,...,100``."""
    compact = text.replace(" ", "")
    qualities: list[int]
    if match := _RANGE.match(compact):
        first, last, step = match.groups()
        qualities = _span(int(first), int(last), int(step or 1), text)
    elif match := _ELLIPSIS.match(compact):
        first, second, last = (int(group) for group in match.groups())
        qualities = _span(first, last, second - first, text)
        if qualities[-1] != last:
            raise UsageError(
                f"--sweep-quality {text!r}: {last} is not on the {first},{second} step"
            )
    else:
        try:
            qualities = [int(item) for item in compact.split(",") if item]
        except ValueError:
            qualities = []
        if not qualities:
            raise UsageError(
                f"--sweep-quality takes integers like 10,20,30, a range like 10..100:10 "
                f"or 10,20,...,100, not {text!r}"
            )
    for quality in qualities:
        if not 1 <= quality <= 100:
            raise UsageError(f"--sweep-quality values must be 1..100, not {quality}")
    return list(dict.fromkeys(qualities))


def sweep(
    model: nn.Module,
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    qualities: Sequence[int],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    say(f"quality sweep ({len(qualities)} qualities x webp, jpeg)")
    out: list[dict[str, Any]] = []
    codecs: dict[str, Callable[[np.ndarray, int], bytes]] = {"webp": webp_bytes, "jpeg": jpeg_bytes}
    for codec, encode in codecs.items():
        for quality in qualities:
            for name, (images, labels) in sets.items():
                encoded = [encode(image, quality) for image in images]
                decoded = np.stack([decode(data) for data in encoded])
                accuracy = float((predict(model, decoded) == labels).mean())
                out.append(
                    {
                        "codec": codec,
                        "quality": quality,
                        "attack": name,
                        "accuracy": accuracy,
                        "mean_bytes": float(np.mean([len(data) for data in encoded])),
                        "n": len(labels),
                    }
                )
    return out
