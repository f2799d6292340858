"""``lltd compress``: webp-converter's batch conversion, option for option, in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.limits import DEFAULT_MAX_PIXELS


@app.command(
    "compress",
    help="Convert every PNG/JPEG under DIR to WebP (webp-converter compatible). A WebP that is not "
    "smaller is not kept: the original goes to OUT/origin/; failures go to OUT/failed/. Every "
    "cwebp option is taken too (-sns 30, -resize 224 0, ...; lltd cwebp -longhelp lists them).",
)
def compress_command(
    directory: Annotated[str, typer.Argument(help="Folder of images (default: current).")] = ".",
    quality: Annotated[
        float,
        typer.Option(
            "-q",
            "--q",
            "--quality",
            "--quality-ratio",
            min=0,
            max=100,
            help="0-100; 100 (the default) means lossless (-lossless -q 100).",
        ),
    ] = 100,
    output_directory: Annotated[
        str | None,
        typer.Option("-o", "--output-directory", help="Default: ./webp-converted/"),
    ] = None,
    ignore_transparency_image: Annotated[
        bool,
        typer.Option(
            "--ignore-transparency-image",
            help="Copy images with any alpha < 255 to OUT/transparency/ instead.",
        ),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--r", help="Replace originals in place (after each WebP is complete).")
    ] = False,
    clean: Annotated[bool, typer.Option("--c", help="Delete the output directory first.")] = False,
    ignore_filename_match: Annotated[
        str | None,
        typer.Option(
            "--ignore-filename-match",
            metavar="TEXT",
            help="Skip files whose name contains TEXT (or matches it as a glob).",
        ),
    ] = None,
    method: opt.Method = 4,
    lossless: Annotated[
        bool, typer.Option("-lossless", "--lossless", help="cwebp -lossless.")
    ] = False,
    alpha_q: Annotated[
        int, typer.Option("-alpha_q", "--alpha-q", min=0, max=100, help="cwebp -alpha_q.")
    ] = 100,
    exact: Annotated[bool, typer.Option("-exact", "--exact", help="cwebp -exact.")] = False,
    metadata: Annotated[
        str, typer.Option("-metadata", "--metadata", help="cwebp -metadata: all,none,exif,icc,xmp.")
    ] = "none",
    sharp_yuv: Annotated[
        bool, typer.Option("-sharp_yuv", "--sharp-yuv", help="cwebp -sharp_yuv.")
    ] = False,
    preset: Annotated[
        str | None, typer.Option("-preset", "--preset", help="cwebp -preset (cwebp backend).")
    ] = None,
    backend: opt.Backend = "pillow",
    cwebp: opt.CwebpPath = None,
    auto_orient: opt.AutoOrient = False,
    cwebp_args: Annotated[
        list[str] | None,
        typer.Option("--cwebp-arg", hidden=True, help="A token of a cwebp option (internal)."),
    ] = None,
    jobs: opt.Jobs = 0,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    json_report: opt.JsonReport = None,
    quiet: opt.Quiet = False,
    debug: opt.Debug = False,
    scheduler: opt.Scheduler = None,
    dry_run: opt.DryRun = False,
) -> None:
    from lltd.batch.report import compress_summary
    from lltd.codecs import parse_metadata
    from lltd.codecs.grammar import parse_batch_options
    from lltd.errors import UsageError
    from lltd.jobs.settings import compress_job, compress_options
    from lltd.text import printable

    if replace and (clean or output_directory is not None):
        raise UsageError(
            "--r cannot be combined with --c or -o: --r writes each WebP beside its original and "
            "deletes the original, while -o/--c are about a separate output directory"
        )
    root = opt.input_location(directory)
    output = opt.absolute_location(output_directory or Path.cwd() / "webp-converted")
    options = compress_options(
        quality,
        lossless=lossless,
        method=method,
        alpha_q=alpha_q,
        exact=exact,
        metadata=parse_metadata(metadata),
        sharp_yuv=sharp_yuv,
        preset=preset,
    )
    options = parse_batch_options(cwebp_args or [], options)
    job = compress_job(
        output,  # type: ignore[arg-type]
        options,
        backend=backend,
        cwebp=cwebp,
        replace=replace,
        ignore_transparency=ignore_transparency_image,
        max_pixels=max_pixels,
        auto_orient=auto_orient,
    )
    if not quiet and not dry_run:
        where = (
            f"replaced with WebP on {printable(root)}"
            if replace
            else f"converted to {printable(output)}"
        )
        typer.echo(f"images on {printable(root)} will be {where}", err=True)
    opt.run_batch_command(
        lambda: opt.plan(
            root, job, dry_run=dry_run, clean=clean, ignore_filename_match=ignore_filename_match
        ),
        jobs=jobs,
        scheduler=scheduler,
        json_report=json_report,
        quiet=quiet,
        debug=debug,
        dry_run=dry_run,
        # Threads for Pillow (it releases the GIL in zlib, libjpeg and libwebp): faster than
        # processes in bench_compress.py, with no fork; cwebp runs in subprocesses either way.
        pool="threads" if backend == "pillow" else "processes",
        summary=lambda totals: compress_summary(
            totals, output=output, replaced_in=root if replace else None
        ),
    )
