"""What a local batch run does before its first file, and what a dry run prints instead.

Before: refuse what cannot work (``-o`` naming a file or an unwritable place, ``--json`` onto
an input, a special file or into a missing folder) with one usage error; lock the folders; clear
the temporaries a killed run left; then plan. A dry run does the checks and the plan only.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path

from lltd.batch.outcome import Outcome
from lltd.batch.pipeline import BatchRun, check_clean
from lltd.batch.plan import PlannedJob, check_roots, plan_local
from lltd.batch.scan import IMAGE_EXTENSIONS, is_within
from lltd.common.errors import UsageError
from lltd.common.text import printable
from lltd.fs.atomic import UnsafeDestination, check_destination, remove_stale_temporaries
from lltd.fs.locks import tree_locks
from lltd.fs.tree import Folder

#: Locks live as long as the process: a command runs one batch, then exits.
_HELD = contextlib.ExitStack()


def check_output_root(folder: Path) -> None:
    """``-o`` must be a folder that exists or can be made, and that we may write."""
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"-o {printable(folder)} exists and is not a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to {printable(folder)}: permission denied")


def plan_local_run(
    root: Path,
    job: PlannedJob,
    *,
    dry_run: bool = False,
    clean: bool = False,
    ignore_filename_match: str | None = None,
) -> BatchRun:
    root = root.resolve()
    output_root = job.output_root(root).absolute()
    if clean and not job.in_place:
        check_clean(output_root, root)
    check_roots(job, root, output_root)
    check_output_root(output_root)
    if dry_run:
        return plan_local(
            root, job, ignore_filename_match=ignore_filename_match, assume_empty=clean
        )
    try:
        output_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {printable(output_root)}: {exc.strerror}") from None
    writes = _HELD.enter_context(Folder.open(output_root))
    reads = None if job.in_place else _HELD.enter_context(Folder.open(root))
    _HELD.enter_context(tree_locks(writes, reads))
    remove_stale_temporaries(output_root)
    return plan_local(root, job, clean=clean, ignore_filename_match=ignore_filename_match)


def check_json_destination(path: Path, batch: BatchRun) -> None:
    """``--json``: never onto a file of this run, a special file or a link, nor into a folder
    that does not exist (a typo there would otherwise create folders)."""
    path = path.absolute()
    if not path.parent.is_dir():
        raise UsageError(f"--json: the folder {printable(path.parent)} does not exist")
    try:
        check_destination(path)
    except UnsafeDestination as exc:
        raise UsageError(f"--json: {exc}") from None
    real = path.resolve()
    ours = {Path(r.input).resolve() for r in batch.presettled if "://" not in r.input}
    for task in batch.tasks:
        ours.add(task.source.resolve())
        if task.output is not None:
            ours.add(task.output.resolve())
    root = batch.report_extra.get("input")
    in_tree = isinstance(root, str) and "://" not in root and is_within(real, Path(root))
    if real in ours or (
        in_tree and real.suffix.lower() in IMAGE_EXTENSIONS and os.path.lexists(real)
    ):
        raise UsageError(f"--json {printable(path)} is an image of this run; choose another name")


VERBS = {"compress": "convert", "flip": "flip", "defend": "defend"}


def would_fail(source: Path, job: object) -> str | None:
    """Why the real run would fail ``source``: it goes through the jobs' own safe open, pixels
    decoded (a truncated file fails only there), so "would convert" is not said of a file the
    run then fails. (A storage run's inputs are not fetched for a dry run.)"""
    from lltd.common.errors import ImageError
    from lltd.imaging.imageio import open_image

    try:
        open_image(source, getattr(job, "max_pixels", None))
    except ImageError as exc:
        return str(exc)
    return None


def print_dry_run(batch: BatchRun) -> None:
    """Each file: what would happen and its output name; then the counts. Writes nothing."""
    verb = VERBS.get(batch.command, "process")
    job = batch.job
    is_done = getattr(job, "is_done", None)
    names = getattr(job, "names", None)  # a storage run names files by URL
    counts: Counter[str] = Counter()
    for result in batch.presettled:
        if result.outcome is Outcome.NAME_MATCH:
            print(f"skip (name matches): {printable(result.input)}")
            counts["skipped"] += 1
        else:
            print(f"would fail: {printable(result.input)}: {printable(result.error or '')}")
            counts["failed"] += 1
    replace = batch.report_extra.get("replace")
    for task in batch.tasks:
        source, output = names(task) if names else (str(task.source), str(task.output))
        if is_done is not None and task.output is not None and is_done(task, task.output):
            what = "already done" + ("; would delete the original" if replace else "")
            counts["done"] += 1
        elif names is None and (problem := would_fail(task.source, job)) is not None:
            print(f"would fail: {printable(source)}: {printable(problem)}")
            counts["failed"] += 1
            continue
        else:
            what = f"would {verb}" + (", then delete the original" if replace else "")
            counts["todo"] += 1
        print(f"{what}: {printable(source)} -> {printable(output)}")
    total = len(batch.tasks) + len(batch.presettled)
    print(
        f"Dry run: {counts['todo']} to {verb}, {counts['done']} already done, "
        f"{counts['skipped']} skipped, {counts['failed']} would fail, of {total} files; "
        "nothing was written"
    )
