"""Input-transformation defenses as pure functions on H x W x 3 uint8 arrays.

WebP and the flip are the project's own defense (the one kernel, :mod:`lltd.defense.kernel`);
JPEG, bit-depth reduction (feature squeezing, Xu et al. 2018) and the median filter are the usual
baselines.
Light module: Pillow and NumPy only.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from lltd.codecs import EncodeOptions, get_codec
from lltd.defense.kernel import apply_array
from lltd.defense.settings import DefenseSettings
from lltd.errors import UsageError

DEFENSES = ("none", "webp", "flip", "webp+flip", "jpeg", "bit-depth", "median")
DEFAULT_DEFENSES = DEFENSES


@dataclass(frozen=True)
class DefenseParameters:
    webp_quality: float = 60
    jpeg_quality: int = 75
    bits: int = 4
    median_size: int = 3

    def validate(self) -> None:
        if not 0 <= self.webp_quality <= 100:
            raise UsageError(f"-q must be between 0 and 100, not {self.webp_quality}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError(f"--jpeg-quality must be between 1 and 100, not {self.jpeg_quality}")
        if not 1 <= self.bits <= 8:
            raise UsageError(f"--bits must be between 1 and 8, not {self.bits}")
        if self.median_size < 3 or self.median_size % 2 == 0:
            raise UsageError(f"--median-size must be odd and at least 3, not {self.median_size}")


@dataclass(frozen=True)
class Defense:
    """A named transformation of one H x W x 3 uint8 image; ``label`` shows its parameters."""

    name: str
    label: str
    apply: Callable[[np.ndarray], np.ndarray]
    #: ``torch.flip`` reproduces it exactly (so BPDA differentiates it instead of skipping it).
    flips: bool = False
    #: It has a non-differentiable step that BPDA replaces by the identity on the way back.
    lossy: bool = True

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.apply(image)

    def batch(self, images: np.ndarray) -> np.ndarray:
        """N x H x W x 3 uint8 -> the same, each image transformed."""
        if self.name == "none":
            return images
        return np.stack([self.apply(image) for image in images])


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image), "RGB")


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def webp_bytes(image: np.ndarray, quality: float) -> bytes:
    """The bytes :func:`lltd.transforms.webp_roundtrip` encodes (same codec and options)."""
    return get_codec("pillow").encode(_pil(image), EncodeOptions(quality=quality, method=4))


def decode(data: bytes) -> np.ndarray:
    """Encoded WebP or JPEG bytes -> H x W x 3 uint8."""
    return _array(Image.open(io.BytesIO(data)))


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    return decode(jpeg_bytes(image, quality))


def reduce_bit_depth(image: np.ndarray, bits: int) -> np.ndarray:
    """Keep ``bits`` bits per channel: 2**bits evenly spaced levels spanning 0..255."""
    levels = 2**bits - 1
    return (
        (np.round(image.astype(np.float32) / 255 * levels) / levels * 255).round().astype(np.uint8)
    )


def median(image: np.ndarray, size: int) -> np.ndarray:
    return _array(_pil(image).filter(ImageFilter.MedianFilter(size)))


def kernel(settings: DefenseSettings) -> Callable[[np.ndarray], np.ndarray]:
    """The project's defense with ``settings``, as a function of one H x W x 3 uint8 image."""
    return lambda image: apply_array(image, settings)


def make_defense(name: str, parameters: DefenseParameters) -> Defense:
    q = parameters.webp_quality
    if name == "none":
        return Defense("none", "none", lambda image: image, lossy=False)
    if name == "webp":
        return Defense("webp", f"webp q{q:g}", kernel(DefenseSettings(quality=q, flip=None)))
    if name == "flip":
        return Defense(
            "flip", "flip", kernel(DefenseSettings(quality=None)), flips=True, lossy=False
        )
    if name == "webp+flip":
        return Defense(
            "webp+flip", f"webp q{q:g} + flip", kernel(DefenseSettings(quality=q)), flips=True
        )
    if name == "jpeg":
        jq = parameters.jpeg_quality
        return Defense("jpeg", f"jpeg q{jq}", lambda im: jpeg_roundtrip(im, jq))
    if name == "bit-depth":
        bits = parameters.bits
        return Defense("bit-depth", f"{bits}-bit", lambda im: reduce_bit_depth(im, bits))
    if name == "median":
        size = parameters.median_size
        return Defense("median", f"median {size}x{size}", lambda im: median(im, size))
    raise UsageError(f"unknown defense {name!r}; choose from {', '.join(DEFENSES)}")


def parse_defenses(names: str, parameters: DefenseParameters) -> list[Defense]:
    """``"none,webp,flip"`` -> the defenses, in order, without duplicates."""
    parameters.validate()
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise UsageError("--defenses is empty")
    return [make_defense(name, parameters) for name in dict.fromkeys(wanted)]
