"""What a watch worker does with one file (``lltd.watch.worker``), in-process on real folders:
each disposal (moved under a free name, deleted, kept, a failure set aside first), the exact
result of a file that vanished or was replaced, a file written to while read, the output made
durable only with ``fsync``, the refusals of a link under OUT or IN/.lltd word for word, the
result of an earlier attempt whose report was lost, and giving up on a file."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import LltdError
from lltd.jobs.flip import FlipJob
from lltd.watch import worker
from lltd.watch.settle import signature
from lltd.watch.worker import (
    Processed,
    WorkItem,
    dispose,
    earlier_attempt,
    give_up,
    process,
    unique_name,
)

BAD = b"\x89PNG\r\n\x1a\nnot really"


def picture(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), colour).save(path)
    return path.read_bytes()


def item(
    tmp_path: Path,
    relative: str,
    on_success: str = "move",
    *,
    roots: bool = True,
    fsync: bool = False,
    job: object = None,
    **extra: object,
) -> WorkItem:
    inp, out = tmp_path / "in", tmp_path / "out"
    out.mkdir(exist_ok=True)
    rel = Path(relative)
    output = out / rel.parent / f"{rel.stem}_f{rel.suffix}"
    return WorkItem(
        job=job or FlipJob(output_dir=out, force=True),  # type: ignore[arg-type]
        task=Task(inp / rel, rel, output),
        on_success=on_success,
        state_dir=inp / ".lltd",
        quarantine_dir=out / "failed",
        fsync=fsync,
        input_root=inp if roots else None,
        output_root=out if roots else None,
        **extra,  # type: ignore[arg-type]
    )


# -- process: disposal -----------------------------------------------------------------------------


def test_a_converted_file_is_moved_to_done_keeping_its_subfolder(tmp_path: Path) -> None:
    data = picture(tmp_path / "in" / "sub" / "a.png")
    done = process(item(tmp_path, "sub/a.png"))
    moved = tmp_path / "in" / ".lltd" / "done" / "sub" / "a.png"
    assert done.disposed == f"moved:{moved}"
    assert moved.read_bytes() == data and not (tmp_path / "in" / "sub" / "a.png").exists()
    assert done.result == FileResult(
        str(tmp_path / "in" / "sub" / "a.png"),
        str(tmp_path / "out" / "sub" / "a_f.png"),
        Outcome.CONVERTED,
        len(data),
        (tmp_path / "out" / "sub" / "a_f.png").stat().st_size,
    )
    assert (tmp_path / "out" / "sub" / "a_f.png").is_file()


def test_without_the_roots_the_state_folders_parent_is_in(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    done = process(item(tmp_path, "a.png", roots=False))
    assert done.disposed == f"moved:{tmp_path / 'in' / '.lltd' / 'done' / 'a.png'}"


def test_a_name_taken_in_done_gets_the_next_free_number(tmp_path: Path) -> None:
    first = picture(tmp_path / "in" / "a.png", (1, 1, 1))
    process(item(tmp_path, "a.png"))
    second = picture(tmp_path / "in" / "a.png", (2, 2, 2))
    again = process(item(tmp_path, "a.png"))
    done = tmp_path / "in" / ".lltd" / "done"
    assert again.disposed == f"moved:{done / 'a.1.png'}"
    assert (done / "a.png").read_bytes() == first and (done / "a.1.png").read_bytes() == second


def test_delete_removes_the_input_and_keep_leaves_it(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    assert process(item(tmp_path, "a.png", "delete")).disposed == "deleted"
    assert not (tmp_path / "in" / "a.png").exists()
    assert not (tmp_path / "in" / ".lltd" / "done").exists()
    data = picture(tmp_path / "in" / "b.png")
    assert process(item(tmp_path, "b.png", "keep")).disposed == "kept"
    assert (tmp_path / "in" / "b.png").read_bytes() == data


def test_a_failure_is_set_aside_then_moved_to_failed(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(BAD)
    done = process(item(tmp_path, "bad.png"))
    assert done.result.outcome is Outcome.FAILED
    assert done.result.output == str(tmp_path / "out" / "failed" / "bad.png")
    assert (tmp_path / "out" / "failed" / "bad.png").read_bytes() == BAD
    assert (tmp_path / "out" / "failed" / "bad.png.error.txt").is_file()
    assert done.disposed == f"moved:{tmp_path / 'in' / '.lltd' / 'failed' / 'bad.png'}"


def test_delete_removes_a_failure_once_its_copy_is_safe(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(BAD)
    done = process(item(tmp_path, "bad.png", "delete"))
    assert done.disposed == "deleted"
    assert (tmp_path / "out" / "failed" / "bad.png").read_bytes() == BAD


@dataclass(frozen=True)
class NoCopy:
    """A job whose failures are not set aside (no quarantine copy)."""

    def __call__(self, task: Task) -> FileResult:
        return FileResult(str(task.source), None, Outcome.FAILED, error="no good")


def test_delete_moves_a_failure_without_a_copy_instead_of_losing_it(tmp_path: Path) -> None:
    data = picture(tmp_path / "in" / "a.png")
    done = process(item(tmp_path, "a.png", "delete", job=NoCopy()))
    moved = tmp_path / "in" / ".lltd" / "failed" / "a.png"
    assert done.disposed == f"moved:{moved}" and moved.read_bytes() == data


def test_a_state_folder_replaced_by_a_link_is_refused_word_for_word(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "in" / ".lltd").mkdir()
    (tmp_path / "in" / ".lltd" / "done").symlink_to(elsewhere)
    with pytest.raises(LltdError) as caught:
        process(item(tmp_path, "a.png"))
    assert (
        str(caught.value)
        == f"refused: {tmp_path / 'in' / '.lltd' / 'done'} is a link or not a folder"
    )
    assert list(elsewhere.iterdir()) == [] and (tmp_path / "in" / "a.png").is_file()


# -- process: what it does not read -----------------------------------------------------------


def test_a_file_gone_before_processing_is_vanished(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    done = process(item(tmp_path, "a.png"))
    assert done == Processed(
        FileResult(
            str(tmp_path / "in" / "a.png"), None, Outcome.FAILED, error="vanished before processing"
        ),
        "vanished",
    )


def test_a_file_replaced_by_a_link_is_replaced_and_not_read(tmp_path: Path) -> None:
    picture(tmp_path / "target.png")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").symlink_to(tmp_path / "target.png")
    done = process(item(tmp_path, "a.png"))
    assert done == Processed(
        FileResult(
            str(tmp_path / "in" / "a.png"),
            None,
            Outcome.FAILED,
            error="replaced by a symbolic link since it settled: not followed",
        ),
        "replaced",
    )
    assert not (tmp_path / "out" / "a_f.png").exists()


def test_a_file_other_than_the_version_that_settled_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "in" / "a.png"
    picture(path)
    sig = signature(path)
    assert sig is not None
    done = process(item(tmp_path, "a.png", expect=sig._replace(size=sig.size + 1)))
    assert (done.disposed, done.result.error) == (
        "replaced",
        "replaced or written to since it settled",
    )
    assert path.is_file()


@dataclass(frozen=True)
class WriterStillAtWork:
    """The job's output is made, then the uploader appends to the input."""

    inner: object

    def __call__(self, task: Task) -> FileResult:
        result = self.inner(task)  # type: ignore[operator]
        with task.source.open("ab") as handle:
            handle.write(b"more")
        return result


