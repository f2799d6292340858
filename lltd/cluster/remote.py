"""Run the local jobs on files that live in any fsspec storage.

The planner lists the input storage and makes ordinary tasks whose paths sit under two stand-in
roots (``/lltd-remote/in`` and ``/lltd-remote/out``), so the jobs' own rules name the outputs.
On the worker, :class:`RemoteJob` mirrors one file (and any existing output) into a private temp
folder, runs the unchanged local job there, then publishes what the job wrote or deleted. Every
file rule (already converted, larger, transparency, failed/, ``--r``) is thus the local one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing.util
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from lltd.batch.engine import Job, run_one
from lltd.batch.marks import Mark, TooLarge, write_mark
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun
from lltd.batch.plan import OutputTree, PlannedJob, Planner, plan_names
from lltd.batch.scan import Task
from lltd.cluster.storage import MARKS, FileInfo, Storage
from lltd.common.errors import UsageError
from lltd.fs.atomic import TEMP_SUFFIX
from lltd.fs.walk import walk

#: Client-side stand-ins for the input and output roots; workers swap in a temp folder.
REMOTE_IN = Path("/lltd-remote/in")
REMOTE_OUT = Path("/lltd-remote/out")

Snapshot = dict[Path, tuple[int, int, int]]


def _snapshot(folder: Path) -> Snapshot:
    """The regular files under ``folder`` (walked without recursion: a file's relative path
    may be 1,000 folders deep)."""
    state: Snapshot = {}
    for where, _, names in walk(folder):
        for name in names:
            if name.endswith(TEMP_SUFFIX):
                continue
            path = Path(where, name)
            st = path.lstat()
            if S_ISREG(st.st_mode):
                state[path] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return state


_thread = threading.local()


def _worker_directory() -> str | None:
    """A Dask worker's own scratch folder, which dask removes even if the worker is killed."""
    distributed = sys.modules.get("distributed")  # never import dask just to ask
    if distributed is None:
        return None
    try:
        return distributed.get_worker().local_directory
    except ValueError:  # not in a worker
        return None


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """An empty private folder (``in/``, ``out/``) for one file at a time, kept by the thread:
    creating and removing folders for every file costs more than the job on some disks."""
    root: Path | None = getattr(_thread, "root", None)
    if root is None or _thread.pid != os.getpid() or not root.is_dir():  # new, or forked
        root = Path(tempfile.mkdtemp(prefix="lltd-remote-", dir=_worker_directory()))
        (root / "in").mkdir()
        (root / "out").mkdir()
        _thread.root, _thread.pid = root, os.getpid()
        # Runs at exit in the main process and in multiprocessing children alike.
        multiprocessing.util.Finalize(None, shutil.rmtree, args=(root, True), exitpriority=0)
    try:
        yield root
    finally:
        for folder, _, names in walk(root):
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))


@dataclass(frozen=True)
class _Mounts:
    """Where the two storages appear on this worker for the time of one file."""

    local_in: Path
    local_out: Path
    source: Storage
    destination: Storage

    def localize(self, path: Path | None) -> Path | None:
        for stand_in, local in ((REMOTE_IN, self.local_in), (REMOTE_OUT, self.local_out)):
            if path is not None and path.is_relative_to(stand_in):
                return local / path.relative_to(stand_in)
        return path

    def remote(self, path: Path) -> tuple[Storage, str]:
        if path.is_relative_to(self.local_in):
            return self.source, path.relative_to(self.local_in).as_posix()
        return self.destination, path.relative_to(self.local_out).as_posix()

    def to_url(self, text: str | None) -> str | None:
        """Name files as the user named the storages, not by this worker's temp folder."""
        if text is None:
            return None
        for local, storage in ((self.local_in, self.source), (self.local_out, self.destination)):
            text = text.replace(str(local), storage.location.rstrip("/"))
        return text

    def publish(self, before: Snapshot, after: Snapshot) -> None:
        """Upload what the job wrote, then delete what it removed (``--r`` drops an original
        only once its WebP is published)."""
        for path, state in sorted(after.items()):
            if before.get(path) == state:
                continue
            storage, relative = self.remote(path)
            if path.name.endswith(".error.txt"):  # the reason file names the input
                path.write_text(self.to_url(path.read_text()) or "")
            storage.publish(path, relative)  # with its provenance record
        for path in sorted(before.keys() - after.keys()):
            storage, relative = self.remote(path)
            storage.delete(relative)


