"""Input-transformation defenses as pure functions on H x W x 3 uint8 arrays.

WebP and the flip are the project's own transforms (:mod:`lltd.transforms`); JPEG, bit-depth
reduction (feature squeezing, Xu et al. 2018) and the median filter are the usual baselines.
Light module: Pillow and NumPy only.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from lltd.codecs import EncodeOptions, get_codec
from lltd.errors import UsageError
from lltd.transforms import DIRECTIONS, flip, webp_roundtrip

DETERMINISTIC = ("none", "webp", "flip", "webp+flip", "jpeg", "bit-depth", "median")
RANDOMIZED = ("webp-band", "flip-random", "resize-pad", "randomized")
DEFENSES = DETERMINISTIC + RANDOMIZED
DEFAULT_DEFENSES = (*DETERMINISTIC, "webp-band", "randomized")


@dataclass(frozen=True)
class DefenseParameters:
    webp_quality: float = 60
    jpeg_quality: int = 75
    bits: int = 4
    median_size: int = 3
    #: Randomised defenses: the WebP quality band, and the smallest resize of resize-pad.
    webp_band: tuple[int, int] = (40, 80)
    resize_min: float = 0.85

    def validate(self) -> None:
        if not 0 <= self.webp_quality <= 100:
            raise UsageError(f"-q must be between 0 and 100, not {self.webp_quality}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UsageError(f"--jpeg-quality must be between 1 and 100, not {self.jpeg_quality}")
        if not 1 <= self.bits <= 8:
            raise UsageError(f"--bits must be between 1 and 8, not {self.bits}")
        if self.median_size < 3 or self.median_size % 2 == 0:
            raise UsageError(f"--median-size must be odd and at least 3, not {self.median_size}")
        low, high = self.webp_band
        if not 0 <= low <= high <= 100:
            raise UsageError(f"--quality-band must be LOW..HIGH within 0..100, not {low}..{high}")
        if not 0.5 <= self.resize_min <= 1:
            raise UsageError(f"--resize-min must be in [0.5, 1], not {self.resize_min}")


@dataclass(frozen=True)
class Step:
    """One transformation of an H x W x 3 uint8 image.

    ``draw`` (randomised steps only) picks the step's parameter for one image; ``apply`` then
    transforms the image with it. ``kind`` names the differentiable surrogate the BPDA attack
    uses on the backward pass (:mod:`lltd.evaluate.bpda`): ``flip`` and ``resize-pad`` have
    exact ones, every other kind goes through as the identity.
    """

    kind: str
    apply: Callable[[np.ndarray, Any], np.ndarray]
    draw: Callable[[np.random.Generator], Any] | None = None
    fixed: Any = None


@dataclass(frozen=True)
class Defense:
    """A named pipeline of :class:`Step` s; ``label`` shows its parameters."""

    name: str
    label: str
    steps: tuple[Step, ...] = ()

    @property
    def random(self) -> bool:
        """Draws parameters per image: attacked with EOT, evaluated on a seeded draw."""
        return any(step.draw is not None for step in self.steps)

    @property
    def lossy(self) -> bool:
        return any(step.kind not in EXACT_KINDS for step in self.steps)

    def draws(self, count: int, rng: np.random.Generator | None) -> list[tuple[Any, ...]]:
        """Per image, each step's parameter (a seeded generator makes them reproducible)."""
        rng = rng if rng is not None else np.random.default_rng(0)
        return [
            tuple(step.fixed if step.draw is None else step.draw(rng) for step in self.steps)
            for _ in range(count)
        ]

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.apply_drawn(image, self.draws(1, rng)[0])

    def apply_drawn(self, image: np.ndarray, parameters: tuple[Any, ...]) -> np.ndarray:
        for step, parameter in zip(self.steps, parameters, strict=True):
            image = step.apply(image, parameter)
        return image

    def batch(
        self,
        images: np.ndarray,
        rng: np.random.Generator | None = None,
        draws: list[tuple[Any, ...]] | None = None,
    ) -> np.ndarray:
        """N x H x W x 3 uint8 -> the same, each image transformed (with its own draw)."""
        if not self.steps:
            return images
        draws = self.draws(len(images), rng) if draws is None else draws
        return np.stack([self.apply_drawn(im, d) for im, d in zip(images, draws, strict=True)])


