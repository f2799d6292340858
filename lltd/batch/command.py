"""The typer-free half of the batch commands: where the input and output are, the runner, and
one batch from plan to exit status. ``lltd compress`` reaches this without typer (see
:mod:`lltd.cli.lean.compress_argv`); the typer commands wrap it in :mod:`lltd.cli.options`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lltd.common.errors import UsageError

if TYPE_CHECKING:
    from lltd.batch.engine import Runner
    from lltd.batch.outcome import Totals
    from lltd.batch.pipeline import BatchRun


def existing_directory(path: Path, what: str = "input directory") -> Path:
    if not path.exists():
        raise UsageError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{what} {path} is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise UsageError(f"{what} {path} is not readable")
    return path


def runner_for(jobs: int, scheduler: str | None, pool: str = "processes") -> Runner:
    """The local pool (``pool``: processes or threads), or a Dask cluster when ``--scheduler``
    is given."""
    if scheduler:
        from lltd.cluster import dask_runner  # imports dask only on this path

        return dask_runner(scheduler, jobs)
    from lltd.batch.engine import local_runner

    return local_runner(jobs, pool)


def location(value: str | Path) -> Path | str:
    """A folder argument: a storage URL (``s3://b/x``) stays text, since ``Path`` would fold
    its ``//``; anything else is a local path. (Folder options are declared as ``str`` for this.)"""
    from lltd.common.urls import is_url

    return str(value) if is_url(str(value)) else Path(value)


def input_location(value: Path | str) -> Path | str:
    """The input folder: a local one must exist now; a URL is checked when it is listed."""
    found = location(value)
    return found if isinstance(found, str) else existing_directory(found)


def absolute_location(value: Path | str) -> Path | str:
    found = location(value)
    return found if isinstance(found, str) else found.absolute()


def plan(root: Path | str, job: Any, *, dry_run: bool = False, **options: Any) -> BatchRun:
    """The one planner over a local folder (locked, stale temporaries cleared), or over storage
    when either end is a URL. A dry run plans the same way and writes nothing."""
    from lltd.common.urls import is_url

    if is_url(root) or is_url(getattr(job, "output_dir", None)):
        from lltd.cluster.remote import plan_remote

        if dry_run and options.get("clean"):
            raise UsageError("--dry-run with --c is for local folders only")
        return plan_remote(root, job, **options)
    from lltd.batch.prepare import plan_local_run

    return plan_local_run(Path(root), job, dry_run=dry_run, **options)


def batch_status(
    make_plan: Callable[[], BatchRun],
    *,
    jobs: int,
    scheduler: str | None,
    json_report: Path | None,
    quiet: bool,
    debug: bool,
    summary: Callable[[Totals], str],
    dry_run: bool = False,
    pool: str = "processes",
) -> int:
    """Plan, run the batch with the chosen runner, print the summary; returns the exit status.

    The runner comes first: an unreachable scheduler is refused before any folder is made."""
    from lltd.batch.pipeline import execute
    from lltd.batch.prepare import check_json_destination, print_dry_run
    from lltd.batch.report import exit_code, stopped_line

    runner = None if dry_run else runner_for(jobs, scheduler, pool)
    batch = make_plan()
    if json_report is not None:
        check_json_destination(json_report, batch)
    if dry_run:
        print_dry_run(batch)
        return 0
    batch.json_path, batch.quiet, batch.debug = json_report, quiet, debug
    assert runner is not None
    results, totals = execute(batch, runner)
    stopped = stopped_line(results, len(batch.tasks) + len(batch.presettled))
    if stopped:
        print(stopped, file=sys.stderr, flush=True)
    if not quiet:
        print(summary(totals), flush=True)
    return exit_code(totals)
