"""Helpers shared by the codec, cwebp-grammar and compress tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CWEBP = shutil.which("cwebp")
needs_cwebp = pytest.mark.skipif(CWEBP is None, reason="cwebp not installed (apt-get install webp)")
APOSTROPHE = "Chelsea's nap on the sofa.png"


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA" if image.mode in ("RGBA", "LA") else "RGB"))
