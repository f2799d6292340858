"""What the jobs share: their declarations' defaults, reading the input, writing outputs and
quarantine, all through the file layer (:mod:`lltd.fs`).

An input is opened once beneath its tree's descriptor (no link followed), hashed and decoded
from that descriptor; an output is created in its folder's descriptor and published replacing
at most the version the planner judged to be this input's own (``Task.replaces``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lltd.batch.marks import Source, TooLarge, matches_input, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import ImageError, LltdError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.common.text import printable
from lltd.fs.atomic import AtomicTarget, atomic_output, by_name_fd, copy_atomic
from lltd.fs.identity import Version
from lltd.fs.places import place_of, split_task, tree_at
from lltd.fs.resolve import Escape
from lltd.fs.tree import Folder, Input, NotRegular

FAILED = "failed"


def file_size(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_size
    return 0


def open_task_input(task: Task) -> Input:
    """Open the task's input once, beneath its tree (a FIFO, device, folder or link refused),
    or take the one its host opened already (``Task.opened``)."""
    if task.opened is not None:
        return task.opened.dup()
    root, name = split_task(task.source, task.relative)
    try:
        return tree_at(root).open_input(name)
    except NotRegular:
        raise ImageError("not a regular file") from None
    except Escape:
        raise ImageError("a symbolic link or outside its folder: not followed") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise ImageError("not a regular file") from None
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None


def read_source(task: Task) -> Source:
    """Describe the input (size, time, SHA-256) for its provenance record."""
    return read_input(task)[0]


def read_input(task: Task, keep: int = 0) -> tuple[Source, bytes | None]:
    """:func:`read_source`, and the input's bytes when it holds at most ``keep`` of them."""
    with open_task_input(task) as opened:
        return Source.of_input(opened, task.relative.as_posix(), keep)


def stamper(command: str, source: Source | None):  # type: ignore[no-untyped-def]
    """The ``before_publish`` hook that records ``source`` on an output."""
    if source is None:
        return None
    return lambda path: stamp(path, command, source)


def reader_path(opened: Input, fallback: Path) -> Path:
    """A name a decoder (Pillow, cwebp) can open that leads to the input's own descriptor."""
    through = by_name_fd(opened.fd)
    return Path(through) if through else fallback


@dataclass
class Begun:
    """An input opened and read: what it is (``source``), its bytes when small enough, the open
    input (its descriptor and version), and ``done`` when an earlier run's output is reused."""

    source: Source
    data: bytes | None
    input: Input
    done: FileResult | None = None


def quarantine(
    task: Task,
    folder: Path,
    reason: str,
    *,
    with_reason_file: bool = True,
    command: str | None = None,
    opened: Input | None = None,
    root: Path | None = None,
    copy: bool = True,
) -> FileResult:
    """The one quarantine: copy a bad input to ``folder`` (keeping its relative path) beside a
    ``.error.txt`` naming it and the reason, and report the failure.

    The copy is best effort: an unreadable input cannot be copied, and the failure is reported
    all the same. ``command`` marks the copy as ours (``--c`` may then remove it; it is never
    taken for an input). ``opened``: the input's descriptor, copied from (else the input is
    opened for the copy); ``root``: the output tree ``folder`` lies in; ``copy`` False: the
    reason file only.
    """
    destination = folder / task.relative
    output: str | None = None
    owned = None
    with contextlib.suppress(ImageError):
        if opened is None and copy:
            opened = owned = open_task_input(task)
    try:
        if opened is not None and copy:
            # ExitStack, not `with (a, b):`: mutmut 2.5's parser cannot read the parenthesized form.
            with contextlib.ExitStack() as stack:
                stack.enter_context(contextlib.suppress(OSError, LltdError))
                source = None
                if command is not None:  # an input that cannot be read is not copied
                    source = Source.of_input(opened, task.relative.as_posix())[0]
                where, _ = stack.enter_context(output_place(destination, root))
                copy_atomic(
                    opened.fd,
                    destination,
                    stamper(command or "", source),
                    folder=where,
                    replaces=own_version(where, destination.name),
                )
                output = str(destination)
        size = opened.st.st_size if opened is not None else file_size(task.source)
    finally:
        if owned is not None:
            owned.close()
    if with_reason_file:
        with contextlib.suppress(OSError, LltdError):
            reason_file = destination.with_name(destination.name + ".error.txt")
            line = f"{printable(task.display or task.source)}: {printable(reason)}\n"
            with contextlib.ExitStack() as stack:
                where, _ = stack.enter_context(output_place(reason_file, root))
                target = stack.enter_context(
                    atomic_output(
                        reason_file, folder=where, replaces=own_version(where, reason_file.name)
                    )
                )
                target.write(line.encode())
    copied = size if output is not None else 0  # the copy is the input's bytes
    return FileResult(str(task.source), output, Outcome.FAILED, size, copied, error=reason)


