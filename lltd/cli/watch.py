"""``lltd watch``: defend images as they land in drop folders (a daemon; see lltd.watch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lltd.cli import options as opt
from lltd.cli.root import app


@app.command(
    "watch",
    help="Watch drop folders and defend (or compress, or flip) each image once it is complete: "
    "IN -o OUT, IN:OUT pairs, or --config FILE.toml. Files already there go first. The input "
    "then moves to IN/.lltd/done/ (--on-success). Bad input goes to OUT/failed/ with a "
    ".error.txt. Runs until SIGTERM/SIGINT; speaks sd_notify under systemd (Type=notify).",
)
def watch_command(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="IN (with -o OUT) or IN:OUT pairs.", show_default=False),
    ] = None,
    output_directory: Annotated[
        str | None,
        typer.Option("-o", "--output-directory", help="Output folder (or fsspec URL) for one IN."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML file of drop folders and settings.", dir_okay=False),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(
            "--action", metavar="[defend|compress|flip]", help="defend (default), compress or flip."
        ),
    ] = None,
    on_success: Annotated[
        str | None,
        typer.Option(
            "--on-success",
            metavar="[move|delete|keep]",
            help="What becomes of a done input: move (to IN/.lltd/done/, default), "
            "delete, or keep (remembered in IN/.lltd/journal.sqlite).",
        ),
    ] = None,
    quality: Annotated[
        float | None,
        typer.Option(
            "-q",
            "--quality",
            min=0,
            max=100,
            help="WebP quality (defend: 60; compress: 100 = lossless).",
        ),
    ] = None,
    quality_range: Annotated[
        str | None,
        typer.Option(
            "--quality-range",
            metavar="LOW-HIGH",
            help="defend, randomised: draw the WebP quality per image from this band (40-80).",
        ),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option(
            "--direction",
            metavar="[horizontal|vertical|random]",
            help="horizontal (default) or vertical; defend also takes random.",
        ),
    ] = None,
    resize_pad: Annotated[
        float | None,
        typer.Option(
            "--resize-pad",
            metavar="SHARE",
            help="defend, randomised: shrink by a random share up to this (0-0.5), pad back.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="defend: reproducible randomised draws.")
    ] = None,
    no_flip: Annotated[bool, typer.Option("--no-flip", help="defend: skip the flip.")] = False,
    no_webp: Annotated[
        bool, typer.Option("--no-webp", help="defend: skip the WebP round trip.")
    ] = False,
    order: Annotated[
        str | None,
        typer.Option(
            "--order",
            metavar="[webp-flip|flip-webp]",
            help="defend: webp-flip (default) or flip-webp.",
        ),
    ] = None,
    method: Annotated[
        int | None, typer.Option("-m", "--method", min=0, max=6, help="cwebp -m (default 4).")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", metavar="[pillow|cwebp]", help="WebP encoder: pillow (default) or cwebp."
        ),
    ] = None,
    cwebp: opt.CwebpPath = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="[png|webp-lossless|same]",
            help="defend: png (default) or webp-lossless; flip: same or png.",
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("-j", "--jobs", min=0, help="Worker processes (0 = all cores).")
    ] = None,
    polling: Annotated[
        bool, typer.Option("--polling", help="Poll instead of inotify (network file systems).")
    ] = False,
    settle: Annotated[
        int | None,
        typer.Option(
            "--settle",
            min=0,
            metavar="MS",
            help="A file with no close event is complete once its size and mtime stay "
            "unchanged this long (default 1000 ms).",
        ),
    ] = None,
    settle_rule: Annotated[
        str | None,
        typer.Option(
            "--settle-rule",
            metavar="[close|quiet]",
            help="When a written file is complete: close (its first close after writing; "
            "default) or quiet (nobody has it open and it stayed unchanged for --settle: "
            "uploaders that reopen the file per chunk). A rename into IN completes it under both.",
        ),
    ] = None,
    stop_timeout: Annotated[
        float | None,
        typer.Option(
            "--stop-timeout",
            min=0,
            metavar="SECONDS",
            help="On SIGTERM, time to finish the files in flight (default 30).",
        ),
    ] = None,
    queue_size: Annotated[
        int | None,
        typer.Option(
            "--queue-size",
            min=1,
            help="Arrivals waiting for a worker (256); a scanned backlog is not bounded.",
        ),
    ] = None,
    rescan: Annotated[
        float | None,
        typer.Option(
            "--rescan",
            min=0,
            metavar="SECONDS",
            help="Safety-net rescan period for missed events (60; 0 = never).",
        ),
    ] = None,
    worker_idle: Annotated[
        float | None,
        typer.Option(
            "--worker-idle",
            min=0,
            metavar="SECONDS",
            help="Workers exit after this long without work (60).",
        ),
    ] = None,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared",
            help="Several daemons (hosts) on one folder: each file is claimed by one of them "
            "with an atomic rename into IN/.lltd/claims/HOST-PID/.",
        ),
    ] = False,
    claim_timeout: Annotated[
        float | None,
        typer.Option(
            "--claim-timeout",
            min=0.1,
            metavar="SECONDS",
            help="--shared: a daemon silent this long loses its claims to the others (30).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDR",
            help="Run the files on the Dask cluster of this scheduler (tcp://HOST:PORT); its "
            "workers must see IN and OUT at the same paths. -j is then the number of files in "
            "flight at once.",
        ),
    ] = None,
    metrics_port: Annotated[
        str | None,
        typer.Option(
            "--metrics-port",
            metavar="[HOST:]PORT",
            help="Serve Prometheus metrics at http://HOST:PORT/metrics (HOST 127.0.0.1 unless "
            "given; needs prometheus_client).",
        ),
    ] = None,
    status_file: Annotated[
        Path | None,
        typer.Option("--status-file", dir_okay=False, help="Keep JSON counters in this file."),
    ] = None,
    no_fsync: Annotated[
        bool, typer.Option("--no-fsync", help="Skip fsync before an input is disposed of.")
    ] = False,
    max_pixels: Annotated[
        int | None, typer.Option("--max-pixels", min=1, help="Refuse larger images.")
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes",
            min=1,
            help="Refuse larger files (default 1 GiB), without copying them to failed/.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No line per processed file.")] = False,
) -> None:
    from lltd.watch import config as watch_config
    from lltd.watch.daemon import Daemon

    settings = {
        "jobs": jobs,
        "settle": settle,
        "settle_rule": settle_rule,
        "stop_timeout": stop_timeout,
        "queue_size": queue_size,
        "rescan": rescan,
        "worker_idle": worker_idle,
        "status_file": status_file.absolute() if status_file else None,
        "polling": polling or None,
        "shared": shared or None,
        "claim_timeout": claim_timeout,
        "metrics_port": metrics_port,
        "scheduler": scheduler,
        "fsync": False if no_fsync else None,
        "quiet": quiet or None,
    }
    options = {
        "action": action,
        "on_success": on_success,
        "quality": quality,
        "direction": direction,
        "quality_range": quality_range,
        "resize_pad": resize_pad,
        "seed": seed,
        "no_flip": no_flip or None,
        "no_webp": no_webp or None,
        "order": order,
        "method": method,
        "backend": backend,
        "cwebp": cwebp,
        "format": format,
        "max_pixels": max_pixels,
        "max_bytes": max_bytes,
    }
    built = watch_config.build(
        config_file=config,
        inputs=list(inputs or []),
        output=output_directory,
        settings=settings,
        options=options,
    )
    if any(isinstance(f.input, str) or isinstance(f.output, str) for f in built.folders):
        from lltd.watch.objects import ObjectWatcher

        raise typer.Exit(ObjectWatcher(built).run())
    raise typer.Exit(Daemon(built).run())
