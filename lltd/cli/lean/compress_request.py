"""What one ``lltd compress`` run is asked to do, whichever parser read the command line.

The typer command (:mod:`lltd.cli.compress`) and the lean parser
(:mod:`lltd.cli.lean.compress_argv`) both build a :class:`CompressRequest`, and both read its
defaults and :data:`RANGES` from here, so the two cannot drift apart on a default or a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lltd.common.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

#: The option names of each field the lean parser reads; the typer declarations take them from
#: here. (--scheduler and the hidden --cwebp-arg are left to typer.)
NAMES: dict[str, tuple[str, ...]] = {
    "quality": ("-q", "--q", "--quality", "--quality-ratio"),
    "output_directory": ("-o", "--output-directory"),
    "ignore_transparency_image": ("--ignore-transparency-image",),
    "replace": ("--r",),
    "clean": ("--c",),
    "ignore_filename_match": ("--ignore-filename-match",),
    "method": ("-m", "--method"),
    "lossless": ("-lossless", "--lossless"),
    "alpha_q": ("-alpha_q", "--alpha-q"),
    "exact": ("-exact", "--exact"),
    "metadata": ("-metadata", "--metadata"),
    "sharp_yuv": ("-sharp_yuv", "--sharp-yuv"),
    "preset": ("-preset", "--preset"),
    "backend": ("--backend",),
    "cwebp": ("--cwebp",),
    "auto_orient": ("--auto-orient",),
    "reason_files": ("--reason-files",),
    "jobs": ("-j", "--jobs"),
    "max_pixels": ("--max-pixels",),
    "max_bytes": ("--max-bytes",),
    "json_report": ("--json",),
    "quiet": ("--quiet",),
    "debug": ("--debug",),
    "dry_run": ("--dry-run",),
}

#: Inclusive bounds of the numeric options (None: unbounded), by field name.
RANGES: dict[str, tuple[int, int | None]] = {
    "quality": (0, 100),
    "alpha_q": (0, 100),
    "method": (0, 6),
    "jobs": (0, None),
    "max_pixels": (1, None),
    "max_bytes": (1, None),
}


@dataclass(frozen=True)
class CompressRequest:
    """One field per ``compress`` parameter, named as the typer command's."""

    directory: str = "."
    quality: float = 100.0  # webp-converter's default: lossless
    output_directory: str | None = None
    ignore_transparency_image: bool = False
    replace: bool = False
    clean: bool = False
    ignore_filename_match: str | None = None
    method: int = 4
    lossless: bool = False
    alpha_q: int = 100
    exact: bool = False
    metadata: str = "none"
    sharp_yuv: bool = False
    preset: str | None = None
    backend: str = "pillow"
    cwebp: str | None = None
    auto_orient: bool = False
    reason_files: bool = False  # no .error.txt in failed/ unless asked, as webp-converter
    #: cwebp options compress does not declare itself, token by token, in command-line order.
    cwebp_args: tuple[str, ...] = ()
    jobs: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    json_report: Path | None = None
    quiet: bool = False
    debug: bool = False
    scheduler: str | None = None
    dry_run: bool = False
