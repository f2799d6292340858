"""The defense as one value: what ``lltd defend``, ``lltd watch``, ``lltd.defend()``, ``WebPFlip``
and ``lltd evaluate`` all take, validated once, here.

Light module (standard library only): the command line builds and checks it before anything heavy
is imported. The pixels are computed by :mod:`lltd.defense.kernel`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lltd.common.errors import UsageError

DIRECTIONS: tuple[str, ...] = ("horizontal", "vertical")
#: ``random`` draws one of :data:`DIRECTIONS` per image.
FLIPS: tuple[str, ...] = (*DIRECTIONS, "random")
ORDERS: tuple[str, ...] = ("webp-flip", "flip-webp")
#: The largest share of each side ``resize_pad`` may take away (beyond it the image is mostly pad).
MAX_RESIZE_PAD = 0.5

#: How the library names each setting in its errors; front ends pass their own spelling.
LABELS: dict[str, str] = {
    "quality": "quality",
    "quality_range": "quality_range",
    "flip": "flip direction",
    "order": "order",
    "method": "method",
    "backend": "backend",
    "resize_pad": "resize_pad",
    "seed": "seed",
}
#: The same settings as ``lltd defend`` and ``lltd watch`` spell them.
CLI_NAMES: dict[str, str] = {
    "quality": "-q/--quality",
    "quality_range": "--quality-range",
    "flip": "--direction",
    "order": "--order",
    "method": "-m/--method",
    "backend": "--backend",
    "resize_pad": "--resize-pad",
    "seed": "--seed",
}


class DefenseSettingsError(UsageError, ValueError):
    """A bad setting: a usage error on the command line, a ``ValueError`` to library callers."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{LABELS[setting]} {problem}")
        self.setting, self.problem = setting, problem

    def named(self, names: Mapping[str, str], where: str | None = None) -> UsageError:
        """The same error with the setting spelt as ``names`` spells it (``--direction``)."""
        message = f"{names.get(self.setting, LABELS[self.setting])} {self.problem}"
        return UsageError(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Draw:
    """The concrete steps for one image; a randomised defense draws a new one per image."""

    quality: float | None  # None: no WebP round trip
    flip: str | None  # "horizontal", "vertical" or None
    scale: float = 1.0  # resize-and-pad: each side shrinks to this share ...
    offset: tuple[float, float] = (0.0, 0.0)  # ... and sits at this share of the free space


@dataclass(frozen=True)
class DefenseSettings:
    """``flip(decode(webp_encode(image, quality)))`` (or the other order), optionally randomised.

    ``quality`` None skips the WebP round trip and ``flip`` None skips the flip. The randomised
    options follow Xie et al. (2018): ``quality_range`` draws the WebP quality per image (whole
    numbers, both ends included), ``flip="random"`` draws the axis, ``resize_pad`` shrinks the
    image by a random share up to this (0-0.5) and pads it back to its size at a random offset.
    ``seed`` makes the draws reproducible; without it every image gets fresh entropy. The output
    container (PNG, lossless WebP) is not part of the defense and lives with the job.
    """

    quality: float | None = 60
    flip: str | None = "horizontal"
    order: str = "webp-flip"
    method: int = 4
    backend: str = "pillow"
    cwebp: str | None = None
    quality_range: tuple[int, int] | None = None
    resize_pad: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.quality_range is not None:
            object.__setattr__(self, "quality_range", _quality_band(self.quality_range))
        if self.resize_pad == 0:
            object.__setattr__(self, "resize_pad", None)  # 0 means off, one spelling for it
        _validate(self)

    @classmethod
    def from_options(
        cls,
        *,
        names: Mapping[str, str] = LABELS,
        where: str | None = None,
        no_webp: bool = False,
        no_flip: bool = False,
        **settings: Any,
    ) -> DefenseSettings:
        """The value from front-end options (``no_webp``/``no_flip`` switches, ``direction`` as an
        alias of ``flip``, ``quality_range`` as ``"40-80"``), errors spelt as ``names`` spells
        the settings and prefixed with ``where``."""
        values = {key: value for key, value in settings.items() if value is not None}
        if "direction" in values:
            values["flip"] = values.pop("direction")
        try:
            if "quality" in values and "quality_range" in values:
                # The band draws the quality per image; a fixed one beside it would be ignored.
                raise DefenseSettingsError(
                    "quality_range",
                    f"{settings['quality_range']} draws the WebP quality per image; "
                    f"{names.get('quality', 'quality')} {values['quality']:g} would be ignored: "
                    "give one of the two",
                )
            if no_webp:
                values["quality"] = None
            if no_flip:
                values["flip"] = None
            return cls(**values)
        except DefenseSettingsError as exc:
            raise exc.named(names, where) from None

    @property
    def randomised(self) -> bool:
        return (
            self.quality_range is not None or self.flip == "random" or self.resize_pad is not None
        )

    def with_(self, **changes: Any) -> DefenseSettings:
        return replace(self, **changes)

    def rng(self, key: str | None = None) -> random.Random:
        """The random source for one image (``key``: e.g. its relative path) or one sequence.

        Seeded by ``seed`` and ``key`` so a file gets the same draw whichever worker, process or
        host handles it, and in whatever order; unseeded, fresh entropy from the OS.
        """
        if self.seed is None:
            return random.Random()
        if key is None:
            return random.Random(self.seed)
        # Bytes, so a file name that is not UTF-8 (surrogate-escaped by Python) seeds too; for
        # any other name this is the very seed of the text f"{seed}:{key}".
        return random.Random(f"{self.seed}:{key}".encode("utf-8", "surrogateescape"))

    def draw(self, rng: random.Random | None = None) -> Draw:
        """The steps for the next image; the same sequence of draws for the same ``rng`` state."""
        if not self.randomised:
            return Draw(self.quality, self.flip)
        rng = rng or self.rng()
        quality = self.quality
        if self.quality_range is not None:
            quality = float(rng.randint(*self.quality_range))
        flip = rng.choice(DIRECTIONS) if self.flip == "random" else self.flip
        if self.resize_pad is None:
            return Draw(quality, flip)
        scale = 1.0 - rng.uniform(0.0, self.resize_pad)
        return Draw(quality, flip, scale, (rng.random(), rng.random()))

    def draw_for(self, key: str | None = None) -> Draw:
        """The draw for the image named ``key`` (``lltd defend``, ``watch``: its relative path)."""
        return self.draw(self.rng(key)) if self.randomised else self.draw()

    def report(self) -> dict[str, Any]:
        """JSON-friendly fields for reports and status files."""
        quality: Any = self.quality
        if self.quality_range is not None:
            quality = "{}-{}".format(*self.quality_range)
        return {
            "quality": quality,
            "direction": self.flip,
            "order": self.order,
            "method": self.method,
            "backend": self.backend,
            "resize_pad": self.resize_pad,
            "seed": self.seed,
        }

    def label(self) -> str:
        """Short human name: ``webp q40-80 + flip random + resize-pad 0.1``."""
        parts = []
        if self.quality is not None:
            band = self.quality_range
            parts.append(f"webp q{band[0]}-{band[1]}" if band else f"webp q{self.quality:g}")
        if self.flip is not None:
            parts.append("flip" if self.flip == "horizontal" else f"flip {self.flip}")
        if self.order == "flip-webp":
            parts.reverse()
        if self.resize_pad is not None:
            parts.append(f"resize-pad {self.resize_pad:g}")
        return " + ".join(parts) or "none"


def parse_quality_range(text: str) -> tuple[int, int]:
    """``"40-80"`` -> ``(40, 80)``; a single number is a band of one."""
    low, sep, high = text.strip().partition("-")
    try:
        band = (int(low), int(high if sep else low))
    except ValueError:
        raise DefenseSettingsError(
            "quality_range", f"must be LOW-HIGH in whole numbers (e.g. 40-80), got {text!r}"
        ) from None
    return _quality_band(band)


def _quality_band(value: object) -> tuple[int, int]:
    if isinstance(value, str):
        return parse_quality_range(value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise DefenseSettingsError(
            "quality_range", f"must be two whole numbers LOW-HIGH (e.g. 40-80), got {value!r}"
        )
    low, high = value
    if not 0 <= low <= high <= 100:
        raise DefenseSettingsError(
            "quality_range", f"must satisfy 0 <= LOW <= HIGH <= 100, got {low}-{high}"
        )
    return (low, high)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(s: DefenseSettings) -> None:
    from lltd.codecs import BACKENDS

    if s.quality is not None and not (_number(s.quality) and 0 <= s.quality <= 100):
        raise DefenseSettingsError("quality", f"must be between 0 and 100, got {s.quality!r}")
    if s.quality is None and s.quality_range is not None:
        raise DefenseSettingsError("quality_range", "needs the WebP step, which is off")
    if s.flip is not None and s.flip not in FLIPS:
        raise DefenseSettingsError(
            "flip", f"must be one of {', '.join(FLIPS)} (or none), got {s.flip!r}"
        )
    if s.order not in ORDERS:
        raise DefenseSettingsError("order", f"must be one of {', '.join(ORDERS)}, got {s.order!r}")
    if not (isinstance(s.method, int) and not isinstance(s.method, bool) and 0 <= s.method <= 6):
        raise DefenseSettingsError("method", f"must be between 0 and 6, got {s.method!r}")
    if s.backend not in BACKENDS:
        raise DefenseSettingsError(
            "backend", f"must be one of {', '.join(BACKENDS)}, got {s.backend!r}"
        )
    if s.resize_pad is not None and not (
        _number(s.resize_pad) and 0 < s.resize_pad <= MAX_RESIZE_PAD
    ):
        raise DefenseSettingsError(
            "resize_pad", f"must be between 0 (off) and {MAX_RESIZE_PAD:g}, got {s.resize_pad!r}"
        )
    if s.seed is not None and not (isinstance(s.seed, int) and not isinstance(s.seed, bool)):
        raise DefenseSettingsError("seed", f"must be a whole number, got {s.seed!r}")
