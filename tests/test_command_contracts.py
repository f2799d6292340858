"""``lltd.batch.command`` in-process (issue 27): the input folder's refusals word for word, which
runner each ``-j``/``--scheduler``/pool asks for, a storage URL kept as text and a path made
absolute, the planner chosen by either end, and one batch from plan to exit status (the dry run
before any runner, the ``--json`` check before any file, the summary unless quiet)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import fsspec
import pytest
from batch_helpers import picture, released_locks  # noqa: F401 (the fixture: locks released)

from lltd.batch import prepare
from lltd.batch.command import (
    absolute_location,
    batch_status,
    existing_directory,
    input_location,
    location,
    plan,
    runner_for,
)
from lltd.batch.engine import ProcessRunner, SerialRunner, ThreadRunner
from lltd.batch.outcome import FileResult, Outcome, Totals
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.settings import compress_job

MEMORY = "memory://lltd-test-command-contracts"


def test_a_missing_input_folder_is_refused_by_its_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        existing_directory(tmp_path / "nope")
    assert str(refused.value) == f"input directory {tmp_path / 'nope'} does not exist"
    with pytest.raises(UsageError) as refused:
        existing_directory(tmp_path / "nope", "model folder")
    assert str(refused.value) == f"model folder {tmp_path / 'nope'} does not exist"


def test_a_file_given_as_input_folder_is_not_a_directory(tmp_path: Path) -> None:
    file = picture(tmp_path / "a.png")
    with pytest.raises(UsageError) as refused:
        existing_directory(file)
    assert str(refused.value) == f"input directory {file} is not a directory"


def test_an_existing_folder_is_returned_as_given(tmp_path: Path) -> None:
    assert existing_directory(tmp_path) is tmp_path


def test_a_folder_that_cannot_be_read_or_entered_is_not_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite runs as root, who may read any folder: ``os.access`` answers here as it does
    for a user whose folder lacks the read or the search bit."""
    for denied in (os.R_OK, os.X_OK):
        asked: list[int] = []

        def access(path: object, mode: int, denied: int = denied, asked: list = asked) -> bool:
            asked.append(mode)
            return not mode & denied

        monkeypatch.setattr(os, "access", access)
        with pytest.raises(UsageError) as refused:
            existing_directory(tmp_path, "-o")
        assert str(refused.value) == f"-o {tmp_path} is not readable"
        assert asked == [os.R_OK | os.X_OK]


@pytest.mark.parametrize(
    ("jobs", "pool", "kind", "workers"),
    [(1, "processes", SerialRunner, None), (1, "threads", SerialRunner, None),
     (3, "processes", ProcessRunner, 3), (2, "threads", ThreadRunner, 2)],
)  # fmt: skip
def test_the_local_runner_follows_jobs_and_pool(
    jobs: int, pool: str, kind: type, workers: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLTD_POOL", raising=False)
    runner = runner_for(jobs, None, pool)
    assert type(runner) is kind
    if workers is not None:
        assert runner.jobs == workers  # type: ignore[attr-defined]


def test_the_pool_defaults_to_processes_and_an_empty_scheduler_is_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLTD_POOL", raising=False)
    runner = runner_for(2, "")
    assert type(runner) is ProcessRunner and runner.jobs == 2


def test_a_scheduler_goes_to_dask_and_an_unreachable_one_is_one_usage_error() -> None:
    pytest.importorskip("distributed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed at once: nothing listens there
    with pytest.raises(
        UsageError, match=f"^cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: "
    ):
        runner_for(2, f"tcp://127.0.0.1:{port}")


def test_a_storage_url_stays_text_and_anything_else_is_a_path(tmp_path: Path) -> None:
    assert location("s3://bucket//x") == "s3://bucket//x"
    assert location(Path("s3:/bucket/x")) == Path("s3:/bucket/x")
    assert location("a//b") == Path("a/b") and isinstance(location("a//b"), Path)
    assert input_location("memory://nowhere/at/all") == "memory://nowhere/at/all"
    assert input_location(str(tmp_path)) == tmp_path
    with pytest.raises(UsageError, match=r"does not exist$"):
        input_location(str(tmp_path / "gone"))


def test_a_local_location_is_made_absolute_and_a_url_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_location("out/x") == tmp_path / "out" / "x"
    assert absolute_location("s3://b/out") == "s3://b/out"


def test_a_dry_run_with_clean_on_storage_is_refused_whichever_end_is_a_url(tmp_path: Path) -> None:
    message = "^--dry-run with --c is for local folders only$"
    local_job = compress_job(tmp_path / "out", EncodeOptions(quality=60))
    with pytest.raises(UsageError, match=message):
        plan(MEMORY + "/in", local_job, dry_run=True, clean=True)
    picture(tmp_path / "in" / "a.png")
    remote_job = compress_job(MEMORY + "/out", EncodeOptions(quality=60))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=message):
        plan(tmp_path / "in", remote_job, dry_run=True, clean=True)
    # A local plan takes --c with a dry run (and writes nothing).
    run = plan(tmp_path / "in", local_job, dry_run=True, clean=True)
    assert [task.relative.as_posix() for task in run.tasks] == ["a.png"]
    assert not (tmp_path / "out").exists()


def test_a_storage_input_is_planned_from_its_listing(tmp_path: Path) -> None:
    fs = fsspec.filesystem("memory")
    base = MEMORY.removeprefix("memory://")
    fs.pipe(f"{base}/in/b.png", picture(tmp_path / "b.png").read_bytes())
    try:
        run = plan(MEMORY + "/in", compress_job(tmp_path / "out", EncodeOptions(quality=60)))
        assert [task.relative.as_posix() for task in run.tasks] == ["b.png"]
        assert [task.output.name for task in run.tasks] == ["b.webp"]  # type: ignore[union-attr]
        run = plan(MEMORY + "/in", compress_job(tmp_path / "o2", EncodeOptions()), dry_run=True)
        assert [task.relative.as_posix() for task in run.tasks] == ["b.png"]
    finally:
        fs.rm(base, recursive=True)


def test_a_local_plan_locks_and_names_outputs_and_a_dry_one_makes_nothing(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "sub" / "c.jpg")
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60))
    dry = plan(str(tmp_path / "in"), job, dry_run=True)
    assert [task.output for task in dry.tasks] == [
        tmp_path / "out/a.webp",
        tmp_path / "out/sub/c.webp",
    ]
    assert not (tmp_path / "out").exists()
    real = plan(str(tmp_path / "in"), job)
    assert [task.output for task in real.tasks] == [
        tmp_path / "out/a.webp",
        tmp_path / "out/sub/c.webp",
    ]
    assert (tmp_path / "out").is_dir()


