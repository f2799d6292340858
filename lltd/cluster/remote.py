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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lltd.atomic import TEMP_SUFFIX
from lltd.batch.engine import Job, run_one
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun
from lltd.batch.scan import COMPRESS_EXTENSIONS, IMAGE_EXTENSIONS, Task, assign_outputs
from lltd.cluster.storage import FileInfo, Storage
from lltd.errors import UsageError

#: Client-side stand-ins for the input and output roots; workers swap in a temp folder.
REMOTE_IN = Path("/lltd-remote/in")
REMOTE_OUT = Path("/lltd-remote/out")

Snapshot = dict[Path, tuple[int, int, int]]


def _snapshot(folder: Path) -> Snapshot:
    state: Snapshot = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.endswith(TEMP_SUFFIX):
            stat = path.stat()
            state[path] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
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
        for folder, _, names in os.walk(root):
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
            storage.publish(path, relative)
        for path in sorted(before.keys() - after.keys()):
            storage, relative = self.remote(path)
            storage.delete(relative)


@dataclass(frozen=True)
class RemoteJob:
    """A local job (planned with :data:`REMOTE_OUT` as its output folder) over storage URLs."""

    job: Job
    source: Storage
    destination: Storage
    fetch_outputs: bool = False  # compress --r decodes an existing output; others only stat it
    planned_in: int = 0  # the planning process: the only one that sees its memory:// store

    def input_name(self, task: Task) -> str:
        return self.source.url(task.relative.as_posix())

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
                self.source.fetch(relative, local_task.source)
            except FileNotFoundError:
                pass  # gone since the scan: the local job reports it as a local run would
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
        storage, relative = mounts.remote(output)
        info = storage.info(relative)
        if info is not None:
            storage.fetch(relative, output, placeholder=None if self.fetch_outputs else info)


# --- planning -----------------------------------------------------------------------------


def _walk_order(relative: str) -> tuple[tuple[int, str], ...]:
    """os.walk's order, which the local scan follows: a folder's files, then its sub-folders."""
    *folders, name = relative.split("/")
    return (*((1, folder) for folder in folders), (0, name))


def scan_storage(
    storage: Storage, extensions: frozenset[str], exclude: list[str]
) -> tuple[list[str], dict[str, FileInfo]]:
    """Like :func:`lltd.batch.scan.scan`: image files, no dotfiles or dot-folders, sorted."""
    listing = storage.listing()
    wanted = []
    for relative in listing:
        parts = relative.split("/")
        if any(part.startswith(".") for part in parts):
            continue
        if Path(parts[-1]).suffix.lower() not in extensions:
            continue
        if any(relative.startswith(folder + "/") for folder in exclude if folder):
            continue
        wanted.append(relative)
    return sorted(wanted, key=_walk_order), listing


def _report_fields(job: Any) -> dict[str, object]:
    """The local planner's report fields, read by planning an empty folder."""
    from lltd.jobs.compress import CompressJob, plan_compress
    from lltd.jobs.defend import DefendJob, plan_defend
    from lltd.jobs.flip import plan_flip

    with tempfile.TemporaryDirectory(prefix="lltd-plan-") as empty:
        if isinstance(job, CompressJob):
            return plan_compress(Path(empty), job).report_extra
        if isinstance(job, DefendJob):
            return plan_defend(Path(empty), job).report_extra
        return plan_flip(Path(empty), job).report_extra


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


def plan_remote(
    root: str | os.PathLike[str],
    job: Any,
    *,
    clean: bool = False,
    ignore_filename_match: str | None = None,
) -> BatchRun:
    """Plan ``compress``, ``flip`` or ``defend`` where the input or output is a storage URL."""
    from lltd.batch.scan import matches_name
    from lltd.jobs.compress import CompressJob
    from lltd.jobs.flip import FlipJob

    source = Storage.of(root)
    if not source.is_dir():
        raise UsageError(f"input directory {root} does not exist or is not a directory")
    compress = isinstance(job, CompressJob)
    beside = job.output_dir is None or (compress and job.replace)
    destination = source if beside else Storage.of(job.output_dir)
    if clean and not beside:
        _clean(destination, source)

    extensions = COMPRESS_EXTENSIONS if compress else IMAGE_EXTENSIONS
    inside = None if beside else destination.relative_to(source)
    names, listing = scan_storage(source, extensions, [inside] if inside else [])

    planned = job if job.output_dir is None else dataclasses.replace(job, output_dir=REMOTE_OUT)
    tasks = [Task(REMOTE_IN / name, Path(name)) for name in names]
    presettled: list[FileResult] = []
    if isinstance(job, FlipJob):

        def exists(path: Path) -> bool:
            return path.relative_to(REMOTE_IN).as_posix() in listing

        tasks = [task for task in tasks if not job.is_flip_of_sibling(task, exists=exists)]
    if compress and ignore_filename_match:
        kept = []
        for task in tasks:
            if matches_name(task.source.name, ignore_filename_match):
                name = task.relative.as_posix()
                presettled.append(
                    FileResult(
                        source.url(name), None, Outcome.NAME_MATCH, bytes_before=listing[name].size
                    )
                )
            else:
                kept.append(task)
        tasks = kept

    extra = _report_fields(planned)
    extra.update(input=source.location, output=destination.location)
    remote = RemoteJob(
        planned, source, destination, fetch_outputs=compress and bool(job.replace),
        planned_in=os.getpid(),
    )  # fmt: skip
    return BatchRun(
        command=type(job).__name__.removesuffix("Job").lower(),
        job=remote,
        tasks=assign_outputs(tasks, planned.output_for),
        presettled=presettled,
        report_extra=extra,
    )
