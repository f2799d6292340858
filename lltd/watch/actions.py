"""The batch job a drop folder runs on each file: the same jobs as ``lltd defend``, ``compress``
and ``flip``, so encoding and atomic writes live in one place."""

from __future__ import annotations

from pathlib import Path

from lltd.batch.engine import Job
from lltd.batch.scan import COMPRESS_EXTENSIONS, IMAGE_EXTENSIONS
from lltd.errors import CodecError, UsageError
from lltd.watch.config import FolderConfig


def make_job(folder: FolderConfig, output: Path) -> tuple[Job, frozenset[str]]:
    """The job for ``folder`` writing under ``output``, and the file extensions it takes.

    Jobs run with ``force``: a file dropped again under an earlier name is new work, and a file
    redone after a crash gets an identical output.
    """
    if folder.action == "defend":
        from lltd.jobs.defend import DefendJob

        if folder.backend == "cwebp" and not folder.no_webp:
            _check_codec(folder, None)
        job: Job = DefendJob(
            output_dir=output,
            settings=folder.defense(str(folder.input)),
            format=folder.format or "png",
            force=True,
            max_pixels=folder.max_pixels,
        )
        return job, IMAGE_EXTENSIONS
    if folder.action == "flip":
        from lltd.jobs.flip import FlipJob

        job = FlipJob(
            direction=folder.direction,
            output_dir=output,  # type: ignore[arg-type]
            format=folder.format or "same",
            force=True,
            max_pixels=folder.max_pixels,
        )
        return job, IMAGE_EXTENSIONS
    from lltd.codecs import EncodeOptions
    from lltd.jobs.compress import CompressJob

    quality = 100 if folder.quality is None else folder.quality
    # webp-converter's rule, as `lltd compress`: quality 100 means lossless.
    options = EncodeOptions(quality=quality, lossless=quality >= 100, method=folder.method)
    _check_codec(folder, options)
    job = CompressJob(
        output_dir=output,
        options=options,
        backend=folder.backend,
        cwebp=folder.cwebp,
        max_pixels=folder.max_pixels,
        force=True,
    )
    return job, COMPRESS_EXTENSIONS


def _check_codec(folder: FolderConfig, options: object) -> None:
    """A missing cwebp is a configuration error at start-up, not one failure per file."""
    from lltd.codecs import EncodeOptions, get_codec

    try:
        codec = get_codec(folder.backend, folder.cwebp)
        codec.check(options if isinstance(options, EncodeOptions) else EncodeOptions())
    except CodecError as exc:
        raise UsageError(f"{folder.input}: {exc}") from None
