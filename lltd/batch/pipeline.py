"""Run a job over planned tasks with progress and reporting: the part every batch command shares."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lltd.batch.engine import Job, Runner, run_batch
from lltd.batch.outcome import FileResult, Totals
from lltd.batch.report import progress_reporter, write_json_report
from lltd.batch.scan import Task, is_within
from lltd.common.errors import UsageError
from lltd.common.text import printable

if TYPE_CHECKING:
    from lltd.fs.tree import Folder


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
    total = len(batch.tasks) + len(batch.presettled)
    with progress_reporter(total, batch.command, quiet=batch.quiet, debug=batch.debug) as on_result:
        for settled in batch.presettled:  # a FIFO's failure gets its line like any other
            on_result(settled)
        results, totals = run_batch(batch.job, batch.tasks, runner, on_result)
    if batch.presettled:
        results = batch.presettled + results
        totals = Totals.of(results, totals.seconds)
    if batch.json_path is not None:
        from lltd.batch.provenance import provenance

        where = {key: batch.report_extra.get(key) for key in ("input", "output")}
        # The job's own fields are its settings, once (report_extra repeats some for the planner).
        extra = {**provenance(batch.job), **where}
        write_json_report(batch.json_path, batch.command, results, totals, inputs=inputs, **extra)
    return results, totals


def clean_output_directory(output: Path, root: Path) -> bool:
    """``--c``: empty ``output`` first, refusing anything whose loss would hurt.

    The folder itself stays (a run holds its lock). Inside the input tree only files this tool
    wrote (their provenance record says so) are ours to delete: ``-o`` naming an album inside
    the photo folder must not erase the album's originals.
    """
    output, root = output.resolve(), root.resolve()
    check_clean(output, root)
    from lltd.fs.relation import Relation, relation
    from lltd.fs.tree import Folder

    try:
        folder = Folder.open(output)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise UsageError(f"--c: {printable(output)} is not a directory") from None
    # Every decision below is taken on this one descriptor and the clear acts on it: a name
    # swapped meanwhile (for a link to the input folder, say) changes nothing (issue 24).
    with folder, Folder.open(root) as tree:
        related = relation(folder, tree)
        if related in (Relation.SAME, Relation.CONTAINS):
            raise UsageError(
                f"--c refuses to delete {printable(output)}: it is or contains the input folder "
                f"{printable(root)}"
            )
        if related is Relation.INSIDE:
            foreign = _first_foreign_file(folder)
            if foreign is not None:
                raise UsageError(
                    f"--c refuses to empty {printable(output)}: it lies inside the input folder "
                    f"and holds {printable(output / foreign)}, which lltd did not write"
                )
        folder.clear()
    return True


def check_clean(output: Path, root: Path) -> None:
    """The folders ``--c`` never empties: /, the home folder, one holding the input."""
    output, root = output.resolve(), root.resolve()
    if output == Path(output.anchor) or output == Path.home().resolve():
        raise UsageError(
            f"--c refuses to delete {printable(output)}: it is / or the home directory"
        )
    if is_within(root, output) or _holds(output, root):
        raise UsageError(
            f"--c refuses to delete {printable(output)}: it is or contains the input folder "
            f"{printable(root)}"
        )


def _holds(output: Path, root: Path) -> bool:
    """``output`` is or contains ``root`` by identity (a link or bind mount of it counts)."""
    if not output.is_dir() or not root.is_dir():
        return False
    from lltd.fs.relation import Relation, relation
    from lltd.fs.tree import Folder

    with Folder.open(output) as out, Folder.open(root) as tree:
        return relation(out, tree) in (Relation.SAME, Relation.CONTAINS)


def _first_foreign_file(folder: Folder) -> Path | None:
    """The first file below ``folder`` (by its descriptor, no link followed) that carries no
    record of ours, relative to it; a reason file counts as ours when its image does."""
    from lltd.batch.marks import read_mark_fd
    from lltd.fs.atomic import TEMP_SUFFIX

    def ours(dir_fd: int, name: str) -> bool:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)  # fmt: skip
        except OSError:
            return False  # a link, or gone: not a file of ours
        try:
            return read_mark_fd(fd) is not None
        finally:
            os.close(fd)

    for dirpath, _, filenames, dir_fd in os.fwalk(".", dir_fd=folder.fd, follow_symlinks=False):
        for name in sorted(filenames):
            if name.endswith(TEMP_SUFFIX):
                continue
            owner = name.removesuffix(".error.txt")
            if not ours(dir_fd, owner if name.endswith(".error.txt") else name):
                return Path(os.path.normpath(os.path.join(dirpath, name)))
    return None