def own_version(folder: Folder, name: str) -> Version | bool:
    """What a copy of lltd's own (``failed/``, ``origin/``, a reason file) may replace: a regular
    file of the running user's there (an earlier run's copy), never another user's."""
    st = folder.stat(name)
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        return False
    return Version.of(st)


@contextlib.contextmanager
def output_place(
    path: Path, root: Path | None, *, create: bool = True
) -> Iterator[tuple[Folder, str]]:
    """The folder (by descriptor, beneath ``root`` when ``path`` is in it) and name of an output."""
    folder, name, owned = place_of(path, root, create=create)
    try:
        yield folder, name
    finally:
        if owned:
            folder.close()


class Declared:
    """Defaults of :class:`lltd.batch.plan.PlannedJob` the jobs share."""

    #: ``--max-bytes``: each job declares it as a field; this default serves a job that does not.
    max_bytes: int | None = DEFAULT_MAX_BYTES

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

    def tree_root(self, task: Task) -> Path:
        """The output tree of ``task``: its outputs and copies are reached beneath it."""
        return self.output_root(split_task(task.source, task.relative)[0])

    @property
    def quarantine_dir(self) -> Path | None:
        """Failures are copied here (with a reason file); None: reported only (in place)."""
        return None if self.in_place or self.output_dir is None else self.output_dir / FAILED

    def is_done(self, task: Task, output: Path) -> bool:
        """An earlier run wrote ``output`` from this very input, and it is intact."""
        try:
            with open_task_input(task) as opened:
                source = Source.of_input(opened, task.relative.as_posix(), 0, self.max_bytes)[0]
            return self.earlier_output(task, output, source) is not None
        except (ImageError, OSError):
            return False

    def earlier_output(self, task: Task, output: Path, source: Source) -> Version | None:
        """The version of ``output`` when an earlier run of this command wrote it from
        ``source`` and it is intact (read by descriptor, never through a link)."""
        try:
            with contextlib.ExitStack() as stack:
                folder, name = stack.enter_context(
                    output_place(output, self.tree_root(task), create=False)
                )
                existing = stack.enter_context(folder.open_input(name))
                if matches_input(existing, source, self.command):
                    return existing.version
        except (OSError, ImageError, NotRegular):
            pass
        return None

    def begin(self, task: Task, output: Path) -> Begun | FileResult:
        return self.begin_reading(task, output)

    def begin_reading(self, task: Task, output: Path, keep: int = 0) -> Begun | FileResult:
        """Open and read the input (its bytes too when it holds at most ``keep``); a failure
        settles the task here. ``done`` is set when an intact output of this very input from
        an earlier run exists (unless ``force``). The caller closes ``Begun.input``."""
        try:
            opened = open_task_input(task)
        except ImageError as exc:
            return self.fail(task, str(exc), self.command)
        try:
            source, data = Source.of_input(opened, task.relative.as_posix(), keep, self.max_bytes)
        except TooLarge as exc:
            opened.close()
            return self.fail(task, str(exc), self.command, copy=False)
        except OSError as exc:
            opened.close()
            return self.fail(task, f"cannot read: {exc.strerror or exc}", self.command)
        begun = Begun(source, data, opened)
        if not self.force and self.earlier_output(task, output, source) is not None:
            begun.done = FileResult(
                str(task.source), str(output), Outcome.ALREADY_DONE, source.size, file_size(output)
            )
        return begun

    @contextlib.contextmanager
    def writing(
        self,
        task: Task,
        output: Path,
        before_publish: Callable[[Path], object] | None = None,
        *,
        durable: bool = False,
    ) -> Iterator[AtomicTarget]:
        """:func:`atomic_output` for the task's output: in its folder's descriptor, replacing
        at most what the planner decided (``task.replaces``)."""
        with contextlib.ExitStack() as stack:
            folder, _ = stack.enter_context(output_place(output, self.tree_root(task)))
            yield stack.enter_context(
                atomic_output(
                    output, before_publish, folder=folder, replaces=task.replaces, durable=durable
                )
            )

    def fail(
        self,
        task: Task,
        reason: str,
        command: str,
        opened: Input | None = None,
        *,
        copy: bool = True,
    ) -> FileResult:
        """Report ``task`` failed; with a quarantine folder, set a copy of the input aside
        there (unless ``copy`` is False: an input too large to read is too large to copy)."""
        folder = self.quarantine_dir
        if folder is None:
            size = opened.st.st_size if opened is not None else file_size(task.source)
            return FileResult(str(task.source), None, Outcome.FAILED, size, error=reason)
        # The reason file beside the copy: compress writes it only when asked (reason_files).
        with_reason = getattr(self, "reason_files", True)
        return quarantine(
            task,
            folder,
            reason,
            command=command,
            with_reason_file=with_reason,
            opened=opened,
            root=self.tree_root(task),
            copy=copy,
        )
