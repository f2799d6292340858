"""What the jobs share: their declarations' defaults, reading the input, quarantine."""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path, PurePosixPath

from lltd.batch.marks import Source, matches, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import ImageError
from lltd.common.text import printable
from lltd.fs.atomic import copy_atomic, write_bytes_atomic

FAILED = "failed"


def file_size(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return 0


def read_source(task: Task) -> Source:
    """Describe the input (size, time, SHA-256) for its provenance record; a FIFO, device or
    folder is refused here, before anything would block on it."""
    return read_input(task)[0]


def read_input(task: Task, keep: int = 0) -> tuple[Source, bytes | None]:
    """:func:`read_source`, and the input's bytes when it holds at most ``keep`` of them."""
    try:
        return Source.read(task.source, task.relative.as_posix(), keep)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise ImageError("not a regular file") from None
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None


def stamper(command: str, source: Source | None):  # type: ignore[no-untyped-def]
    """The ``before_publish`` hook that records ``source`` on an output."""
    if source is None:
        return None
    return lambda path: stamp(path, command, source)


def quarantine(
    task: Task,
    folder: Path,
    reason: str,
    *,
    with_reason_file: bool = True,
    command: str | None = None,
) -> FileResult:
    """The one quarantine: copy a bad input to ``folder`` (keeping its relative path) beside a
    ``.error.txt`` naming it and the reason, and report the failure.

    The copy is best effort: an unreadable input cannot be copied, and the failure is reported
    all the same. ``command`` marks the copy as ours (``--c`` may then remove it; it is never
    taken for an input).
    """
    destination = folder / task.relative
    output: str | None = None
    source = None
    if command is not None:
        with contextlib.suppress(ImageError):
            source = read_source(task)
    with contextlib.suppress(OSError):
        copy_atomic(task.source, destination, stamper(command or "", source))
        output = str(destination)
    if with_reason_file:
        with contextlib.suppress(OSError):
            reason_file = destination.with_name(destination.name + ".error.txt")
            line = f"{printable(task.display or task.source)}: {printable(reason)}\n"
            write_bytes_atomic(reason_file, line.encode())
    return FileResult(
        str(task.source), output, Outcome.FAILED, bytes_before=file_size(task.source), error=reason
    )


class Declared:
    """Defaults of :class:`lltd.batch.plan.PlannedJob` the jobs share."""

    output_dir: Path | None
    command: str
    force: bool

    @property
    def in_place(self) -> bool:
        return self.output_dir is None

    @property
    def consumes_input(self) -> bool:
        return False

    def output_root(self, input_root: Path) -> Path:
        return input_root if self.in_place or self.output_dir is None else self.output_dir

    def output_name(self, relative: PurePosixPath) -> PurePosixPath:
        raise NotImplementedError

    def output_for(self, task: Task) -> Path:
        """The output of a task nobody planned (a library caller's ``job(Task(src, rel))``): the
        job's own name, unchecked; every lltd host has the planner name it instead."""
        name = self.output_name(PurePosixPath(task.relative.as_posix()))
        if self.in_place or self.output_dir is None:
            return task.source.parent / name.name
        return self.output_dir / name

    @property
    def quarantine_dir(self) -> Path | None:
        """Failures are copied here (with a reason file); None: reported only (in place)."""
        return None if self.in_place or self.output_dir is None else self.output_dir / FAILED

    def is_done(self, task: Task, output: Path) -> bool:
        """An earlier run wrote ``output`` from this very input, and it is intact."""
        try:
            return matches(output, Source.of(task.source, task.relative.as_posix()), self.command)
        except OSError:
            return False

    def begin(self, task: Task, output: Path) -> Source | FileResult:
        """Read the input; a failure, or an intact output of this very input from an earlier
        run (unless ``force``), settles the task here."""
        begun = self.begin_reading(task, output)
        return begun if isinstance(begun, FileResult) else begun[0]

    def begin_reading(
        self, task: Task, output: Path, keep: int = 0
    ) -> tuple[Source, bytes | None] | FileResult:
        """:meth:`begin`, also returning the input's bytes when it holds at most ``keep``."""
        try:
            source, data = read_input(task, keep)
        except ImageError as exc:
            return self.fail(task, str(exc), self.command)
        if not self.force and matches(output, source, self.command):
            return FileResult(
                str(task.source), str(output), Outcome.ALREADY_DONE, source.size, file_size(output)
            )
        return source, data

    def fail(self, task: Task, reason: str, command: str) -> FileResult:
        folder = self.quarantine_dir
        if folder is None:
            return FileResult(
                str(task.source), None, Outcome.FAILED, file_size(task.source), error=reason
            )
        # The reason file beside the copy: compress writes it only when asked (reason_files).
        with_reason = getattr(self, "reason_files", True)
        return quarantine(task, folder, reason, command=command, with_reason_file=with_reason)
