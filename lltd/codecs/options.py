"""WebP encoding options, named and defaulted as cwebp names and defaults them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from lltd.codecs.cwebp_options import BY_NAME, REFUSED
from lltd.codecs.cwebp_values import check_metadata, parse_metadata
from lltd.common.errors import UsageError

PRESETS = ("default", "photo", "picture", "drawing", "icon", "text")


@dataclass(frozen=True)
class EncodeOptions:
    """cwebp's main encoding options; field names follow cwebp's flags.

    ``quality`` is ``-q`` (0-100), ``method`` is ``-m`` (0-6), ``alpha_q`` is ``-alpha_q``,
    ``metadata`` is the comma list of ``-metadata`` (default ``none``, as cwebp).
    """

    quality: float = 75.0
    method: int = 4
    lossless: bool = False
    alpha_q: int = 100
    exact: bool = False
    metadata: tuple[str, ...] = ("none",)
    sharp_yuv: bool = False
    preset: str | None = None
    # cwebp's picture options, honoured by both backends.
    crop: tuple[int, int, int, int] | None = None  # -crop x y w h
    resize: tuple[int, int] | None = None  # -resize w h (0: keep the aspect ratio)
    noalpha: bool = False
    blend_alpha: int | None = None  # -blend_alpha 0xRRGGBB
    lossless_preset: int | None = None  # -z level
    #: libwebp settings only the cwebp backend honours, as cwebp tokens in the order given
    #: (e.g. ``(("-sns", "30"), ("-strong",))``).
    tuning: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.quality <= 100:
            raise UsageError(f"quality must be between 0 and 100, got {self.quality:g}")
        if not 0 <= self.method <= 6:
            raise UsageError(f"method (-m) must be between 0 and 6, got {self.method}")
        if not 0 <= self.alpha_q <= 100:
            raise UsageError(f"-alpha_q must be between 0 and 100, got {self.alpha_q}")
        if self.preset is not None and self.preset not in PRESETS:
            raise UsageError(f"unknown -preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        check_metadata(self.metadata)

    def cwebp_only(self) -> str | None:
        """The first option set here that only the cwebp backend can honour, or None."""
        if self.preset is not None:
            return "-preset"
        if self.sharp_yuv:
            return "-sharp_yuv"
        for flag, *_ in self.tuning:
            if BY_NAME[flag].pillow == REFUSED:
                return flag
        return None

    @property
    def keeps(self) -> frozenset[str]:
        """Metadata kinds to copy into the WebP (``all`` expanded)."""
        kinds = set(self.metadata)
        if "all" in kinds:
            return frozenset({"exif", "icc", "xmp"})
        return frozenset(kinds - {"none"})

    def with_(self, **changes: object) -> EncodeOptions:
        return replace(self, **changes)  # type: ignore[arg-type]


__all__ = ["EncodeOptions", "parse_metadata", "webp_converter_options"]


def webp_converter_options(quality: int, **extra: object) -> EncodeOptions:
    """webp-converter's rule: quality 100 means ``-lossless -q 100``, anything else ``-q N``."""
    if quality >= 100:
        return EncodeOptions(quality=100, lossless=True, **extra)  # type: ignore[arg-type]
    return EncodeOptions(quality=quality, **extra)  # type: ignore[arg-type]