def test_a_file_written_to_while_read_stays_and_its_failure_copy_goes(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(BAD)
    out = tmp_path / "out"
    done = process(
        item(tmp_path, "bad.png", job=WriterStillAtWork(FlipJob(output_dir=out, force=True)))
    )
    assert done.disposed == "changed" and done.result.outcome is Outcome.FAILED
    assert (tmp_path / "in" / "bad.png").read_bytes() == BAD + b"more"
    assert not (out / "failed" / "bad.png").exists()
    assert not (out / "failed" / "bad.png.error.txt").exists()


def test_a_converted_file_written_to_while_read_stays_with_its_output(tmp_path: Path) -> None:
    data = picture(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    done = process(
        item(tmp_path, "a.png", job=WriterStillAtWork(FlipJob(output_dir=out, force=True)))
    )
    assert done.disposed == "changed" and done.result.outcome is Outcome.CONVERTED
    assert (tmp_path / "in" / "a.png").read_bytes() == data + b"more"
    assert (out / "a_f.png").is_file()  # replaced when the file is done again


# -- durability ------------------------------------------------------------------------------------


def durable_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr(worker, "make_durable", calls.append)
    return calls


def test_fsync_makes_the_output_durable_before_disposal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = durable_calls(monkeypatch)
    picture(tmp_path / "in" / "a.png")
    process(item(tmp_path, "a.png", fsync=True))
    assert calls == [tmp_path / "out" / "a_f.png"]


def test_fsync_makes_a_failures_copy_and_its_reason_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = durable_calls(monkeypatch)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.png").write_bytes(BAD)
    process(item(tmp_path, "bad.png", fsync=True))
    failed = tmp_path / "out" / "failed"
    assert calls == [failed / "bad.png", failed / "bad.png.error.txt"]


def test_without_fsync_or_an_output_nothing_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = durable_calls(monkeypatch)
    picture(tmp_path / "in" / "a.png")
    process(item(tmp_path, "a.png", fsync=False))
    picture(tmp_path / "in" / "b.png")
    process(item(tmp_path, "b.png", fsync=True, job=NoCopy()))
    assert calls == []


# -- the destination -----------------------------------------------------------------------------


def test_the_outputs_folders_are_made(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "x" / "y" / "a.png")
    process(item(tmp_path, "x/y/a.png"))
    assert (tmp_path / "out" / "x" / "y" / "a_f.png").is_file()


def test_a_link_under_out_failed_is_refused_word_for_word(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "sub" / "a.png")
    (tmp_path / "out" / "failed").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "failed" / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LltdError) as caught:
        process(item(tmp_path, "sub/a.png"))
    assert str(caught.value) == f"refused: a link under {tmp_path / 'out' / 'failed' / 'sub'}"
    assert (tmp_path / "in" / "sub" / "a.png").is_file()


def test_an_output_folder_that_is_a_link_is_refused_word_for_word(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "sub" / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LltdError) as caught:
        process(item(tmp_path, "sub/a.png"))
    assert str(caught.value) == f"refused: {tmp_path / 'out' / 'sub'} is a link or not a folder"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_without_roots_no_folder_is_checked(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "sub" / "a.png")
    (tmp_path / "out" / "failed").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "failed" / "sub").symlink_to(tmp_path / "elsewhere")
    done = process(item(tmp_path, "sub/a.png", roots=False))
    assert done.result.outcome is Outcome.CONVERTED


