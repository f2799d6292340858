"""``lltd evaluate``: the paper's table (clean, attacked, defended accuracy) for a model."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.app import app
from lltd.errors import LltdError, UsageError
from lltd.limits import DEFAULT_MAX_PIXELS

# Kept here (not imported from lltd.evaluate.run) so that --help needs no torch.
DEFAULT_ATTACKS = "deepfool,fgsm,pgd,cw"
DEFAULT_DEFENSES = "none,webp,flip,webp+flip,jpeg,bit-depth,median"


@app.command(
    "evaluate",
    help="Accuracy of a classifier on clean, attacked and defended images (attacks computed once "
    "against the undefended model, saved as 8-bit images, then every defense applied; "
    "--adaptive adds BPDA attacks on each defended model). Writes results.json, results.csv, "
    "results.md and PNG plots to REPORT_DIR.",
)
def evaluate_command(
    output_directory: Annotated[
        Path, typer.Option("-o", "--output-directory", help="REPORT_DIR for the results.")
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="'reference' (the offline benchmark), a torchvision model name, or "
            "package.module:function.",
        ),
    ] = "reference",
    weights: opt.Weights = "DEFAULT",
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Labelled images: class folders (ImageFolder) or '<synset> <name>.<ext>' files "
            "(default for --model reference: its test split).",
        ),
    ] = None,
    attacks: Annotated[
        str, typer.Option("--attacks", help="Comma list of deepfool, fgsm, bim, pgd, cw.")
    ] = DEFAULT_ATTACKS,
    defenses: Annotated[
        str,
        typer.Option(
            "--defenses", help="Comma list of none, webp, flip, webp+flip, jpeg, bit-depth, median."
        ),
    ] = DEFAULT_DEFENSES,
    quality: Annotated[
        float, typer.Option("-q", "--quality", help="WebP quality of webp and webp+flip.")
    ] = 60,
    jpeg_quality: Annotated[int, typer.Option("--jpeg-quality", help="JPEG quality.")] = 75,
    bits: Annotated[int, typer.Option("--bits", help="Bits per channel for bit-depth.")] = 4,
    median_size: Annotated[
        int, typer.Option("--median-size", help="Median filter size (odd).")
    ] = 3,
    epsilon: Annotated[
        float | None,
        typer.Option("--epsilon", help="L-inf budget of fgsm/bim/pgd in [0, 1] (default 8/255)."),
    ] = None,
    adaptive: Annotated[
        bool, typer.Option("--adaptive", help="Also attack each defended model (BPDA + PGD).")
    ] = False,
    sweep_quality: Annotated[
        str | None,
        typer.Option(
            "--sweep-quality",
            help="Comma list of qualities (e.g. 10,20,...,100): accuracy and size vs WebP and "
            "JPEG quality.",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="60 images and fewer attack steps (for CI).")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Evaluate at most this many images.", min=1)
    ] = None,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    synsets: Annotated[
        Path | None,
        typer.Option("--synsets", help="synset_words.txt for ImageNet labels.", dir_okay=False),
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    quiet: opt.Quiet = False,
) -> None:
    try:
        from lltd.evaluate.defenses import DefenseParameters, parse_defenses
        from lltd.evaluate.report import print_table, write_report
        from lltd.evaluate.run import EvaluateOptions, evaluate_model, parse_list, parse_qualities

        if threads:
            import torch

            torch.set_num_threads(threads)
        parameters = DefenseParameters(quality, jpeg_quality, bits, median_size)
        options = EvaluateOptions(
            attacks=parse_list(attacks, "--attacks"),
            defenses=parse_defenses(defenses, parameters),
            parameters=parameters,
            epsilon=epsilon,
            adaptive=adaptive,
            sweep_qualities=parse_qualities(sweep_quality) if sweep_quality else (),
            quick=quick,
            seed=seed,
        )
        options.validate()
        if data is not None and not data.is_dir():
            raise UsageError(f"--data {data}: not a folder")
        started = time.monotonic()

        def say(message: str) -> None:
            if not quiet:
                typer.echo(f"lltd: {message} [{time.monotonic() - started:.0f} s]", err=True)

        report = evaluate_model(
            model,
            None if weights == "random" else weights,
            data,
            options,
            device=device,
            limit=limit,
            synsets=synsets,
            max_pixels=max_pixels,
            progress=say,
        )
        written = write_report(report, output_directory, plots=plots)
    except LltdError as exc:  # usage, data or missing weights: exit 2, as `lltd attack`
        opt.fail(str(exc), 2)
    if not quiet:
        print_table(report)
        names = ", ".join(path.name for path in written)
        typer.echo(f"lltd: wrote {names} to {output_directory}", err=True)
    sys.stdout.flush()
