"""``lltd flip``: a flipped copy ``<stem>_f<ext>`` of every image, like the original flip script."""

from __future__ import annotations

from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.common.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS


@app.command("flip", help="Write a flipped copy <stem>_f<ext> of every image under DIR.")
def flip_command(
    directory: Annotated[str, typer.Argument(help="Folder of images.")],
    output_directory: Annotated[
        str | None,
        typer.Option("-o", "--output-directory", help="Write here instead of beside."),
    ] = None,
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            metavar="[horizontal|vertical]",
            help="horizontal (left-right) or vertical.",
        ),
    ] = "horizontal",
    suffix: Annotated[str, typer.Option("--suffix", help="Appended to the stem.")] = "_f",
    format: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="[same|png]",
            help="same (JPEG keeps its tables) or png (lossless).",
        ),
    ] = "same",
    force: Annotated[bool, typer.Option("--force", help="Redo flips that already exist.")] = False,
    auto_orient: opt.AutoOrient = False,
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
    from lltd.jobs.settings import flip_job

    root = opt.input_location(directory)
    job = flip_job(
        opt.absolute_location(output_directory) if output_directory else None,  # type: ignore[arg-type]
        direction=direction,
        suffix=suffix,
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
        summary=lambda totals: batch_summary(totals, verb="flip", output=job.output_dir),
    )
