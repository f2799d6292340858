"""``lltd compress``: webp-converter's batch conversion, option for option, in parallel."""

from __future__ import annotations

from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.lean.compress_request import NAMES, RANGES, CompressRequest
from lltd.cli.root import app

# Names, defaults and bounds are the request's, shared with the lean parser
# (lltd.cli.lean.compress_argv).
D = CompressRequest


@app.command(
    "compress",
    help="Convert every PNG/JPEG under DIR to WebP (webp-converter compatible). A WebP that is not "
    "smaller is not kept: the original goes to OUT/origin/; failures go to OUT/failed/. Every "
    "cwebp option is taken too (-sns 30, -resize 224 0, ...; lltd cwebp -longhelp lists them).",
)
def compress_command(
    directory: Annotated[
        str, typer.Argument(help="Folder of images (default: current).")
    ] = D.directory,
    quality: Annotated[
        float,
        typer.Option(
            *NAMES["quality"],
            min=RANGES["quality"][0],
            max=RANGES["quality"][1],
            help="0-100; 100 (the default) means lossless (-lossless -q 100).",
        ),
    ] = D.quality,
    output_directory: Annotated[
        str | None,
        typer.Option(*NAMES["output_directory"], help="Default: ./webp-converted/"),
    ] = D.output_directory,
    ignore_transparency_image: Annotated[
        bool,
        typer.Option(
            *NAMES["ignore_transparency_image"],
            help="Copy images with any alpha < 255 to OUT/transparency/ instead.",
        ),
    ] = D.ignore_transparency_image,
    replace: Annotated[
        bool,
        typer.Option(
            *NAMES["replace"], help="Replace originals in place (after each WebP is complete)."
        ),
    ] = D.replace,
    clean: Annotated[
        bool, typer.Option(*NAMES["clean"], help="Delete the output directory first.")
    ] = D.clean,
    ignore_filename_match: Annotated[
        str | None,
        typer.Option(
            *NAMES["ignore_filename_match"],
            metavar="TEXT",
            help="Skip files whose name contains TEXT (or matches it as a glob).",
        ),
    ] = D.ignore_filename_match,
    method: opt.Method = D.method,
    lossless: Annotated[
        bool, typer.Option(*NAMES["lossless"], help="cwebp -lossless.")
    ] = D.lossless,
    alpha_q: Annotated[
        int,
        typer.Option(
            *NAMES["alpha_q"],
            min=RANGES["alpha_q"][0],
            max=RANGES["alpha_q"][1],
            help="cwebp -alpha_q.",
        ),
    ] = D.alpha_q,
    exact: Annotated[bool, typer.Option(*NAMES["exact"], help="cwebp -exact.")] = D.exact,
    metadata: Annotated[
        str,
        typer.Option(
            *NAMES["metadata"],
            metavar="LIST",
            help="cwebp -metadata: a comma list of all, none, exif, icc, xmp.",
        ),
    ] = D.metadata,
    sharp_yuv: Annotated[
        bool, typer.Option(*NAMES["sharp_yuv"], help="cwebp -sharp_yuv.")
    ] = D.sharp_yuv,
    preset: Annotated[
        str | None,
        typer.Option(
            *NAMES["preset"],
            metavar="[default|photo|picture|drawing|icon|text]",
            help="cwebp -preset (cwebp backend).",
        ),
    ] = D.preset,
    backend: opt.Backend = D.backend,
    cwebp: opt.CwebpPath = D.cwebp,
    auto_orient: opt.AutoOrient = D.auto_orient,
    reason_files: Annotated[
        bool,
        typer.Option(
            *NAMES["reason_files"],
            help="Also write OUT/failed/NAME.error.txt with each failure's reason (the log and "
            "--json give it either way).",
        ),
    ] = D.reason_files,
    cwebp_args: Annotated[
        list[str] | None,
        typer.Option("--cwebp-arg", hidden=True, help="A token of a cwebp option (internal)."),
    ] = None,
    jobs: opt.Jobs = D.jobs,
    max_pixels: opt.MaxPixels = D.max_pixels,
    max_bytes: opt.MaxBytes = D.max_bytes,
    json_report: opt.JsonReport = D.json_report,
    quiet: opt.Quiet = D.quiet,
    debug: opt.Debug = D.debug,
    scheduler: opt.Scheduler = D.scheduler,
    dry_run: opt.DryRun = D.dry_run,
) -> None:
    given = dict(locals())  # first: exactly the parameters, named as the request's fields
    from lltd.cli.lean import compress_work

    given["cwebp_args"] = tuple(cwebp_args or ())
    raise typer.Exit(compress_work.run_compress(CompressRequest(**given)))