#: Step kinds that BPDA differentiates exactly (the rest are the identity on the way back).
EXACT_KINDS = frozenset({"flip", "resize-pad"})


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


def resize_geometry(parameter: tuple[float, float, float], height: int, width: int) -> tuple:
    """``(scale, top, left)`` fractions -> the shrunk size and its corner, in pixels."""
    scale, top, left = parameter
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    return new_h, new_w, round(top * (height - new_h)), round(left * (width - new_w))


def resize_pad(image: np.ndarray, parameter: tuple[float, float, float]) -> np.ndarray:
    """Shrink by ``scale`` (bilinear) and paste at a random corner on black (Xie et al. 2018,
    at the input's own size so any classifier takes the result)."""
    new_h, new_w, top, left = resize_geometry(parameter, *image.shape[:2])
    small = np.asarray(_pil(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    out = np.zeros_like(image)
    out[top : top + new_h, left : left + new_w] = small
    return out


def _draw_resize(smallest: float) -> Callable[[np.random.Generator], Any]:
    def draw(rng: np.random.Generator) -> tuple[float, float, float]:
        return float(rng.uniform(smallest, 1)), float(rng.random()), float(rng.random())

    return draw


def _webp(quality: float) -> Step:
    return Step("webp", lambda im, q: _array(webp_roundtrip(_pil(im), q)), fixed=quality)


def _webp_band(band: tuple[int, int]) -> Step:
    low, high = band
    return Step(
        "webp",
        lambda im, q: _array(webp_roundtrip(_pil(im), q)),
        draw=lambda rng: int(rng.integers(low, high + 1)),
    )


def _flip(direction: str | None) -> Step:
    apply = lambda im, d: _array(flip(_pil(im), d))  # noqa: E731
    if direction is not None:
        return Step("flip", apply, fixed=direction)
    return Step("flip", apply, draw=lambda rng: DIRECTIONS[int(rng.integers(0, 2))])


def _resize_pad(parameters: DefenseParameters) -> Step:
    return Step("resize-pad", resize_pad, draw=_draw_resize(parameters.resize_min))


def make_defense(name: str, parameters: DefenseParameters) -> Defense:
    q = parameters.webp_quality
    low, high = parameters.webp_band
    band = f"webp q{low}-{high}"
    if name == "none":
        return Defense("none", "none")
    if name == "webp":
        return Defense("webp", f"webp q{q:g}", (_webp(q),))
    if name == "flip":
        return Defense("flip", "flip", (_flip("horizontal"),))
    if name == "webp+flip":
        # WebP then the flip, as defend_image does.
        return Defense("webp+flip", f"webp q{q:g} + flip", (_webp(q), _flip("horizontal")))
    if name == "jpeg":
        jq = parameters.jpeg_quality
        return Defense("jpeg", f"jpeg q{jq}", (Step("jpeg", jpeg_roundtrip, fixed=jq),))
    if name == "bit-depth":
        bits = parameters.bits
        return Defense(
            "bit-depth", f"{bits}-bit", (Step("bit-depth", reduce_bit_depth, fixed=bits),)
        )
    if name == "median":
        size_ = parameters.median_size
        return Defense("median", f"median {size_}x{size_}", (Step("median", median, fixed=size_),))
    if name == "webp-band":
        return Defense("webp-band", f"{band} (random)", (_webp_band(parameters.webp_band),))
    if name == "flip-random":
        return Defense("flip-random", "flip, random axis", (_flip(None),))
    if name == "resize-pad":
        label = f"resize-pad {parameters.resize_min:g}-1 (random)"
        return Defense("resize-pad", label, (_resize_pad(parameters),))
    if name == "randomized":
        steps = (_resize_pad(parameters), _webp_band(parameters.webp_band), _flip(None))
        return Defense("randomized", f"resize-pad + {band} + random flip", steps)
    raise UsageError(f"unknown defense {name!r}; choose from {', '.join(DEFENSES)}")


def parse_defenses(names: str, parameters: DefenseParameters) -> list[Defense]:
    """``"none,webp,flip"`` -> the defenses, in order, without duplicates."""
    parameters.validate()
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted:
        raise UsageError("--defenses is empty")
    return [make_defense(name, parameters) for name in dict.fromkeys(wanted)]
