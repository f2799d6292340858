"""Settings (command-line flags or a watch folder's TOML) become jobs here, and only here: each
choice list, default and the webp-converter quality rule is written once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lltd.codecs.options import EncodeOptions, webp_converter_options
from lltd.common.errors import CodecError, UsageError
from lltd.common.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

FLIP_FORMATS = ("same", "png")
DEFEND_FORMATS = ("png", "webp-lossless")
#: webp-converter's default: 100, which its rule turns into ``-lossless -q 100``.
COMPRESS_QUALITY = 100.0

if TYPE_CHECKING:  # compress never needs the defense (random and its settings: 2 ms a start)
    from lltd.defense.settings import DefenseSettings


def check_choice(option: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def compress_options(quality: float | None, **cwebp: object) -> EncodeOptions:
    """webp-converter's rule: quality 100 means ``-lossless -q 100``; ``-lossless`` forces it."""
    lossless = bool(cwebp.pop("lossless", False))
    options = webp_converter_options(COMPRESS_QUALITY if quality is None else quality, **cwebp)
    return options.with_(lossless=True) if lossless else options


def check_codec(backend: str, cwebp: str | None, options: EncodeOptions | None = None) -> None:
    """A missing cwebp or an option its backend cannot honour: a usage error now, not one
    failure per file."""
    from lltd.codecs import BACKENDS, get_codec

    check_choice("--backend", backend, BACKENDS)
    try:
        get_codec(backend, cwebp).check(options or EncodeOptions())
    except CodecError as exc:
        raise UsageError(str(exc)) from None


def compress_job(
    output: Path,
    options: EncodeOptions,
    *,
    backend: str = "pillow",
    cwebp: str | None = None,
    replace: bool = False,
    ignore_transparency: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    force: bool = False,
    auto_orient: bool = False,
    reason_files: bool = True,
):  # type: ignore[no-untyped-def]
    from lltd.jobs.compress import CompressJob

    check_codec(backend, cwebp, options)
    return CompressJob(
        output_dir=output,
        options=options,
        backend=backend,
        cwebp=cwebp,
        replace=replace,
        ignore_transparency=ignore_transparency,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        force=force,
        auto_orient=auto_orient,
        reason_files=reason_files,
    )


def flip_job(
    output: Path | None,
    *,
    direction: str = "horizontal",
    suffix: str = "_f",
    format: str | None = None,
    force: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    auto_orient: bool = False,
):  # type: ignore[no-untyped-def]
    from lltd.defense.settings import DIRECTIONS
    from lltd.jobs.flip import FlipJob

    format = format or "same"
    check_choice("--direction", direction, DIRECTIONS)
    check_choice("--format", format, FLIP_FORMATS)
    if not suffix or "/" in suffix:
        raise UsageError("--suffix must be non-empty and hold no '/'")
    return FlipJob(
        direction=direction,  # type: ignore[arg-type]
        suffix=suffix,
        output_dir=output,
        format=format,
        force=force,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        auto_orient=auto_orient,
    )


def defend_job(
    output: Path,
    settings: DefenseSettings,
    *,
    format: str | None = None,
    force: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    auto_orient: bool = True,
):  # type: ignore[no-untyped-def]
    """The defense itself is one value (:class:`lltd.defense.settings.DefenseSettings`, checked
    where it is built); the job adds the container and the file rules."""
    from lltd.jobs.defend import DefendJob

    format = format or "png"
    check_choice("--format", format, DEFEND_FORMATS)
    if settings.quality is not None or settings.quality_range is not None:
        check_codec(settings.backend, settings.cwebp)
    return DefendJob(
        output_dir=output,
        settings=settings,
        format=format,
        force=force,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        auto_orient=auto_orient,
    )
