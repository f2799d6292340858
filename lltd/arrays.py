"""NumPy-level helpers kept free of torch, so worker processes start light."""

from __future__ import annotations

import numpy as np

from lltd.defense.kernel import apply_array
from lltd.defense.settings import DefenseSettings


def webp_roundtrip_array(array: np.ndarray, quality: float, method: int = 4) -> np.ndarray:
    """HxWxC uint8 (C = 1, 3 or 4) -> lossy WebP at ``quality`` -> HxWxC uint8 (the kernel's WebP
    step alone)."""
    return apply_array(array, DefenseSettings(quality=quality, flip=None, method=method))
