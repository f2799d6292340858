"""``lltd defend``: WebP compression then a flip (the paper's defense) over a folder, one pass."""

from __future__ import annotations

from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.app import app
from lltd.limits import DEFAULT_MAX_PIXELS


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
    quality: Annotated[
        float, typer.Option("-q", "--quality", min=0, max=100, help="WebP quality.")
    ] = 60,
    quality_range: Annotated[
        str | None,
        typer.Option(
            "--quality-range",
            metavar="LOW-HIGH",
            help="Randomised: draw the WebP quality per image from this band (e.g. 40-80); "
            "replaces -q.",
        ),
    ] = None,
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            help="horizontal (left-right), vertical, or random (one of the two per image).",
        ),
    ] = "horizontal",
    no_flip: Annotated[bool, typer.Option("--no-flip", help="Skip the flip.")] = False,
    no_webp: Annotated[bool, typer.Option("--no-webp", help="Skip the WebP round trip.")] = False,
    order: Annotated[str, typer.Option("--order", help="webp-flip or flip-webp.")] = "webp-flip",
    resize_pad: Annotated[
        float,
        typer.Option(
            "--resize-pad",
            metavar="SHARE",
            help="Randomised (Xie et al. 2018): shrink each image by a random share up to this "
            "(0-0.5) and pad it back to its size at a random offset. 0: off.",
        ),
    ] = 0,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Make the randomised draws reproducible (per file, by relative path)."
        ),
    ] = None,
    method: opt.Method = 4,
    backend: opt.Backend = "pillow",
    cwebp: opt.CwebpPath = None,
    format: Annotated[
        str,
        typer.Option("--format", help="Container of the defended pixels: png or webp-lossless."),
    ] = "png",
    force: Annotated[
        bool, typer.Option("--force", help="Redo outputs that are up to date.")
    ] = False,
    jobs: opt.Jobs = 0,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    json_report: opt.JsonReport = None,
    quiet: opt.Quiet = False,
    debug: opt.Debug = False,
    scheduler: opt.Scheduler = None,
) -> None:
    from lltd.batch.report import batch_summary
    from lltd.defense import CLI_NAMES, DefenseSettings
    from lltd.jobs.defend import FORMATS, DefendJob, plan_defend

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
    opt.check_choice("--format", format, FORMATS)
    if backend == "cwebp" and not no_webp:
        from lltd.codecs import get_codec

        get_codec(backend, cwebp)  # a missing cwebp is a usage error now, not 1 failure per file
    job = DefendJob(
        output_dir=opt.absolute_location(output_directory),
        settings=settings,
        format=format,
        force=force,
        max_pixels=max_pixels,
    )
    opt.run_batch_command(
        opt.plan(plan_defend, root, job),
        jobs=jobs,
        scheduler=scheduler,
        json_report=json_report,
        quiet=quiet,
        debug=debug,
        summary=lambda totals: batch_summary(totals, verb="defend", output=job.output_dir),
    )
