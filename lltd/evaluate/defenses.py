"""Input-transformation defenses as functions of H x W x 3 uint8 arrays.

The project's own defense (WebP, the flip, and their randomised forms) is computed by the one
kernel, :mod:`lltd.defense.kernel`, from a :class:`lltd.defense.settings.DefenseSettings`; JPEG,
bit-depth reduction (feature squeezing, Xu et al. 2018) and the median filter are the usual
baselines. Light module: Pillow and NumPy only.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from lltd.codecs import EncodeOptions, get_codec
from lltd.common.errors import UsageError
from lltd.defense import kernel
from lltd.defense.settings import DefenseSettings, DefenseSettingsError

DETERMINISTIC = ("none", "webp", "flip", "webp+flip", "jpeg", "bit-depth", "median")
RANDOMIZED = ("webp-band", "flip-random", "resize-pad", "randomized")
DEFENSES = DETERMINISTIC + RANDOMIZED
DEFAULT_DEFENSES = (*DETERMINISTIC, "webp-band", "randomized")
#: Step kinds that BPDA differentiates exactly.
EXACT_KINDS = frozenset({"flip", "resize-pad"})
#: Lossy step kinds that keep low frequencies and drop high ones: BPDA's backward pass is a
#: low-pass filter through them (the identity through the rest, e.g. bit depth).
LOW_PASS_KINDS = frozenset({"webp", "jpeg", "median"})


@dataclass(frozen=True)
class DefenseParameters:
    webp_quality: float = 60
    jpeg_quality: int = 75
    bits: int = 4
    median_size: int = 3
    #: Randomised defenses: the WebP quality band, and resize-pad's largest shrink (a share).
    quality_range: tuple[int, int] = (40, 80)
    resize_pad: float = 0.15

    def validate(self) -> None:
        if not 0 <= self.webp_quality <= 100:
            raise UsageError(f"-q must be between 0 and 100, not {self.webp_quality}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError(f"--jpeg-quality must be between 1 and 100, not {self.jpeg_quality}")
        if not 1 <= self.bits <= 8:
            raise UsageError(f"--bits must be between 1 and 8, not {self.bits}")
        if self.median_size < 3 or self.median_size % 2 == 0:
            raise UsageError(f"--median-size must be odd and at least 3, not {self.median_size}")
        names = {"quality_range": "--quality-range", "resize_pad": "--resize-pad"}
        try:
            DefenseSettings(quality_range=self.quality_range, resize_pad=self.resize_pad)
        except DefenseSettingsError as exc:
            raise exc.named(names) from None


@dataclass(frozen=True)
class Step:
    """One baseline transformation: ``apply(image, parameter)``, the parameter fixed."""

    kind: str
    apply: Callable[[np.ndarray, Any], np.ndarray]
    parameter: Any = None


@dataclass(frozen=True)
class Defense:
    """A named defense: the project's (``settings``, through the kernel) or a baseline pipeline
    of :class:`Step` s. ``label`` shows its parameters."""

    name: str
    label: str
    steps: tuple[Step, ...] = ()
    settings: DefenseSettings | None = None

    @property
    def identity(self) -> bool:
        return self.settings is None and not self.steps

    @property
    def random(self) -> bool:
        """Draws its steps per image: attacked with EOT, evaluated on a seeded draw."""
        return self.settings is not None and self.settings.randomised

    @property
    def lossy(self) -> bool:
        return any(kind not in EXACT_KINDS for kind, _ in self.plan(self.draws(1, None)[0]))

    def draws(self, count: int, rng: np.random.Generator | None) -> list[Any]:
        """Per image, what its randomised steps are (a seeded generator: reproducible)."""
        if self.settings is None:
            return [None] * count
        source = random.Random(int((rng or np.random.default_rng(0)).integers(2**62)))
        return [self.settings.draw(source) for _ in range(count)]

    def plan(self, draw: Any) -> list[tuple[str, Any]]:
        """``(kind, parameter)`` per step of one draw, in order (what BPDA differentiates)."""
        if self.settings is not None:
            return kernel.steps(self.settings, draw)
        return [(step.kind, step.parameter) for step in self.steps]

    def apply_drawn(self, image: np.ndarray, draw: Any) -> np.ndarray:
        if self.settings is not None:
            return kernel.apply_array(image, self.settings, draw)
        for step in self.steps:
            image = step.apply(image, step.parameter)
        return image

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.apply_drawn(image, self.draws(1, rng)[0])

    def batch(
        self,
        images: np.ndarray,
        rng: np.random.Generator | None = None,
        draws: list[Any] | None = None,
    ) -> np.ndarray:
        """N x H x W x 3 uint8 -> the same, each image transformed (with its own draw)."""
        if self.identity:
            return images
        draws = self.draws(len(images), rng) if draws is None else draws
        return np.stack([self.apply_drawn(im, d) for im, d in zip(images, draws, strict=True)])


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(image), "RGB")


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def webp_bytes(image: np.ndarray, quality: float) -> bytes:
    """The bytes the defense kernel's WebP step encodes (same codec and options)."""
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


def project_settings(name: str, parameters: DefenseParameters) -> DefenseSettings | None:
    """The :class:`DefenseSettings` of the project's defenses (None for the baselines)."""
    q, band, pad = parameters.webp_quality, parameters.quality_range, parameters.resize_pad
    return {
        "webp": DefenseSettings(quality=q, flip=None),
        "flip": DefenseSettings(quality=None),
        "webp+flip": DefenseSettings(quality=q),
        "webp-band": DefenseSettings(quality=q, quality_range=band, flip=None),
        "flip-random": DefenseSettings(quality=None, flip="random"),
        "resize-pad": DefenseSettings(quality=None, flip=None, resize_pad=pad),
        "randomized": DefenseSettings(quality=q, quality_range=band, flip="random", resize_pad=pad),
    }.get(name)


def make_defense(name: str, parameters: DefenseParameters) -> Defense:
    if name == "none":
        return Defense("none", "none")
    settings = project_settings(name, parameters)
    if settings is not None:
        return Defense(name, settings.label(), settings=settings)
    if name == "jpeg":
        jq = parameters.jpeg_quality
        return Defense("jpeg", f"jpeg q{jq}", (Step("jpeg", jpeg_roundtrip, jq),))
    if name == "bit-depth":
        bits = parameters.bits
        return Defense("bit-depth", f"{bits}-bit", (Step("bit-depth", reduce_bit_depth, bits),))
    if name == "median":
        size = parameters.median_size
        return Defense("median", f"median {size}x{size}", (Step("median", median, size),))
    raise UsageError(f"unknown defense {name!r}; choose from {', '.join(DEFENSES)}")


def parse_defenses(names: str, parameters: DefenseParameters) -> list[Defense]:
    """``"none,webp,flip"`` -> the defenses, in order, without duplicates."""
    parameters.validate()
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise UsageError("--defenses is empty")
    return [make_defense(name, parameters) for name in dict.fromkeys(wanted)]
