"""``lltd attack``: adversarial examples for every image of a folder (foolbox 3 on torchvision)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app
from lltd.common.errors import LltdError, UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from lltd.attack.run import AttackRecord, AttackReport

from lltd.attack.catalog import ATTACKS, help_text


@app.command(
    "attack",
    short_help="Write adversarial examples of the images under IN_DIR, with a manifest.csv.",
    help="Write adversarial examples Adv_<true>-<adversarial>.png of the images under IN_DIR, "
    "with a manifest.csv saying, per image, whether the saved PNG still fools the model.",
)
def attack_command(
    in_dir: Annotated[Path, typer.Argument(help="Folder (or one file) of images.")],
    output_directory: Annotated[
        Path,
        typer.Option(
            "-o", "--output-directory", metavar="OUT", help="Where the PNGs and manifest go."
        ),
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="efficientnet-lite0 (offline, the [imagenet] extra), 'reference', a torchvision "
            "classification model (inception_v3, resnet50, ...), or package.module:function.",
        ),
    ] = "inception_v3",
    weights: opt.Weights = "DEFAULT",
    attack: Annotated[
        str,
        typer.Option(
            "--attack", metavar=f"[{'|'.join(ATTACKS)}]", help=f"One of {', '.join(ATTACKS)}."
        ),
    ] = "deepfool",
    epsilon: opt.Epsilon = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help=f"Attack iterations (default: {help_text()}).", min=1),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch.", min=1)] = 8,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    synsets: Annotated[
        Path | None,
        typer.Option(
            "--synsets",
            help="synset_words.txt giving ImageNet synsets and names (default: one found in or "
            "above IN_DIR).",
            dir_okay=False,
        ),
    ] = None,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    json_report: opt.JsonReport = None,
    quiet: opt.Quiet = False,
) -> None:
    try:
        if attack not in ATTACKS:
            raise UsageError(f"--attack must be one of {', '.join(ATTACKS)}, not {attack!r}")
        if not in_dir.exists():
            raise UsageError(f"{in_dir}: no such file or folder")
        opt.writable_folder(output_directory)
        opt.prepare_torch(threads)  # before the import below loads torch
        from lltd.attack.run import AttackOptions, attack_folder, write_json

        options = AttackOptions(
            model=model,
            weights=None if weights == "random" else weights,
            attack=attack,
            epsilon=epsilon,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            device=device,
            synsets=synsets,
            max_pixels=max_pixels,
        )
        with _progress(quiet) as (on_start, on_record):
            report = attack_folder(
                in_dir, output_directory, options, on_start=on_start, on_record=on_record
            )
        if json_report is not None:
            write_json(report, json_report)
    except LltdError as exc:
        opt.fail(str(exc), 2)
    if not quiet:
        typer.echo(_summary(report), err=True)
    raise typer.Exit(1 if report.count("bad_input") else 0)


class _progress:
    """Failure lines as they happen; a rich progress bar when stderr is a terminal, a plain
    line every 10 s when it is a log (:mod:`lltd.common.progress`)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar, self.task, self.ticker = quiet, None, None, None

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start, self.record

    def start(self, total: int) -> None:
        if self.quiet or total == 0:
            return
        if not sys.stderr.isatty():
            from lltd.common.progress import Ticker

            def emit(line: str) -> None:
                print(line, file=sys.stderr, flush=True)

            self.ticker = Ticker(total, "lltd: attack", emit, unit="images")
            emit(f"lltd: attack: {total} images, the model is loaded")  # a log knows it started
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("attack", total=total)

    def record(self, record: AttackRecord) -> None:
        if record.status == "bad_input":
            line = f"lltd: failed: {record.input}: {record.reason}"
            if self.bar is not None:
                self.bar.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)
        if self.bar is not None:
            self.bar.advance(self.task)
        if self.ticker is not None:
            self.ticker.advance()

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _summary(report: AttackReport) -> str:
    counts = report.summary
    eps = f", epsilon {report.epsilon:.4g}" if report.epsilon is not None else ""
    return (
        f"{report.options.attack} on {report.classifier} ({report.device}{eps}): "
        f"{counts['images']} images in {report.seconds:.1f}s; {counts['ok']} adversarial saved "
        f"({counts['saved_still_adversarial']} still adversarial as 8-bit PNG), "
        f"{counts['attack_failed']} attack failed, {counts['clean_misclassified']} already "
        f"misclassified, {counts['bad_input']} unreadable -> "
        f"{report.output_dir / 'manifest.csv'}"
    )
