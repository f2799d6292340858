"""A stopping daemon's pool (``Pool.drain``) joins everything its process pool started, the
executor's manager thread included. One left running when the daemon exits is woken by the
interpreter's exit hook through a pipe it may be closing at that moment: an "Exception ignored
... Bad file descriptor" traceback in the journal (seen once in tests/system)."""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image

from lltd.batch.scan import Task
from lltd.jobs.flip import FlipJob
from lltd.watch.pool import Pool, Report, new_executor
from lltd.watch.worker import WorkItem


def test_drain_leaves_no_thread_of_the_process_pool_running(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    out.mkdir()  # the daemon makes its folders before any file
    Image.new("RGB", (16, 12), (200, 30, 30)).save(inp / "a.png")
    item = WorkItem(
        job=FlipJob(output_dir=out, force=True),
        task=Task(inp / "a.png", Path("a.png"), out / "a_f.png"),
        on_success="keep",
        state_dir=inp / ".lltd",
        quarantine_dir=out / "failed",
        input_root=inp,
        output_root=out,
    )
    executors: list = []

    def executor(jobs: int):
        executors.append(new_executor(jobs))
        return executors[-1]

    reports: list[Report[str]] = []
    done = threading.Event()

    def report(event: Report[str]) -> None:
        reports.append(event)
        done.set()

    pool: Pool[str] = Pool(
        1, report, clock=lambda: 0.0, worker_idle=60, stop_timeout=30, executor=executor
    )
    assert pool.reserve(timeout=1)
    assert pool.submit("a", item, (1, 1))
    assert done.wait(60), "the worker never reported"
    manager = executors[0]._executor_manager_thread
    assert manager is not None and manager.is_alive()
    assert pool.drain() == 0
    assert not manager.is_alive()
    assert (out / "a_f.png").is_file()
    assert [r.kind for r in reports] == ["done"]
