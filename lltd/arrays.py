"""NumPy-level helpers kept free of torch, so worker processes start light."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def webp_roundtrip_array(array: np.ndarray, quality: float, method: int = 4) -> np.ndarray:
    """HxWxC uint8 (C = 1, 3 or 4) -> lossy WebP at ``quality`` -> HxWxC uint8."""
    squeeze = array.shape[2] == 1
    image = Image.fromarray(array[..., 0] if squeeze else array)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=quality, method=method)
    decoded = Image.open(io.BytesIO(buffer.getvalue()))
    if squeeze:
        # WebP decodes gray to RGB with slightly unequal channels; take the luma, as convert("L").
        return np.asarray(decoded.convert("L"))[..., None]
    return np.asarray(decoded.convert("RGBA" if array.shape[2] == 4 else "RGB"))