# -- earlier attempts ---------------------------------------------------------------------------


def test_an_earlier_attempt_is_its_input_in_done_and_its_output_in_place(tmp_path: Path) -> None:
    path = tmp_path / "in" / "sub" / "a.png"
    picture(path)
    sig = signature(path)
    assert sig is not None
    work = item(tmp_path, "sub/a.png")
    process(work)
    assert earlier_attempt(work, sig) == FileResult(
        str(path), str(tmp_path / "out" / "sub" / "a_f.png"), Outcome.CONVERTED, sig.size
    )
    assert earlier_attempt(item(tmp_path, "sub/a.png", roots=False), sig) is not None
    other = sig._replace(size=sig.size + 1)
    assert earlier_attempt(work, other) is None  # another file of that name
    (tmp_path / "out" / "sub" / "a_f.png").unlink()
    assert earlier_attempt(work, sig) is None  # no output


def test_no_earlier_attempt_without_done_or_its_file(tmp_path: Path) -> None:
    path = tmp_path / "in" / "a.png"
    picture(path)
    sig = signature(path)
    assert sig is not None
    work = item(tmp_path, "a.png")
    assert earlier_attempt(work, sig) is None  # no done/ folder
    (tmp_path / "in" / ".lltd" / "done").mkdir(parents=True)
    assert earlier_attempt(work, sig) is None  # no file in it
    no_output = WorkItem(
        work.job,
        Task(work.task.source, work.task.relative),
        "move",
        work.state_dir,
        work.quarantine_dir,
    )
    os.rename(path, tmp_path / "in" / ".lltd" / "done" / "a.png")
    assert earlier_attempt(no_output, sig) is None  # no output name


