"""Option declarations and helpers shared by the batch commands."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from lltd.batch.command import (  # the commands read them from here
    absolute_location,
    batch_status,
    existing_directory,
    input_location,
    location,
    plan,
    runner_for,
)
from lltd.cli.lean.compress_request import RANGES
from lltd.common.errors import UsageError

if TYPE_CHECKING:
    from lltd.batch.pipeline import BatchRun

Jobs = Annotated[
    int,
    typer.Option(
        "-j", "--jobs", help="Parallel worker processes (0 = all cores).", min=RANGES["jobs"][0]
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar and no summary.")]
Debug = Annotated[bool, typer.Option("--debug", help="Print what happens to every file.")]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Print what would happen to each file and the counts; write nothing."
    ),
]
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:$")


def _local_json_path(path: Path | None) -> Path | None:
    # click has already made ``file:///x`` into ``file:/x``, which would create a folder "file:".
    if path is not None and path.parts and _URL_SCHEME.match(path.parts[0]):
        from lltd.common.text import printable

        raise UsageError(f"--json takes a local file, not a URL: {printable(str(path))}")
    return path


JsonReport = Annotated[
    Path | None,
    typer.Option(
        "--json",
        help="Write a machine-readable report (one record per file) here: a local file.",
        dir_okay=False,
        callback=_local_json_path,
    ),
]
MaxPixels = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        help="Refuse images with more pixels (decompression bombs).",
        min=RANGES["max_pixels"][0],
    ),
]
MaxBytes = Annotated[
    int,
    typer.Option(
        "--max-bytes",
        help="Refuse input files that hold more bytes (default 1 GiB, above any image within "
        "--max-pixels); a refused file is not copied to failed/.",
        min=RANGES["max_bytes"][0],
    ),
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        metavar="[pillow|cwebp]",
        help="WebP encoder: pillow (in-process libwebp) or cwebp.",
    ),
]
CwebpPath = Annotated[
    str | None, typer.Option("--cwebp", help="cwebp binary for --backend cwebp.", metavar="PATH")
]
AutoOrient = Annotated[
    bool,
    typer.Option(
        "--auto-orient",
        help="Apply the EXIF orientation to the pixels before encoding, and drop the tag.",
    ),
]
Method = Annotated[
    int,
    typer.Option(
        "-m",
        "--method",
        help="cwebp -m: 0 (fast) to 6 (slowest, smallest).",
        min=RANGES["method"][0],
        max=RANGES["method"][1],
    ),
]
# The defense settings (lltd.defense.DefenseSettings), declared once for the commands that take
# them with the same defaults as `lltd defend`.
# None when not given: -q beside --quality-range is refused, not silently ignored.
Quality = Annotated[
    float | None,
    typer.Option("-q", "--quality", min=0, max=100, help="WebP quality (default: 60)."),
]
QualityRange = Annotated[
    str | None,
    typer.Option(
        "--quality-range",
        metavar="LOW-HIGH",
        help="Randomised: draw the WebP quality per image from this band (e.g. 40-80); "
        "replaces -q.",
    ),
]
Direction = Annotated[
    str,
    typer.Option(
        "--direction",
        metavar="[horizontal|vertical|random]",
        help="horizontal (left-right), vertical, or random (one of the two per image).",
    ),
]
NoFlip = Annotated[bool, typer.Option("--no-flip", help="Skip the flip.")]
NoWebp = Annotated[bool, typer.Option("--no-webp", help="Skip the WebP round trip.")]
Order = Annotated[
    str, typer.Option("--order", metavar="[webp-flip|flip-webp]", help="webp-flip or flip-webp.")
]
ResizePad = Annotated[
    float,
    typer.Option(
        "--resize-pad",
        metavar="SHARE",
        help="Randomised (Xie et al. 2018): shrink each image by a random share up to this "
        "(0-0.5) and pad it back to its size at a random offset. 0: off.",
    ),
]
DefenseSeed = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help="Make the randomised draws reproducible (per image: from the seed and its relative "
        "path; serve: its bytes).",
    ),
]
Weights = Annotated[
    str,
    typer.Option(
        "--weights",
        help="DEFAULT (torchvision's published weights, from the torch hub cache), a weights "
        "name such as IMAGENET1K_V1, a state_dict file, or 'random'.",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (pgd's random start).")]
Device = Annotated[
    str, typer.Option("--device", metavar="[auto|cpu|cuda]", help="auto, cpu or cuda.")
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads", help="CPU threads for torch (default: torch's, one per core).", min=1
    ),
]


def budget(text: str) -> float:
    """An L-inf budget as a number (0.0314) or a fraction of the 8-bit scale (8/255), as the
    papers and the help text write it."""
    numerator, slash, denominator = text.partition("/")
    try:
        value = float(numerator) / float(denominator) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise typer.BadParameter(f"{text!r} is not a number or a fraction such as 8/255") from None
    return value


Epsilon = Annotated[
    float | None,
    typer.Option(
        "--epsilon",
        parser=budget,
        metavar="EPS",
        help="L-inf budget of fgsm/bim/pgd in (0, 1]: 0.0314 or 8/255 (the default).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="LLTD_SCHEDULER",
        help="Run on a Dask cluster at this address ('local' starts a LocalCluster).",
    ),
]


def prepare_torch(threads: int | None) -> None:
    """Process set-up of the short-lived torch commands (evaluate, attack), before torch loads:
    keep freed memory (see :mod:`lltd.common.allocator`), let idle OpenMP threads sleep, take
    ``--threads``."""
    from lltd.common.allocator import keep_freed_memory

    if "torch" not in sys.modules:
        # libgomp reads this once, as torch loads it. Its default spins while a thread waits for
        # the others, which on cores shared with other work takes the CPU from the very thread
        # it waits for: 10 PGD steps on EfficientNet-Lite0 took 67 s spinning, 18 s passive
        # (2 threads, 2 cores busy with other work). The user's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    keep_freed_memory()
    if threads:
        import torch

        torch.set_num_threads(threads)


def writable_folder(path: Path, option: str = "-o") -> Path:
    """Refuse now, not after an hour of attacks, an output folder that cannot be made: its
    nearest existing ancestor must be a folder we may write in. Creates nothing."""
    from lltd.common.text import printable

    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option} {printable(path)}: {printable(existing)} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {printable(path)}: {printable(existing)} is not writable")
    return path


def fail(message: str, code: int = 2) -> NoReturn:
    from lltd.common.text import one_line

    typer.echo(f"lltd: error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def run_batch_command(make_plan: Callable[[], BatchRun], **options: Any) -> NoReturn:
    """:func:`lltd.batch.command.batch_status`, ending the typer command with its status."""
    raise typer.Exit(batch_status(make_plan, **options))


# Names the command modules read from here, some defined in lltd.batch.command.
__all__ = [
    "absolute_location",
    "check_choice",
    "existing_directory",
    "fail",
    "input_location",
    "location",
    "plan",
    "prepare_torch",
    "run_batch_command",
    "runner_for",
]
