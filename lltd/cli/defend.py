"""``lltd defend``: WebP compression then a flip (the paper's defense) over a folder, one pass."""

from __future__ import annotations

from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.common.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS


@app.command(
    "defend",
    help="Write flip(decode(webp_encode(image, q))) of every image under DIR to OUT "
    "(<relative path>/<stem>.png). Bad input goes to OUT/failed/ with a reason.",
)
def defend_command(
    directory: Annotated[str, typer.Argument(help="Folder of images.")],
    output_directory: Annotated[
        str, typer.Option("-o", "--output-directory", help="Output folder.")
    ],
    quality: opt.Quality = None,
    quality_range: opt.QualityRange = None,
    direction: opt.Direction = "horizontal",
    no_flip: opt.NoFlip = False,
    no_webp: opt.NoWebp = False,
    order: opt.Order = "webp-flip",
    resize_pad: opt.ResizePad = 0,
    seed: opt.DefenseSeed = None,
    method: opt.Method = 4,
    backend: opt.Backend = "pillow",
    cwebp: opt.CwebpPath = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="[png|webp-lossless]",
            help="Container of the defended pixels: png or webp-lossless.",
        ),
    ] = "png",
    force: Annotated[
        bool, typer.Option("--force", help="Redo outputs that are up to date.")
    ] = False,
    auto_orient: Annotated[
        bool,
        typer.Option(
            "--auto-orient/--no-auto-orient",
            help="Apply the EXIF orientation before defending (default: on, since the output "
            "carries no EXIF and a classifier should see the picture upright).",
        ),
    ] = True,
    jobs: opt.Jobs = 0,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    max_bytes: opt.MaxBytes = DEFAULT_MAX_BYTES,
    json_report: opt.JsonReport = None,
    quiet: opt.Quiet = False,
    debug: opt.Debug = False,
    scheduler: opt.Scheduler = None,
    dry_run: opt.DryRun = False,
) -> None:
    from lltd.batch.report import batch_summary
    from lltd.defense import CLI_NAMES, DefenseSettings
    from lltd.jobs.settings import defend_job

    root = opt.input_location(directory)
    settings = DefenseSettings.from_options(
        names=CLI_NAMES,
        quality=quality,
        quality_range=quality_range,
        no_webp=no_webp,
        direction=direction,
        no_flip=no_flip,
        order=order,
        method=method,
        backend=backend,
        cwebp=cwebp,
        resize_pad=resize_pad,
        seed=seed,
    )
    job = defend_job(
        opt.absolute_location(output_directory),  # type: ignore[arg-type]
        settings,
        format=format,
        force=force,
        max_pixels=max_pixels,
        max_bytes=max_bytes,
        auto_orient=auto_orient,
    )
    opt.run_batch_command(
        lambda: opt.plan(root, job, dry_run=dry_run),
        jobs=jobs,
        scheduler=scheduler,
        json_report=json_report,
        quiet=quiet,
        debug=debug,
        dry_run=dry_run,
        summary=lambda totals: batch_summary(totals, verb="defend", output=job.output_dir),
    )