# -- giving up -------------------------------------------------------------------------------------


def test_giving_up_fails_the_file_by_the_jobs_policy_and_moves_it(tmp_path: Path) -> None:
    data = picture(tmp_path / "in" / "a.png")
    done = give_up(item(tmp_path, "a.png"), "the worker died 3 times")
    assert done.result.outcome is Outcome.FAILED and done.result.error == "the worker died 3 times"
    assert (tmp_path / "out" / "failed" / "a.png").read_bytes() == data
    assert done.disposed == f"moved:{tmp_path / 'in' / '.lltd' / 'failed' / 'a.png'}"


def test_giving_up_syncs_the_copy_and_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = durable_calls(monkeypatch)
    picture(tmp_path / "in" / "a.png")
    give_up(item(tmp_path, "a.png", fsync=True), "why")
    failed = tmp_path / "out" / "failed"
    assert calls == [failed / "a.png", failed / "a.png.error.txt"]
    calls.clear()
    picture(tmp_path / "in" / "b.png")
    give_up(item(tmp_path, "b.png", fsync=False), "why")
    assert calls == []


def test_giving_up_on_a_vanished_file_says_the_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    assert give_up(item(tmp_path, "a.png"), "why") == Processed(
        FileResult(str(tmp_path / "in" / "a.png"), None, Outcome.FAILED, error="why"), "vanished"
    )


def test_giving_up_on_a_replaced_file_is_a_stale_error(tmp_path: Path) -> None:
    picture(tmp_path / "target.png")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").symlink_to(tmp_path / "target.png")
    with pytest.raises(OSError) as caught:
        give_up(item(tmp_path, "a.png"), "why")
    assert caught.value.errno == errno.ESTALE
    assert caught.value.strerror == "replaced by a symbolic link since it settled: not followed"


# -- names ---------------------------------------------------------------------------------------


def test_unique_names_count_up_from_1_before_the_suffix(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert unique_name(fd, "a.tar.png") == "a.tar.png"
        for name in ("a.tar.png", "a.tar.1.png", "a.tar.2.png"):
            (tmp_path / name).write_bytes(b"")
        assert unique_name(fd, "a.tar.png") == "a.tar.3.png"
        (tmp_path / "b").symlink_to(tmp_path / "missing")  # a dangling link takes its name
        assert unique_name(fd, "b") == "b.1"
    finally:
        os.close(fd)


def test_dispose_keeps_whatever_the_outcome(tmp_path: Path) -> None:
    work = item(tmp_path, "a.png", "keep")
    failed = FileResult("a", None, Outcome.FAILED, error="x")
    assert dispose(work, failed, None) == "kept"  # type: ignore[arg-type]


def test_a_work_item_syncs_by_default_and_knows_no_roots_version_or_identity(
    tmp_path: Path,
) -> None:
    import dataclasses

    bare = WorkItem(
        FlipJob(output_dir=tmp_path), Task(tmp_path / "a.png", Path("a.png")), "move",
        tmp_path / ".lltd", tmp_path / "failed",
    )  # fmt: skip
    assert bare.fsync is True
    assert (bare.input_root, bare.output_root, bare.expect, bare.root_identity) == (None,) * 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.fsync = False  # type: ignore[misc]
    done = Processed(FileResult("a", None, Outcome.FAILED), "kept")
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.disposed = "deleted"  # type: ignore[misc]


def test_a_link_in_done_is_no_earlier_attempt_whatever_it_points_to(tmp_path: Path) -> None:
    path = tmp_path / "in" / "a.png"
    picture(path)
    sig = signature(path)
    assert sig is not None
    work = item(tmp_path, "a.png")
    picture(tmp_path / "out" / "a_f.png")
    done = tmp_path / "in" / ".lltd" / "done"
    done.mkdir(parents=True)
    os.rename(path, tmp_path / "kept.png")  # the very file (a rename keeps its identity)...
    (done / "a.png").symlink_to(tmp_path / "kept.png")  # ...behind a link: not followed
    assert earlier_attempt(work, sig) is None
