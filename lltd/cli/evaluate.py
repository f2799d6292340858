"""``lltd evaluate``: the paper's table (clean, attacked, defended accuracy) for a model."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from lltd.attack.catalog import ATTACKS, DEFAULT_EVALUATE_ATTACKS
from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.common.errors import LltdError, UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.common.text import printable

# Kept here (lltd.evaluate.defenses imports numpy) so that --help stays light; a test checks that
# they are lltd.evaluate.defenses.DEFENSES and DEFAULT_DEFENSES.
DEFENSE_CHOICES = (
    "none,webp,flip,webp+flip,jpeg,bit-depth,median,webp-band,flip-random,resize-pad,randomized"
)
DEFAULT_DEFENSES = "none,webp,flip,webp+flip,jpeg,bit-depth,median,webp-band,randomized"
#: lltd.evaluate.data.FOOLBOX_SAMPLES, kept here for the same reason (a test checks they agree).
FOOLBOX_SAMPLES = "foolbox-samples"


@app.command(
    "evaluate",
    short_help="Accuracy of a classifier on clean, attacked and defended images.",
    help="Accuracy of a classifier on clean, attacked and defended images (attacks computed once "
    "against the undefended model, saved as 8-bit images, then every defense applied; "
    "--adversarial adds precomputed adversarial images; --adaptive attacks each defended model "
    "with BPDA-PGD, EOT and Square, with sanity checks). Writes results.json, results.csv, "
    "results.md and PNG plots to REPORT_DIR.",
)
def evaluate_command(
    output_directory: Annotated[
        Path,
        typer.Option(
            "-o", "--output-directory", metavar="REPORT_DIR", help="REPORT_DIR for the results."
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="'reference' (the offline benchmark), efficientnet-lite0 (ImageNet, offline: "
            "the [imagenet] extra), a torchvision model name, or package.module:function.",
        ),
    ] = "reference",
    weights: opt.Weights = "DEFAULT",
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            help="Labelled images: class folders (ImageFolder) or '<synset> <name>.<ext>' files, "
            "or 'foolbox-samples' (the 20 ImageNet photographs in foolbox's wheel); repeatable, "
            "the sets are joined (default for --model reference: its test split).",
        ),
    ] = None,
    adversarial: Annotated[
        list[Path] | None,
        typer.Option(
            "--adversarial",
            help="A folder of precomputed adversarial images (Adv_<true synset> <name>-... as "
            "lltd attack writes them), evaluated under every defense; repeatable.",
        ),
    ] = None,
    attacks: Annotated[
        str,
        typer.Option(
            "--attacks", metavar="LIST", help=f"Comma list of {', '.join(ATTACKS)} (or none)."
        ),
    ] = ",".join(DEFAULT_EVALUATE_ATTACKS),
    defenses: Annotated[
        str,
        typer.Option(
            "--defenses",
            metavar="LIST",
            help=f"Comma list of {DEFENSE_CHOICES.replace(',', ', ')}.",
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
    quality_range: Annotated[
        str,
        typer.Option(
            "--quality-range", help="LOW-HIGH: the per-image WebP quality of webp-band/randomized."
        ),
    ] = "40-80",
    resize_pad: Annotated[
        float,
        typer.Option("--resize-pad", help="Largest shrink of resize-pad/randomized (0-0.5)."),
    ] = 0.15,
    epsilon: opt.Epsilon = None,
    adaptive: Annotated[
        bool,
        typer.Option(
            "--adaptive",
            help="Also attack each defended model: BPDA-PGD (100 steps, 2 restarts, CE and "
            "margin losses; EOT for randomised defenses) and Square, with sanity checks.",
        ),
    ] = False,
    adaptive_steps: Annotated[
        int | None, typer.Option("--adaptive-steps", help="BPDA-PGD steps (100).", min=1)
    ] = None,
    restarts: Annotated[
        int | None, typer.Option("--restarts", help="BPDA-PGD runs per loss (2).", min=1)
    ] = None,
    eot: Annotated[
        int | None,
        typer.Option("--eot", help="EOT draws per step, randomised defenses (8).", min=1),
    ] = None,
    square_queries: Annotated[
        int | None, typer.Option("--square-queries", help="Square attack queries (1000).", min=1)
    ] = None,
    surrogate_sigmas: Annotated[
        str | None,
        typer.Option(
            "--surrogate-sigmas",
            metavar="LIST",
            help="Widths (px) of BPDA's Gaussian low-pass through WebP, JPEG and median, e.g. "
            "1.5,0.7,3,2: run r of each loss uses the (r mod n)-th (1.5).",
        ),
    ] = None,
    sweep_quality: Annotated[
        str | None,
        typer.Option(
            "--sweep-quality",
            help="Qualities as 10..100:10, 10,20,...,100 or 30,60,90: accuracy and size vs "
            "WebP and JPEG quality.",
        ),
    ] = None,
    match_size: Annotated[
        bool,
        typer.Option(
            "--match-size",
            help="Pair each WebP quality (--sweep-quality's, else 20,40,60,80) with the JPEG "
            "quality of the same mean size and attack both (with --adaptive, BPDA-PGD too).",
        ),
    ] = False,
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
        opt.writable_folder(output_directory)
        opt.prepare_torch(threads)  # before the imports below load torch
        from lltd.evaluate.defenses import DefenseParameters, parse_defenses
        from lltd.evaluate.report import print_table, write_report
        from lltd.evaluate.run import EvaluateOptions, evaluate_model
        from lltd.evaluate.sweep import parse_qualities

        parameters = DefenseParameters(
            quality, jpeg_quality, bits, median_size, _band(quality_range), resize_pad
        )
        options = EvaluateOptions(
            attacks=_names(attacks, "--attacks"),
            defenses=parse_defenses(defenses, parameters),
            parameters=parameters,
            epsilon=epsilon,
            adaptive=adaptive,
            adaptive_steps=adaptive_steps,
            restarts=restarts,
            eot=eot,
            square_queries=square_queries,
            surrogate_sigmas=_widths(surrogate_sigmas) if surrogate_sigmas is not None else None,
            sweep_qualities=parse_qualities(sweep_quality) if sweep_quality else (),
            match_size=match_size,
            quick=quick,
            seed=seed,
        )
        options.validate()
        for folder in data or []:
            if folder != FOOLBOX_SAMPLES and not Path(folder).is_dir():
                raise UsageError(f"--data {printable(folder)}: not a folder")
        for folder in adversarial or []:
            if not folder.is_dir():
                raise UsageError(f"--adversarial {printable(folder)}: not a folder")
        started = time.monotonic()

        def say(message: str) -> None:
            if not quiet:
                typer.echo(f"lltd: {message} [{time.monotonic() - started:.0f} s]", err=True)

        report = evaluate_model(
            model,
            None if weights == "random" else weights,
            data or [],
            options,
            device=device,
            limit=limit,
            synsets=synsets,
            max_pixels=max_pixels,
            adversarial_dirs=adversarial or [],
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


def _names(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{what} is empty")
    return list(dict.fromkeys(items))


def _widths(text: str) -> tuple[float, ...]:
    """--surrogate-sigmas in order, repeats kept (the list is a schedule, not a set)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError("--surrogate-sigmas is empty")
    try:
        return tuple(float(item) for item in items)
    except ValueError:
        raise UsageError(
            f"--surrogate-sigmas {printable(text)}: not a comma list of numbers"
        ) from None


def _band(text: str) -> tuple[int, int]:
    from lltd.defense.settings import DefenseSettingsError, parse_quality_range

    try:
        return parse_quality_range(text)
    except DefenseSettingsError as exc:
        raise exc.named({"quality_range": "--quality-range"}) from None
