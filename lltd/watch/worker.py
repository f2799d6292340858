"""What a worker process does with one file: run the job, make the result durable, then dispose
of the input. The order is what makes the daemon exactly-once: the input leaves IN only after
its output (or its failed/ copy) is complete and on disk, so a crash at any point leaves either
the input in IN (and it is done again, replacing the output atomically) or the work finished.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from lltd.batch.engine import Job, fail, run_one
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import LltdError
from lltd.common.text import printable
from lltd.fs.atomic import make_durable
from lltd.fs.entries import remove_file
from lltd.fs.identity import Version
from lltd.watch.entry import NotSettled, Settled, open_settled
from lltd.watch.safedir import UnsafePath, ensure_dirs, is_link_free, open_dir

DONE, FAILED_INPUTS = "done", "failed"


@dataclass(frozen=True)
class WorkItem:
    job: Job
    task: Task
    on_success: str  # move, delete or keep
    state_dir: Path  # IN/.lltd: done/ and failed/ hold the inputs in "move" mode
    quarantine_dir: Path  # OUT/failed
    fsync: bool = True
    # IN and OUT as the administrator named them: every folder below them that we write into
    # is reached without following links (see lltd.watch.safedir).
    input_root: Path | None = None
    output_root: Path | None = None
    # The version the file settled with (None: whatever regular file is there now, for callers
    # that queued nothing), and IN's identity: what the worker checks before reading a byte.
    expect: Version | None = None
    root_identity: tuple[int, int] | None = None


@dataclass(frozen=True)
class Processed:
    result: FileResult
    # Where the input went: "moved:PATH", "deleted", "kept", "vanished", "changed" (it was
    # written to while being processed, and stays for another go), or "replaced" (its name held
    # something else than what settled: nothing was read or moved).
    disposed: str


def process(item: WorkItem) -> Processed:
    """Run the job on exactly the file that settled: opened once beneath IN without following a
    link, checked on its descriptor (a regular file, the version it settled with), and read by
    the job through that descriptor; disposed of only while its name still holds it."""
    task = item.task
    try:
        opened = open_settled(item)
    except FileNotFoundError:
        return Processed(
            FileResult(str(task.source), None, Outcome.FAILED, error="vanished before processing"),
            "vanished",
        )
    except NotSettled as exc:
        # Replaced (by a link, a FIFO, another file) or written to since it settled: nothing of
        # it is read. The daemon lets whatever is there now settle, and a link never does.
        return Processed(
            FileResult(str(task.source), None, Outcome.FAILED, error=str(exc)), "replaced"
        )
    with opened:
        _prepare_destination(item)
        result = run_one(item.job, opened.task(task))
        if not opened.unchanged():
            # Written to while we read it: whatever we made may come from a partial file. Leave
            # the input where it is; the daemon lets it settle and does it again.
            if result.outcome is Outcome.FAILED and result.output:
                _discard_quarantine(Path(result.output))
            return Processed(result, "changed")
        # A failure was set aside by the job's own quarantine policy (OUT/failed/ and its
        # .error.txt, naming task.display): nothing to repair here.
        if item.fsync:
            for path in _written_paths(result):
                make_durable(path)
        return Processed(result, dispose(item, result, opened))


def earlier_attempt(item: WorkItem, sig: Version) -> FileResult | None:
    """The result of an attempt whose report was lost (a Dask worker killed after it moved the
    input, and the rerun found it gone): the input in done/ (a rename keeps its identity, size
    and mtime; looked at without following links) and the output in place."""
    root = item.state_dir.parent if item.input_root is None else item.input_root
    parts = (item.state_dir.name, DONE, *item.task.relative.parent.parts)
    try:
        fd = open_dir(root, parts, create=False)
    except OSError:
        return None
    try:
        st = os.stat(item.task.relative.name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(fd)
    output = item.task.output
    if not sig.same_content_as(st) or output is None or not os.path.exists(output):
        return None
    return FileResult(str(item.task.source), str(output), Outcome.CONVERTED, sig.size)


def _prepare_destination(item: WorkItem) -> None:
    """Refuse a file whose output or failed/ folder lies through a link (OUT inside IN lets
    uploaders plant one); otherwise create the output's folders without following links.

    A refusal raises: the daemon counts the file as failed and leaves it where it is."""
    if item.output_root is None or item.task.output is None:
        return
    relative = item.task.output.parent.relative_to(item.output_root)
    failed = item.quarantine_dir.relative_to(item.output_root) / item.task.relative.parent
    if not is_link_free(item.output_root, failed):
        raise LltdError(f"refused: a link under {printable(item.output_root / failed)}")
    try:
        ensure_dirs(item.output_root, relative)
    except UnsafePath as exc:
        raise LltdError(f"refused: {printable(exc.filename)} is a link or not a folder") from None


def give_up(item: WorkItem, reason: str) -> Processed:
    """A file the workers kept dying on: failed by the job's own quarantine policy, then made
    durable and disposed of as any failure (an ``OSError`` if the input cannot be moved)."""
    try:
        opened = open_settled(item)
    except FileNotFoundError:
        return Processed(
            FileResult(str(item.task.source), None, Outcome.FAILED, error=reason), "vanished"
        )
    except NotSettled as exc:
        raise OSError(errno.ESTALE, str(exc)) from None
    with opened:
        result = fail(item.job, opened.task(item.task), reason)
        if item.fsync:
            for path in _written_paths(result):
                make_durable(path)
        return Processed(result, dispose(item, result, opened))


def _discard_quarantine(copy: Path) -> None:
    # Our copy in OUT/failed/ and its note, each as it is now, by its folder's descriptor.
    for path in (copy, copy.with_name(copy.name + ".error.txt")):
        remove_file(path)


def _written_paths(result: FileResult) -> list[Path]:
    if result.output is None:
        return []
    output = Path(result.output)
    paths = [output]
    if result.outcome is Outcome.FAILED:
        paths.append(output.with_name(output.name + ".error.txt"))
    return paths


def dispose(item: WorkItem, result: FileResult, opened: Settled) -> str:
    """Keep, delete or move the input: only the node that was processed, by descriptor. A name
    that holds something else by now is left alone (``changed``: the daemon looks again)."""
    failed = result.outcome is Outcome.FAILED
    if item.on_success == "keep":
        return "kept"
    if item.on_success == "delete" and not (failed and not _exists(result.output)):
        # A failure is deleted only once its copy is safe in OUT/failed/.
        return opened.remove()
    folder = (FAILED_INPUTS if failed else DONE, *item.task.relative.parent.parts)
    root = item.state_dir.parent if item.input_root is None else item.input_root
    parts = (item.state_dir.name, *folder)
    # Reached without following links: IN/.lltd/done replaced by a link must not redirect us.
    try:
        fd = open_dir(root, parts)
    except UnsafePath as exc:
        raise LltdError(f"refused: {printable(exc.filename)} is a link or not a folder") from None
    try:
        name = unique_name(fd, item.task.relative.name)
        moved = opened.move_to(fd, name)
    finally:
        os.close(fd)
    return f"moved:{root.joinpath(*parts, name)}" if moved == "moved" else moved


def unique_name(dir_fd: int, name: str) -> str:
    """``name``, or ``stem.1.ext``... when an earlier input took it, in the folder ``dir_fd``."""
    path = Path(name)
    candidate, counter = name, 0
    while True:
        try:
            os.lstat(candidate, dir_fd=dir_fd)
        except FileNotFoundError:
            return candidate
        counter += 1
        candidate = f"{path.stem}.{counter}{path.suffix}"


def _exists(path: str | None) -> bool:
    return path is not None and os.path.exists(path)
