"""The one body of ``lltd compress``, typer-free: both parsers hand it a request."""

from __future__ import annotations

import sys
from pathlib import Path

from lltd.cli.lean.compress_request import CompressRequest


def run_compress(request: CompressRequest) -> int:
    """Check, plan and run ``request``; returns the exit status."""
    from lltd.batch import command
    from lltd.batch.report import compress_summary
    from lltd.codecs import parse_metadata
    from lltd.codecs.grammar import parse_batch_options
    from lltd.common.errors import UsageError
    from lltd.common.text import printable
    from lltd.jobs.settings import compress_job, compress_options

    r = request
    if r.replace and (r.clean or r.output_directory is not None):
        raise UsageError(
            "--r cannot be combined with --c or -o: --r writes each WebP beside its original and "
            "deletes the original, while -o/--c are about a separate output directory"
        )
    root = command.input_location(r.directory)
    output = command.absolute_location(r.output_directory or Path.cwd() / "webp-converted")
    options = compress_options(
        r.quality,
        lossless=r.lossless,
        method=r.method,
        alpha_q=r.alpha_q,
        exact=r.exact,
        metadata=parse_metadata(r.metadata),
        sharp_yuv=r.sharp_yuv,
        preset=r.preset,
    )
    options = parse_batch_options(list(r.cwebp_args), options)
    job = compress_job(
        output,  # type: ignore[arg-type]
        options,
        backend=r.backend,
        cwebp=r.cwebp,
        replace=r.replace,
        ignore_transparency=r.ignore_transparency_image,
        max_pixels=r.max_pixels,
        max_bytes=r.max_bytes,
        auto_orient=r.auto_orient,
        reason_files=r.reason_files,
    )
    if not r.quiet and not r.dry_run:
        where = (
            f"replaced with WebP on {printable(root)}"
            if r.replace
            else f"converted to {printable(output)}"
        )
        print(f"images on {printable(root)} will be {where}", file=sys.stderr, flush=True)
    return command.batch_status(
        lambda: command.plan(
            root,
            job,
            dry_run=r.dry_run,
            clean=r.clean,
            ignore_filename_match=r.ignore_filename_match,
        ),
        jobs=r.jobs,
        scheduler=r.scheduler,
        json_report=r.json_report,
        quiet=r.quiet,
        debug=r.debug,
        dry_run=r.dry_run,
        # Threads for Pillow (it releases the GIL in zlib, libjpeg and libwebp): faster than
        # processes in bench_compress.py, with no fork; cwebp runs in subprocesses either way.
        pool="threads" if r.backend == "pillow" else "processes",
        summary=lambda totals: compress_summary(
            totals, output=output, replaced_in=root if r.replace else None
        ),
    )
