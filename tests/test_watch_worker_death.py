"""A file the daemon's workers keep dying on (issue 12): the pool retries it, then reports it
"dead" through its callback, and the job's own quarantine policy sets it aside, as it does any
other failure: OUT/failed/<name> with a .error.txt naming the file as uploaded, the input moved
to IN/.lltd/failed/. No repair step second-guesses the job."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from lltd.batch.scan import Task
from lltd.jobs.flip import FlipJob
from lltd.watch.pool import MAX_ATTEMPTS, Pool, Report
from lltd.watch.worker import Processed, WorkItem, give_up


class DyingExecutor:
    """Every file kills its worker (as a decoder that segfaults would)."""

    submitted = 0

    def submit(self, fn: object, item: WorkItem) -> Future[Processed]:
        DyingExecutor.submitted += 1
        future: Future[Processed] = Future()
        future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def item_for(tmp_path: Path, display: Path | None = None) -> WorkItem:
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / "sub").mkdir(parents=True)
    (inp / "sub" / "boom.png").write_bytes(b"\x89PNG\r\n\x1a\nkills its decoder")
    relative = Path("sub/boom.png")
    return WorkItem(
        job=FlipJob(output_dir=out, force=True),
        task=Task(inp / relative, relative, out / "sub" / "boom_f.png", display=display),
        on_success="move",
        state_dir=inp / ".lltd",
        quarantine_dir=out / "failed",
        input_root=inp,
        output_root=out,
    )


def test_the_pool_retries_then_reports_the_file_dead(tmp_path: Path) -> None:
    reports: list[Report[str]] = []
    pool: Pool[str] = Pool(
        1, reports.append, clock=lambda: 0.0, worker_idle=60, stop_timeout=1,
        executor=lambda jobs: DyingExecutor(),
    )  # fmt: skip
    item = item_for(tmp_path)
    for _ in range(MAX_ATTEMPTS):
        assert pool.reserve(timeout=1)
        assert pool.submit("key", item, (1, 1))
    assert [r.kind for r in reports] == ["retry"] * (MAX_ATTEMPTS - 1) + ["dead"]
    assert reports[-1].reason == f"the worker process died {MAX_ATTEMPTS} times on this file"
    # The pool set nothing aside itself: that is the job's policy, run by the daemon.
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "in" / "sub" / "boom.png").exists()


def test_a_dead_file_is_failed_by_the_jobs_own_quarantine(tmp_path: Path) -> None:
    uploaded = tmp_path / "in" / "sub" / "boom.png"
    item = item_for(tmp_path, display=uploaded)
    data = uploaded.read_bytes()
    processed = give_up(item, "the worker process died 3 times on this file")
    result = processed.result
    assert result.outcome.value == "failed"
    copy = tmp_path / "out" / "failed" / "sub" / "boom.png"
    assert result.output == str(copy) and copy.read_bytes() == data
    reason = (copy.parent / "boom.png.error.txt").read_text()
    assert reason == f"{uploaded}: the worker process died 3 times on this file\n"
    moved = tmp_path / "in" / ".lltd" / "failed" / "sub" / "boom.png"
    assert processed.disposed == f"moved:{moved}" and moved.read_bytes() == data
    assert not uploaded.exists()


def test_a_failure_names_the_file_as_uploaded_not_its_claimed_copy(tmp_path: Path) -> None:
    """--shared processes a claimed copy under IN/.lltd/claims/: the job's quarantine names the
    upload (Task.display), so the daemon has nothing to rewrite."""
    from lltd.watch.worker import process

    item = item_for(tmp_path)
    (tmp_path / "out").mkdir()  # the daemon makes OUT at start
    claimed = tmp_path / "in" / ".lltd" / "claims" / "me" / "sub" / "boom.png"
    claimed.parent.mkdir(parents=True)
    item.task.source.rename(claimed)
    uploaded = tmp_path / "in" / "sub" / "boom.png"
    task = Task(claimed, item.task.relative, item.task.output, display=uploaded)
    done = process(WorkItem(**{**item.__dict__, "task": task}))
    assert done.result.outcome.value == "failed"
    reason = (tmp_path / "out" / "failed" / "sub" / "boom.png.error.txt").read_text()
    assert reason.startswith(f"{uploaded}: ") and "claims" not in reason
