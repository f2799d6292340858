"""The one planner: which files a job takes, what each output is called, what was done before.

Every host feeds it: the local scan (:func:`plan_local`), the fsspec listing
(:mod:`lltd.cluster.remote`) and the watch daemon (one file at a time, :meth:`Planner.assign`).
Jobs only *declare* their inputs (:class:`PlannedJob`); the rules live here, once:

* **Inputs**: the job's extensions, its ``accepts`` rule (flip skips its own ``x_f.png``), and
  never a file that this command itself wrote (its provenance record says so): outputs never
  become inputs, whatever folder they land in.
* **Names**: each input gets the job's name for it, unless that name is *taken*: claimed by an
  earlier input of this plan, an input itself, or an existing file that is not this input's own
  earlier output. A taken name falls back to the job's alternate (``a.jpg.webp``, ``x.png_f.png``),
  then numbered ones. "Own earlier output" is read from the record on the file, never from its
  name, so the name an input gets does not change when a sibling was replaced or deleted by an
  earlier run, and an unrelated ``photo.webp`` beside ``photo.png`` is never taken for its
  output, nor overwritten.
* **Replacing**: an existing file is overwritten only when it is this input's own output, or an
  unrecorded leftover in a folder of the tool's own (``-o``) outside the input tree. Under
  ``--r`` an output whose original has since changed is the only copy of that earlier picture,
  and is kept.
* **Who holds a name** is kept by a :class:`NameRecord`: a plan's own in memory
  (:class:`PlanNames`), or, for the watch daemon, its journal or its shared-folder markers, which
  outlive a restart and hold names a file's record cannot (NFSv3 keeps no xattrs). A name held
  by this input is its own, whatever its file says; a name held by another is never given.
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import ClassVar, Protocol

from lltd.batch.marks import Mark, read_mark, same_source
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun, clean_output_directory
from lltd.batch.scan import Task, is_within, matches_name, scan, suffix
from lltd.common.errors import UsageError
from lltd.common.text import printable

MAX_ALTERNATES = 1000


class PlannedJob(Protocol):
    """What a job declares so the planner can plan it (the jobs in :mod:`lltd.jobs` do)."""

    command: str  # compress, flip, defend: also the name provenance records carry

    # (The decorators of this Protocol are for type checkers only: "no mutate".)
    @property  # pragma: no mutate
    def extensions(self) -> frozenset[str]: ...

    @property  # pragma: no mutate
    def in_place(self) -> bool:
        """Outputs go into the input tree (``flip`` without ``-o``, ``compress --r``)."""
        ...

    @property  # pragma: no mutate
    def consumes_input(self) -> bool:
        """The original is deleted once its output is in place (``--r``)."""
        ...

    def output_root(self, input_root: Path) -> Path: ...

    def output_name(self, relative: PurePosixPath) -> PurePosixPath: ...

    def alternate_name(self, relative: PurePosixPath, attempt: int) -> PurePosixPath:
        """The name when ``output_name`` is taken; ``attempt`` counts from 0."""
        ...

    def accepts(self, relative: PurePosixPath, exists: Callable[[PurePosixPath], bool]) -> bool:
        """Whether a listed file is an input, given what else exists beside it."""
        ...

    def report_fields(self) -> dict[str, object]: ...


@dataclass(frozen=True)  # pragma: no mutate (immutability guards callers, not results)
class OutputTree:
    """What the planner needs to know about where outputs go; one per host."""

    exists: Callable[[str], bool]  # any node at this output-relative name
    mark: Callable[[str], Mark | None]  # its provenance record
    input_mark: Callable[[str], Mark | None]  # the record on an input-relative file
    as_input: Callable[[str], str | None]  # its input-relative name if inside the input tree
    same_source: Callable[[Mark, str], bool]  # the record names this input, unchanged


class NameRecord(Protocol):
    """Where the names a planner gives are kept: it stores, the planner decides."""

    #: It holds every name the tool gave in the output folder (the watch daemon's journal and
    #: markers): a file it does not list is no leftover of ours, and is never replaced.
    complete: ClassVar[bool]

    def holder(self, name: str) -> str | None:
        """The input ``name`` was given to, if any."""
        ...

    def claim(self, name: str, input: str) -> str:
        """Give ``name`` to ``input`` unless someone holds it; return who holds it now. Atomic:
        of two claimants (threads, processes, daemons) exactly one gets it."""
        ...


@dataclass
class PlanNames:
    """The names one plan gave so far, in memory."""

    held: dict[str, str] = field(default_factory=dict)
    complete: ClassVar[bool] = False

    def holder(self, name: str) -> str | None:
        return self.held.get(name)

    def claim(self, name: str, input: str) -> str:
        return self.held.setdefault(name, input)


@dataclass
class Planner:
    """Names outputs for one job; keeps what it assigned so later inputs never collide."""

    job: PlannedJob
    tree: OutputTree
    inputs: set[str] = field(default_factory=set)  # input-relative names of this plan's inputs
    names: NameRecord = field(default_factory=PlanNames)

    @classmethod
    def for_folder(
        cls, job: PlannedJob, input_root: Path, names: NameRecord | None = None
    ) -> Planner:
        """A planner over a local folder, for a host that sees one file at a time (the watch
        daemon): ``is_input`` filters, ``assign`` names (against what exists and what ``names``
        says was given before, also by an earlier run or another daemon)."""
        root = input_root.resolve()
        tree = local_tree(job, root, job.output_root(root).absolute().resolve())
        return cls(job, tree, names=names if names is not None else PlanNames())

    def is_input(self, relative: str, exists: Callable[[PurePosixPath], bool]) -> bool:
        """The job takes this listed file (extension, the job's rule, not its own output)."""
        parts = relative.split("/")
        if any(part.startswith(".") for part in parts):
            return False
        if suffix(parts[-1]).lower() not in self.job.extensions:
            return False
        mark = self.tree.input_mark(relative)
        if mark is not None and mark.command == self.job.command:
            return False  # our own output, wherever it landed
        return self.job.accepts(PurePosixPath(relative), exists)

    def assign(self, relative: str) -> str:
        """The output name for the input ``relative``; claims it for the rest of the plan."""
        path = PurePosixPath(relative)
        # Lazily: the natural name is free for nearly every file, and building all the numbered
        # alternates up front cost 4 ms a file.
        candidates = itertools.chain(
            (self.job.output_name(path),),
            (self.job.alternate_name(path, n) for n in range(MAX_ALTERNATES)),
        )
        for candidate in candidates:
            name = candidate.as_posix()
            holder = self.names.holder(name)
            if holder == relative:
                return name  # given to this input before: a retry, a re-drop, a restart
            # claim() answers another holder when a thread, process or daemon took it since.
            free = holder is None and self._free_for(name, relative)
            if free and self.names.claim(name, relative) == relative:
                return name
        raise UsageError(f"no free output name for {printable(relative)}")

    def _free_for(self, name: str, relative: str) -> bool:
        inside = self.tree.as_input(name)
        if inside is not None and inside in self.inputs and inside != relative:
            return False  # never write onto an input
        if not self.tree.exists(name):
            return True
        mark = self.tree.mark(name)
        if mark is None:
            # Unrecorded: someone else's file, unless it sits in a folder of our own (a leftover
            # of an interrupted or older run, which webp-converter also redid) and no complete
            # name record says that we never gave it.
            return inside is None and not self.job.in_place and not self.names.complete
        if mark.command != self.job.command or mark.source.name != relative:
            return False  # the output of another input (or another command): never replaced
        # Under --r an output whose original has changed since is the only copy of that picture.
        return not self.job.consumes_input or self.tree.same_source(mark, relative)


def local_tree(job: PlannedJob, input_root: Path, output_root: Path) -> OutputTree:
    # Output names are relative and plain (no "..", no links inside them): an output folder
    # apart from the input folder holds no input, which spares a path per name (planning runs
    # before the first file starts).
    apart = not is_within(output_root, input_root) and not is_within(input_root, output_root)
    output_folder = str(output_root)

    def as_input(name: str) -> str | None:
        if apart:
            return None
        path = output_root / name
        return path.relative_to(input_root).as_posix() if is_within(path, input_root) else None

    return OutputTree(
        exists=lambda name: os.path.lexists(os.path.join(output_folder, name)),
        mark=lambda name: read_mark(output_root / name),
        input_mark=lambda name: read_mark(input_root / name),
        as_input=as_input,
        same_source=lambda mark, relative: same_source(mark, input_root / relative, relative),
    )


def check_roots(job: PlannedJob, input_root: Path, output_root: Path) -> None:
    """``-o`` equal to the input folder: outputs would be taken for inputs (and the input's
    subfolders would look like output); refuse rather than handle half the tree."""
    if not job.in_place and output_root.resolve() == input_root.resolve():
        raise UsageError(
            f"the output folder is the input folder {printable(input_root)}: outputs would mix "
            "with the originals; choose another -o"
            + (" (or --r to replace in place)" if job.command == "compress" else "")
        )


def _size_and_problem(path: Path | str) -> tuple[int, str | None]:
    """A local input's size (0 when it cannot be read) and why it cannot be an input, if so:
    one ``stat`` for both."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return 0, f"cannot read: {exc.strerror or exc}"
    return st.st_size, None if stat.S_ISREG(st.st_mode) else "not a regular file"


def plan_local(
    root: Path,
    job: PlannedJob,
    *,
    clean: bool = False,
    ignore_filename_match: str | None = None,
    assume_empty: bool = False,
) -> BatchRun:
    """Scan ``root`` and plan ``job`` over it: inputs, output names and collisions, once.

    ``clean`` empties the output folder first (``--c``); ``assume_empty`` plans as if it had
    been (a dry run of ``--c``)."""
    root = root.resolve()
    output_root = job.output_root(root).absolute()
    check_roots(job, root, output_root)
    if clean and not job.in_place:
        clean_output_directory(output_root, root)
    # An output folder inside the input is not input; one that holds the input (-o a parent
    # folder) excludes nothing: its outputs are recognised by their records instead.
    inside = not job.in_place and is_within(output_root.resolve(), root)
    exclude = [output_root] if inside else []
    tree = local_tree(job, root, output_root.resolve())
    if assume_empty and not job.in_place:
        tree = replace(tree, exists=lambda name: False, mark=lambda name: None)
    planner = Planner(job, tree)

    def exists(path: PurePosixPath) -> bool:
        return os.path.lexists(root / path)

    scanned = {
        task.relative.as_posix(): task for task in scan(root, job.extensions, exclude=exclude)
    }
    kept = [name for name in scanned if planner.is_input(name, exists)]
    planner.inputs = set(kept)

    def make_task(name: str, out: str) -> Task:
        found = scanned[name]
        return Task(found.source, found.relative, output_root / out)

    return plan_names(
        planner,
        kept,
        make_task=make_task,
        input_path=lambda name: scanned[name].source,
        skip=ignore_filename_match,
        command=job.command,
        report_extra={"input": str(root), "output": str(output_root), **job.report_fields()},
        job=job,
    )


def plan_names(
    planner: Planner,
    names: Iterable[str],
    *,
    make_task: Callable[[str, str], Task],
    input_path: Callable[[str], Path | str],
    skip: str | None,
    command: str,
    report_extra: dict[str, object],
    job: object,
    sizes: Callable[[str], int] | None = None,
    not_regular: Callable[[str], str | None] | None = None,
) -> BatchRun:
    """Turn the input names of a listing into tasks (and files settled without a job)."""
    tasks: list[Task] = []
    presettled: list[FileResult] = []
    for name in names:
        where = input_path(name)
        size, problem = (0, None) if sizes and not_regular else _size_and_problem(where)
        if sizes:
            size = sizes(name)
        if skip and matches_name(PurePosixPath(name).name, skip):
            presettled.append(FileResult(str(where), None, Outcome.NAME_MATCH, bytes_before=size))
            continue
        if not_regular:
            problem = not_regular(name)
        if problem:
            presettled.append(FileResult(str(where), None, Outcome.FAILED, size, error=problem))
            continue
        tasks.append(make_task(name, planner.assign(name)))
    return BatchRun(
        command=command,
        job=job,  # type: ignore[arg-type]
        tasks=tasks,
        presettled=presettled,
        report_extra=report_extra,
    )