@dataclass(frozen=True)
class RemoteJob:
    """A local job (planned with :data:`REMOTE_OUT` as its output folder) over storage URLs."""

    job: Job
    source: Storage
    destination: Storage
    planned_in: int = 0  # the planning process: the only one that sees its memory:// store

    def input_name(self, task: Task) -> str:
        return self.source.url(task.relative.as_posix())

    def names(self, task: Task) -> tuple[str, str]:
        """A planned task's input and output as the user named the storages (a dry run)."""
        output = task.output or REMOTE_OUT
        if output.is_relative_to(REMOTE_IN):
            return self.input_name(task), self.source.url(output.relative_to(REMOTE_IN).as_posix())
        return self.input_name(task), self.destination.url(
            output.relative_to(REMOTE_OUT).as_posix()
        )

    def __call__(self, task: Task) -> FileResult:
        relative = task.relative.as_posix()
        if os.getpid() != self.planned_in and "memory" in (
            self.source.protocol,
            self.destination.protocol,
        ):
            # Results written to another process's memory:// would vanish without a word.
            return FileResult(
                self.input_name(task), None, Outcome.FAILED,
                error="memory:// storage is private to one process: use -j 1 or worker threads",
            )  # fmt: skip
        with _scratch() as tmp:
            mounts = _Mounts(tmp / "in", tmp / "out", self.source, self.destination)
            local_task = Task(
                mounts.local_in / task.relative, task.relative, mounts.localize(task.output)
            )
            try:
                self.source.fetch(relative, local_task.source, getattr(self.job, "max_bytes", None))
            except FileNotFoundError:
                pass  # gone since the scan: the local job reports it as a local run would
            except TooLarge as exc:
                return FileResult(self.source.url(relative), None, Outcome.FAILED, error=str(exc))
            except PermissionError as exc:
                return FileResult(
                    self.source.url(relative),
                    None,
                    Outcome.FAILED,
                    error=f"cannot read: {exc.strerror or exc}",
                )
            if local_task.output is not None:
                self._mirror_output(mounts, local_task.output)
            before = _snapshot(tmp)
            result = run_one(self._local_job(mounts), local_task)
            mounts.publish(before, _snapshot(tmp))
        return FileResult(
            self.source.url(relative),
            mounts.to_url(result.output),
            result.outcome,
            result.bytes_before,
            result.bytes_after,
            mounts.to_url(result.error),
        )

    def _local_job(self, mounts: _Mounts) -> Job:
        if getattr(self.job, "output_dir", None) is None:
            return self.job
        return dataclasses.replace(self.job, output_dir=mounts.local_out)  # type: ignore[type-var]

    def _mirror_output(self, mounts: _Mounts, output: Path) -> None:
        """The existing output and its provenance record: the job reuses it only when the
        record names this input and the bytes are intact, so both must be here."""
        storage, relative = mounts.remote(output)
        if storage.info(relative) is not None:
            storage.fetch(relative, output)
            write_mark(output, storage.read_mark(relative))


# --- planning -----------------------------------------------------------------------------


def _walk_order(relative: str) -> tuple[tuple[int, str], ...]:
    """os.walk's order, which the local scan follows: a folder's files, then its sub-folders."""
    *folders, name = relative.split("/")
    return (*((1, folder) for folder in folders), (0, name))


def _clean(destination: Storage, source: Storage) -> None:
    """``--c`` on storage: the same refusals as locally, with a whole bucket in place of /."""
    if "/" not in destination.path().strip("/"):
        raise UsageError(f"--c refuses to delete {destination.location}: it is a whole bucket")
    if source.relative_to(destination) is not None:
        raise UsageError(
            f"--c refuses to delete {destination.location}: it is or contains the "
            f"input folder {source.location}"
        )
    destination.remove_tree()


def storage_tree(
    source: Storage,
    destination: Storage,
    listing: Mapping[str, FileInfo],
    written: Mapping[str, FileInfo],
) -> OutputTree:
    """The planner's view of a storage pair, answered from one listing of each."""
    inside = destination.relative_to(source)  # where outputs sit in the input tree, if they do
    # -o a folder that holds the input: an unrecorded file there may be an original (as locally).
    overlaps = inside is not None or source.relative_to(destination) is not None

    def as_input(name: str) -> str | None:
        if inside is None:
            return None
        return f"{inside}/{name}" if inside else name

    def mark_in(storage: Storage, names: Mapping[str, FileInfo]) -> Callable[[str], Mark | None]:
        def mark(name: str) -> Mark | None:
            if name not in names or (not storage.is_local and f"{MARKS}/{name}" not in names):
                return None
            return storage.read_mark(name)

        return mark

    def same_source(mark: Mark, relative: str) -> bool:
        return source.describe(relative) == mark.source

    return OutputTree(
        exists=lambda name: name in written,
        mark=mark_in(destination, written),
        input_mark=mark_in(source, listing),
        as_input=as_input,
        same_source=same_source,
        overlaps=overlaps,
    )


def plan_remote(
    root: str | os.PathLike[str],
    job: Any,
    *,
    clean: bool = False,
    ignore_filename_match: str | None = None,
) -> BatchRun:
    """Plan ``compress``, ``flip`` or ``defend`` where the input or output is a storage URL:
    the one planner, fed by the storage listing."""
    planned: PlannedJob = job
    source = Storage.of(root)
    if not source.is_dir():
        raise UsageError(f"input directory {root} does not exist or is not a directory")
    destination = source if planned.in_place else Storage.of(job.output_dir)
    if clean and not planned.in_place:
        _clean(destination, source)
    if not planned.in_place and destination.relative_to(source) == "":
        raise UsageError(
            f"the output folder is the input folder {source.location}: outputs would mix with "
            "the originals; choose another -o"
        )

    listing = source.listing()
    written = listing if destination == source else destination.listing_if_any()
    inside = None if planned.in_place else destination.relative_to(source)
    planner = Planner(planned, storage_tree(source, destination, listing, written))
    names = sorted(
        (
            name
            for name in listing
            if not (inside and name.startswith(inside + "/"))
            and planner.is_input(name, lambda path: path.as_posix() in listing)
        ),
        key=_walk_order,
    )
    planner.inputs = set(names)
    out_root = REMOTE_IN if planned.in_place else REMOTE_OUT
    local_job = job if job.output_dir is None else dataclasses.replace(job, output_dir=REMOTE_OUT)
    remote = RemoteJob(local_job, source, destination, planned_in=os.getpid())
    return plan_names(
        planner,
        names,
        make_task=lambda name, out: Task(REMOTE_IN / name, Path(name), out_root / out),
        input_path=source.url,
        skip=ignore_filename_match,
        command=planned.command,
        report_extra={
            "input": source.location,
            "output": destination.location,
            **planned.report_fields(),
        },
        job=remote,
        sizes=lambda name: listing[name].size,
        not_regular=lambda name: None,  # object stores hold only plain objects
    )