def summary(totals: Totals) -> str:
    return f"summary: {totals.scanned} scanned, {totals.counts[Outcome.CONVERTED]} converted"


def status_of(tmp_path: Path, **options: object) -> int:
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60))
    defaults: dict[str, object] = dict(
        jobs=1, scheduler=None, json_report=None, quiet=False, debug=False, summary=summary
    )
    dry = bool(options.get("dry_run"))
    return batch_status(lambda: plan(tmp_path / "in", job, dry_run=dry), **{**defaults, **options})  # type: ignore[arg-type]


def test_a_batch_prints_its_summary_and_exits_0_when_every_file_converts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "b.png", (0, 0, 255))
    monkeypatch.delenv("LLTD_POOL", raising=False)
    assert status_of(tmp_path, jobs=2) == 0  # the default pool: processes
    out, err = capsys.readouterr()
    assert out == "summary: 2 scanned, 2 converted\n"
    assert err == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.webp", "b.webp"]


def test_a_quiet_batch_prints_no_summary_and_a_failed_file_makes_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert status_of(tmp_path, quiet=True) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no summary; the failure's own line is all
    broken = tmp_path / "in" / "broken.png"
    assert err == f"lltd: failed: {broken}: not an image, or a format Pillow cannot read\n"
    assert (tmp_path / "out" / "a.webp").is_file()


def test_the_json_report_is_written_with_every_file(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    report = tmp_path / "report.json"
    assert status_of(tmp_path, json_report=report, quiet=True) == 0
    data = json.loads(report.read_text())
    assert [record["outcome"] for record in data["files"]] == ["converted"]
    assert data["totals"]["files"] == 1 and data["totals"]["converted"] == 1


def test_a_json_report_onto_an_input_is_refused_before_any_file_is_written(tmp_path: Path) -> None:
    source = picture(tmp_path / "in" / "a.png")
    with pytest.raises(UsageError, match=r"is an image of this run; choose another name$"):
        status_of(tmp_path, json_report=source)
    assert not (tmp_path / "out" / "a.webp").exists()


def test_a_dry_run_prints_the_plan_writes_nothing_and_starts_no_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture(tmp_path / "in" / "a.png")
    # A scheduler nobody could reach: a dry run never asks for a runner.
    assert status_of(tmp_path, dry_run=True, scheduler="tcp://0.0.0.0:1", jobs=4) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == [
        f"would convert: {tmp_path / 'in' / 'a.png'} -> {tmp_path / 'out' / 'a.webp'}",
        "Dry run: 1 to convert, 0 already done, 0 skipped, 0 would fail, of 1 files; "
        "nothing was written",
    ]
    assert not (tmp_path / "out").exists()


def test_the_runner_is_asked_for_before_the_plan_makes_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture(tmp_path / "in" / "a.png")
    monkeypatch.setenv("LLTD_POOL", "fibers")
    with pytest.raises(UsageError, match=r"^LLTD_POOL must be one of processes, threads"):
        status_of(tmp_path, jobs=2)
    assert not (tmp_path / "out").exists()


def test_a_full_disk_prints_the_stopped_line_and_the_summary_flushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both lines reach their files before the batch ends: lltd leaves a batch by ``os._exit``,
    which flushes nothing (streams here with a buffer far larger than a line)."""
    import errno
    import io
    import sys

    from lltd.jobs.compress import CompressJob

    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "b.png")

    def full(self: CompressJob, task: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(CompressJob, "__call__", full)
    out, err = io.BytesIO(), io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, write_through=False))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(err, write_through=False))
    skipped = FileResult("/elsewhere/x.png", None, Outcome.NAME_MATCH)
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60))

    def make_plan():  # type: ignore[no-untyped-def]
        run = plan(tmp_path / "in", job)
        run.presettled.append(skipped)
        return run

    status = batch_status(
        make_plan, jobs=1, scheduler=None, json_report=None, quiet=True, debug=False,
        summary=summary,
    )  # fmt: skip
    assert status == 1
    source = tmp_path / "in" / "a.png"
    assert err.getvalue().decode() == (
        f"lltd: error: no space left on device (writing the output of {source}); "
        "stopped after 2 of 3 files, no partial file left\n"
    )
    assert out.getvalue() == b""  # quiet
    monkeypatch.setattr(CompressJob, "__call__", lambda self, task: FileResult(
        str(task.source), None, Outcome.CONVERTED))  # type: ignore[attr-defined]  # fmt: skip
    prepare._HELD.close()
    status = batch_status(
        make_plan, jobs=1, scheduler=None, json_report=None, quiet=False, debug=False,
        summary=summary,
    )  # fmt: skip
    assert status == 0
    assert out.getvalue() == b"summary: 3 scanned, 2 converted\n"
