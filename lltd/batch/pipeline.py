"""Run a job over planned tasks with progress and reporting: the part every batch command shares."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lltd.batch.engine import Job, Runner, run_batch
from lltd.batch.outcome import FileResult, Totals
from lltd.batch.report import progress_reporter, write_json_report
from lltd.batch.scan import Task, is_within
from lltd.errors import UsageError


@dataclass
class BatchRun:
    """What a command hands to :func:`execute`; ``presettled`` are files decided without a job
    (e.g. skipped by name), reported in place with the rest."""

    command: str
    job: Job
    tasks: list[Task]
    presettled: list[FileResult] = field(default_factory=list)
    json_path: Path | None = None
    quiet: bool = False
    debug: bool = False
    report_extra: dict[str, object] = field(default_factory=dict)


def execute(batch: BatchRun, runner: Runner) -> tuple[list[FileResult], Totals]:
    inputs = {}
    if batch.json_path is not None:
        from lltd.batch.provenance import input_facts

        inputs = input_facts(task.source for task in batch.tasks)
    with progress_reporter(
        len(batch.tasks), batch.command, quiet=batch.quiet, debug=batch.debug
    ) as on_result:
        results, totals = run_batch(batch.job, batch.tasks, runner, on_result)
    if batch.presettled:
        results = batch.presettled + results
        totals = Totals.of(results, totals.seconds)
    if batch.json_path is not None:
        from lltd.batch.provenance import provenance

        extra = {**provenance(batch.job), **batch.report_extra}
        write_json_report(batch.json_path, batch.command, results, totals, inputs=inputs, **extra)
    return results, totals


def clean_output_directory(output: Path, root: Path) -> bool:
    """``--c``: delete ``output`` first, refusing anything whose loss would hurt."""
    output, root = output.resolve(), root.resolve()
    if output == Path(output.anchor) or output == Path.home().resolve():
        raise UsageError(f"--c refuses to delete {output}: it is / or the home directory")
    if is_within(root, output):
        raise UsageError(
            f"--c refuses to delete {output}: it is or contains the input folder {root}"
        )
    if not output.exists():
        return False
    if not output.is_dir():
        raise UsageError(f"--c: {output} is not a directory")
    shutil.rmtree(output)
    return True
