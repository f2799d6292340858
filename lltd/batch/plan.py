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

import contextlib
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
from lltd.fs.identity import Version
from lltd.fs.relation import Relation, path_below, relation
from lltd.fs.tree import Folder

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
    #: The output tree is, holds or lies in the input tree (by identity): an unrecorded file
    #: there may be an original of someone's, never replaced.
    overlaps: bool = False
    #: The node at this name belongs to the running user: only such a file can be a leftover
    #: of ours (in a sticky or group-writable folder the others' files are theirs).
    owned: Callable[[str], bool] = lambda name: True


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
        output = job.output_root(root).absolute().resolve()
        tree = local_tree(job, root, output, _path_relation(root, output))
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
            # Unrecorded: someone else's file, unless it sits in a folder of our own apart from
            # the input tree (a leftover of an interrupted or older run, which webp-converter
            # also redid) and no complete name record says that we never gave it.
            return (
                inside is None
                and not self.tree.overlaps
                and not self.job.in_place
                and not self.names.complete
                and self.tree.owned(name)
            )
        if mark.command != self.job.command or mark.source.name != relative:
            return False  # the output of another input (or another command): never replaced
        # Under --r an output whose original has changed since is the only copy of that picture.
        return not self.job.consumes_input or self.tree.same_source(mark, relative)


def tree_relation(input_root: Path, output_root: Path) -> tuple[Relation, str | None]:
    """How the output tree relates to the input tree, from their identities (a link or bind
    mount of a folder is that folder), and the name one reaches the other by: the output's
    below the input (INSIDE), the input's below the output (CONTAINS). An output folder that
    does not exist yet is judged by its nearest existing ancestor."""
    existing, missing = output_root, PurePosixPath()
    while not os.path.isdir(existing) and existing != existing.parent:
        missing = PurePosixPath(existing.name) / missing
        existing = existing.parent
    with Folder.open(input_root) as tree, Folder.open(existing) as out:
        found = relation(out, tree)
        if found is Relation.APART:
            return found, None
        if found in (Relation.SAME, Relation.INSIDE):
            below = path_below(out, tree)
            name = "/".join(part for part in (below, missing.as_posix()) if part not in ("", "."))
            return (Relation.INSIDE if name else Relation.SAME), name
        if missing.parts:  # a new folder beside the input's ancestors holds no input
            return Relation.APART, None
        return found, path_below(tree, out)


def local_tree(
    job: PlannedJob,
    input_root: Path,
    output_root: Path,
    related: tuple[Relation, str | None] | None = None,
) -> OutputTree:
    """The output tree as the planner sees it. ``related``: :func:`tree_relation` (computed
    here when not given, by path where the folders do not exist)."""
    kind, between = related if related is not None else _path_relation(input_root, output_root)
    output_folder = str(output_root)

    def as_input(name: str) -> str | None:
        # Output names are relative and plain (no "..", no links inside them).
        if kind is Relation.SAME:
            return name
        if kind is Relation.INSIDE:
            return f"{between}/{name}"
        if kind is Relation.CONTAINS and between is not None:
            prefix = between + "/"
            return name[len(prefix) :] if name.startswith(prefix) else None
        return None

    return OutputTree(
        exists=lambda name: os.path.lexists(os.path.join(output_folder, name)),
        mark=lambda name: read_mark(output_root / name),
        input_mark=lambda name: read_mark(input_root / name),
        as_input=as_input,
        same_source=lambda mark, relative: same_source(mark, input_root / relative, relative),
        overlaps=kind.overlaps,
        owned=lambda name: _owned(os.path.join(output_folder, name)),
    )


def _owned(path: str) -> bool:
    try:
        return os.lstat(path).st_uid == os.geteuid()
    except OSError:
        return False


def _path_relation(input_root: Path, output_root: Path) -> tuple[Relation, str | None]:
    """:func:`tree_relation` for a host whose folders may not exist yet (the daemon's planner
    is made before its folders are checked): by identity when both exist, else by path."""
    with contextlib.suppress(OSError):
        return tree_relation(input_root, output_root)
    if output_root == input_root:
        return Relation.SAME, ""
    if is_within(output_root, input_root):
        return Relation.INSIDE, output_root.relative_to(input_root).as_posix()
    if is_within(input_root, output_root):
        return Relation.CONTAINS, input_root.relative_to(output_root).as_posix()
    return Relation.APART, None


def check_roots(job: PlannedJob, input_root: Path, output_root: Path) -> None:
    """``-o`` equal to the input folder (by identity: a link or bind mount of it is it):
    outputs would be taken for inputs (and the input's subfolders would look like output);
    refuse rather than handle half the tree."""
    if job.in_place or not os.path.isdir(output_root):
        return
    with Folder.open(input_root) as tree, Folder.open(output_root) as out:
        same = tree.identity == out.identity
    if same:
        raise UsageError(
            f"the output folder is the input folder {printable(input_root)}: outputs would mix "
            "with the originals; choose another -o"
            + (" (or --r to replace in place)" if job.command == "compress" else "")
        )


def _version_at(path: Path) -> Version | bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return Version.of(st) if stat.S_ISREG(st.st_mode) else False


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
    related = tree_relation(root, output_root)
    inside = not job.in_place and related[0] is Relation.INSIDE
    exclude = [root / related[1]] if inside and related[1] else []
    tree = local_tree(job, root, output_root.resolve(), related)
    if assume_empty and not job.in_place:
        tree = replace(tree, exists=lambda name: False, mark=lambda name: None)
    planner = Planner(job, tree)

    def exists(path: PurePosixPath) -> bool:
        return os.path.lexists(root / path)

    unlisted: list[tuple[Path, str]] = []
    scanned = {
        task.relative.as_posix(): task
        for task in scan(root, job.extensions, exclude=exclude, unlisted=unlisted)
    }
    kept = [name for name in scanned if planner.is_input(name, exists)]
    planner.inputs = set(kept)

    def make_task(name: str, out: str) -> Task:
        found = scanned[name]
        output = output_root / out
        # What the planner just judged to be at the name is all the job may replace.
        return Task(found.source, found.relative, output, replaces=_version_at(output))

    run = plan_names(
        planner,
        kept,
        make_task=make_task,
        input_path=lambda name: scanned[name].source,
        skip=ignore_filename_match,
        command=job.command,
        report_extra={"input": str(root), "output": str(output_root), **job.report_fields()},
        job=job,
    )
    # A folder the scan could not list holds files nobody would hear of otherwise.
    run.presettled.extend(
        FileResult(str(folder), None, Outcome.FAILED, error=reason) for folder, reason in unlisted
    )
    return run


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
