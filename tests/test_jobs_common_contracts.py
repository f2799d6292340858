"""``lltd.jobs.common`` in-process on real folders (issue 27): an input opened once beneath its
tree with each refusal word for word, its record (name, size, SHA-256) and bytes when small, the
one quarantine (a copy marked as ours, the reason file's one line, what it may replace), and the
jobs' shared declarations: where outputs and failures go, an earlier run's intact output
reused unless forced, and each early failure settled with the right copy."""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from lltd.batch.marks import Source, read_mark, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.common.errors import ImageError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.fs import seam
from lltd.fs.identity import Version
from lltd.fs.tree import Folder
from lltd.jobs.common import (
    FAILED,
    Begun,
    Declared,
    file_size,
    open_task_input,
    output_place,
    own_version,
    quarantine,
    read_input,
    read_source,
    reader_path,
    stamper,
)

DATA = b"the input's bytes"
NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="only root gives a file to another user")
DIGEST = hashlib.sha256(DATA).hexdigest()


def put(path: Path, data: bytes = DATA) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def task_of(root: Path, relative: str, **fields: object) -> Task:
    return Task(root / relative, Path(relative), **fields)  # type: ignore[arg-type]


def refusal(task: Task) -> str:
    with pytest.raises(ImageError) as refused:
        open_task_input(task)
    return str(refused.value)


def test_a_files_size_or_zero_when_it_cannot_be_read(tmp_path: Path) -> None:
    assert file_size(put(tmp_path / "a.png")) == len(DATA)
    assert file_size(tmp_path / "gone.png") == 0
    assert FAILED == "failed"


def test_an_input_is_opened_beneath_its_tree_and_anything_else_refused(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "sub" / "a.png")
    with open_task_input(task_of(root, "sub/a.png")) as opened:
        assert os.read(opened.fd, 100) == DATA
    os.mkfifo(root / "fifo.png")
    (root / "dir.png").mkdir()
    (root / "link.png").symlink_to(root / "sub" / "a.png")
    (root / "linked").symlink_to(root / "sub")
    assert refusal(task_of(root, "fifo.png")) == "not a regular file"
    assert refusal(task_of(root, "dir.png")) == "not a regular file"
    assert refusal(task_of(root, "link.png")) == (
        "a symbolic link or outside its folder: not followed"
    )
    assert refusal(task_of(root, "gone.png")) == "cannot read: No such file or directory"
    assert refusal(task_of(root, "linked/a.png")) == "cannot read: Not a directory"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.EINVAL, "Invalid argument"), "not a regular file"),
        (OSError(errno.EIO, "Input/output error"), "cannot read: Input/output error"),
        (OSError("no errno"), "cannot read: no errno"),
    ],
)
def test_an_error_opening_the_input_is_the_files_reason(
    error: OSError, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EINVAL (what some file systems answer for a node that cannot be opened as a file) is
    "not a regular file"; any other error is "cannot read", in the system's words."""
    root = tmp_path / "in"
    put(root / "a.png")

    def hook(step: str, folder_fd: int, name: str) -> None:
        if step == "open":
            raise error

    monkeypatch.setattr(seam, "_hook", hook)
    monkeypatch.setattr(seam, "_loaded", True)
    assert refusal(task_of(root, "a.png")) == reason


def test_an_input_its_host_opened_already_is_duplicated_not_reopened(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "a.png")
    with open_task_input(task_of(root, "a.png")) as first:
        (root / "a.png").unlink()  # the name is gone; the open file is not
        task = task_of(root, "a.png", opened=first)
        with open_task_input(task) as second:
            assert second.fd != first.fd
            assert second.version == first.version
            assert os.pread(second.fd, 100, 0) == DATA
        os.fstat(first.fd)  # still open: the duplicate closed on its own


def test_an_inputs_record_names_it_by_its_relative_path(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "sub" / "a.png")
    task = task_of(root, "sub/a.png")
    source = read_source(task)
    st = (root / "sub" / "a.png").stat()
    assert source == Source("sub/a.png", len(DATA), st.st_mtime_ns, DIGEST)
    assert read_input(task) == (source, None)
    assert read_input(task, keep=len(DATA)) == (source, DATA)
    assert read_input(task, keep=len(DATA) - 1) == (source, None)
    one = task_of(root, "one.png")
    put(root / "one.png", b"x")
    assert read_input(one)[1] is None  # by default the bytes are not kept, however few


def test_the_stamper_records_the_source_on_an_output(tmp_path: Path) -> None:
    assert stamper("flip", None) is None
    source = Source("a.png", 3, 4, "0" * 64)
    output = put(tmp_path / "a_f.png", b"output")
    hook = stamper("flip", source)
    assert hook is not None
    hook(output)
    mark = read_mark(output)
    assert mark is not None
    assert (mark.command, mark.source, mark.output_size) == ("flip", source, 6)
    assert mark.output_sha256 == hashlib.sha256(b"output").hexdigest()


def test_a_decoder_reads_the_input_through_its_own_descriptor(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "a.png")
    with open_task_input(task_of(root, "a.png")) as opened:
        path = reader_path(opened, tmp_path / "fallback")
        assert path == Path(f"/proc/{os.getpid()}/fd/{opened.fd}")
        assert path.read_bytes() == DATA


def test_without_proc_a_decoder_gets_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lltd.jobs.common as common

    root = tmp_path / "in"
    put(root / "a.png")
    monkeypatch.setattr(common, "by_name_fd", lambda fd: None)
    with open_task_input(task_of(root, "a.png")) as opened:
        assert reader_path(opened, tmp_path / "fallback") == tmp_path / "fallback"


def test_a_begun_input_is_not_done_unless_told(tmp_path: Path) -> None:
    begun = Begun(Source("a", 1, 2, "3"), None, None)  # type: ignore[arg-type]
    assert begun.done is None


def reason_of(path: Path) -> str:
    return path.with_name(path.name + ".error.txt").read_text()


def test_quarantine_copies_the_input_and_writes_its_reason(tmp_path: Path) -> None:
    root, failed = tmp_path / "in", tmp_path / "out" / "failed"
    source = put(root / "sub" / "a.png")
    result = quarantine(task_of(root, "sub/a.png"), failed, "not an image", command="defend")
    copy = failed / "sub" / "a.png"
    assert result == FileResult(
        str(source), str(copy), Outcome.FAILED, len(DATA), len(DATA), error="not an image"
    )
    assert copy.read_bytes() == DATA
    assert reason_of(copy) == f"{source}: not an image\n"
    mark = read_mark(copy)  # a copy of ours: --c may remove it; never taken for an input
    assert mark is not None and mark.command == "defend"
    assert mark.source.name == "sub/a.png" and mark.source.sha256 == DIGEST


def test_quarantine_without_a_command_leaves_the_copy_unmarked(tmp_path: Path) -> None:
    root, failed = tmp_path / "in", tmp_path / "failed"
    put(root / "a.png")
    quarantine(task_of(root, "a.png"), failed, "why")
    assert (failed / "a.png").read_bytes() == DATA
    assert read_mark(failed / "a.png") is None


def test_quarantine_names_the_input_as_its_owner_named_it_on_one_line(tmp_path: Path) -> None:
    root, failed = tmp_path / "claims", tmp_path / "failed"
    put(root / "a.png")
    task = task_of(root, "a.png", display=Path("/drop/in/a.png"))
    quarantine(task, failed, "bad\nthing", command="compress")
    assert reason_of(failed / "a.png") == "/drop/in/a.png: bad\\nthing\n"


def test_quarantine_without_reason_file_or_copy(tmp_path: Path) -> None:
    root = tmp_path / "in"
    source = put(root / "a.png")
    result = quarantine(task_of(root, "a.png"), tmp_path / "f1", "why", with_reason_file=False)
    assert (tmp_path / "f1" / "a.png").read_bytes() == DATA
    assert not (tmp_path / "f1" / "a.png.error.txt").exists()
    assert result.output == str(tmp_path / "f1" / "a.png")
    result = quarantine(task_of(root, "a.png"), tmp_path / "f2", "too big", copy=False)
    assert result == FileResult(str(source), None, Outcome.FAILED, len(DATA), 0, error="too big")
    assert sorted(p.name for p in (tmp_path / "f2").iterdir()) == ["a.png.error.txt"]


def test_quarantine_of_an_unreadable_input_still_reports_and_gives_its_reason(
    tmp_path: Path,
) -> None:
    root, failed = tmp_path / "in", tmp_path / "failed"
    root.mkdir()
    os.mkfifo(root / "pipe.png")
    result = quarantine(task_of(root, "pipe.png"), failed, "not a regular file", command="flip")
    assert result == FileResult(
        str(root / "pipe.png"), None, Outcome.FAILED, 0, 0, error="not a regular file"
    )
    assert sorted(p.name for p in failed.iterdir()) == ["pipe.png.error.txt"]


def test_quarantine_copies_from_the_descriptor_given_and_leaves_it_open(tmp_path: Path) -> None:
    root, failed = tmp_path / "in", tmp_path / "failed"
    put(root / "a.png")
    with open_task_input(task_of(root, "a.png")) as opened:
        put(root / "new.png", b"replaced since").rename(root / "a.png")
        result = quarantine(task_of(root, "a.png"), failed, "why", opened=opened)
        os.fstat(opened.fd)
    assert (failed / "a.png").read_bytes() == DATA
    assert (result.bytes_before, result.bytes_after) == (len(DATA), len(DATA))


def test_quarantine_replaces_its_own_earlier_copy(tmp_path: Path) -> None:
    root, failed = tmp_path / "in", tmp_path / "failed"
    put(root / "a.png")
    put(failed / "a.png", b"an earlier run's copy")
    put(failed / "a.png.error.txt", b"an earlier reason")
    result = quarantine(task_of(root, "a.png"), failed, "why")
    assert (failed / "a.png").read_bytes() == DATA
    assert reason_of(failed / "a.png") == f"{root / 'a.png'}: why\n"
    assert result.output == str(failed / "a.png")


@NEEDS_ROOT
def test_quarantine_replaces_no_other_users_file(tmp_path: Path) -> None:
    root, failed = tmp_path / "in", tmp_path / "failed"
    theirs = put(failed / "b.png", b"another user's")
    os.chown(theirs, 12345, 12345)
    put(root / "b.png")
    result = quarantine(task_of(root, "b.png"), failed, "why")
    assert theirs.read_bytes() == b"another user's"
    assert result.output is None and result.bytes_after == 0


def test_quarantine_beneath_an_output_tree_by_descriptor(tmp_path: Path) -> None:
    root, out = tmp_path / "in", tmp_path / "out"
    put(root / "sub" / "a.png")
    out.mkdir()
    result = quarantine(task_of(root, "sub/a.png"), out / FAILED, "why", root=out)
    assert (out / "failed" / "sub" / "a.png").read_bytes() == DATA
    assert result.output == str(out / "failed" / "sub" / "a.png")


def test_own_version_is_a_regular_file_of_ours_and_nothing_else(tmp_path: Path) -> None:
    mine = put(tmp_path / "mine")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(mine)
    with Folder.open(tmp_path) as folder:
        assert own_version(folder, "mine") == Version.of(mine.stat())
        for name in ("dir", "link", "gone"):
            assert own_version(folder, name) is False


@NEEDS_ROOT
def test_own_version_of_another_users_file_is_none(tmp_path: Path) -> None:
    theirs = put(tmp_path / "theirs")
    os.chown(theirs, 12345, 12345)
    with Folder.open(tmp_path) as folder:
        assert own_version(folder, "theirs") is False


def test_output_place_closes_only_a_folder_it_opened(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with output_place(tmp_path / "out" / "new" / "a.webp", tmp_path / "out") as (folder, name):
        assert name == "a.webp"
        assert Path(f"/proc/self/fd/{folder.fd}").resolve() == tmp_path / "out" / "new"
        fd = folder.fd
    with pytest.raises(OSError):
        os.fstat(fd)
    with (
        pytest.raises(FileNotFoundError),
        output_place(tmp_path / "out" / "other" / "a.webp", tmp_path / "out", create=False),
    ):
        pass
    assert not (tmp_path / "out" / "other").exists()


@dataclass(frozen=True)
class Copy(Declared):
    """The least job: ``x.png`` becomes ``x.out``."""

    output_dir: Path | None = None
    command: str = "compress"
    force: bool = False
    max_bytes: int | None = DEFAULT_MAX_BYTES

    def output_name(self, relative: PurePosixPath) -> PurePosixPath:
        return relative.with_suffix(".out")


def test_the_declared_defaults() -> None:
    assert Declared.max_bytes == DEFAULT_MAX_BYTES
    assert Copy().in_place and not Copy(Path("/o")).in_place
    assert Copy().consumes_input is False
    with pytest.raises(NotImplementedError):
        Declared().output_name(PurePosixPath("a.png"))


def test_outputs_go_to_the_output_tree_or_beside_the_input(tmp_path: Path) -> None:
    root = tmp_path / "in"
    task = task_of(root, "sub/a.png")
    apart = Copy(tmp_path / "out")
    assert apart.output_root(root) == tmp_path / "out"
    assert apart.output_for(task) == tmp_path / "out" / "sub" / "a.out"
    assert apart.tree_root(task) == tmp_path / "out"
    assert apart.quarantine_dir == tmp_path / "out" / "failed"
    here = Copy()
    assert here.output_root(root) == root
    assert here.output_for(task) == root / "sub" / "a.out"
    assert here.tree_root(task) == root
    assert here.quarantine_dir is None


class Consuming(Copy):
    @property
    def in_place(self) -> bool:  # a job that says it works in place yet names a folder
        return True


def test_a_job_in_place_ignores_its_output_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    job = Consuming(tmp_path / "out")
    assert job.output_root(root) == root
    assert job.output_for(task_of(root, "sub/a.png")) == root / "sub" / "a.out"
    assert job.quarantine_dir is None


def earlier_output(job: Copy, task: Task, data: bytes = b"converted") -> Path:
    output = job.output_for(task)
    put(output, data)
    stamp(output, job.command, read_source(task))
    return output


def test_an_intact_output_of_this_very_input_is_done(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "a.png")
    job, task = Copy(tmp_path / "out"), task_of(root, "a.png")
    output = job.output_for(task)
    assert job.is_done(task, output) is False  # not there
    put(output, b"someone's")
    assert job.is_done(task, output) is False  # not ours
    earlier_output(job, task)
    assert job.is_done(task, output) is True
    assert job.earlier_output(task, output, read_source(task)) == Version.of(output.stat())
    assert Copy(tmp_path / "out", command="flip").is_done(task, output) is False
    assert Copy(tmp_path / "out", max_bytes=len(DATA) - 1).is_done(task, output) is False
    assert Copy(tmp_path / "out", max_bytes=len(DATA)).is_done(task, output) is True
    output.write_bytes(b"changed since")  # no longer intact
    assert job.is_done(task, output) is False
    elsewhere = task_of(root, "a.png")
    assert job.is_done(elsewhere, tmp_path / "out" / "new" / "a.out") is False
    assert not (tmp_path / "out" / "new").exists()  # asking makes no folder


def test_an_input_gone_or_an_output_through_a_link_is_not_done(tmp_path: Path) -> None:
    root = tmp_path / "in"
    put(root / "a.png")
    job, task = Copy(tmp_path / "out"), task_of(root, "a.png")
    output = earlier_output(job, task)
    elsewhere = tmp_path / "elsewhere.out"
    output.rename(elsewhere)
    output.symlink_to(elsewhere)
    assert job.is_done(task, output) is False
    assert job.earlier_output(task, output, read_source(task)) is None
    output.unlink()
    elsewhere.rename(output)
    (root / "a.png").unlink()
    assert job.is_done(task, output) is False


def test_begin_reads_the_input_and_finds_an_earlier_output(tmp_path: Path) -> None:
    root = tmp_path / "in"
    source_path = put(root / "a.png")
    job, task = Copy(tmp_path / "out"), task_of(root, "a.png")
    output = job.output_for(task)
    begun = job.begin(task, output)
    assert isinstance(begun, Begun)
    with begun.input:
        assert (begun.source, begun.data, begun.done) == (read_source(task), None, None)
    begun = job.begin_reading(task, output, keep=len(DATA))
    assert isinstance(begun, Begun)
    begun.input.close()
    assert begun.data == DATA
    earlier_output(job, task, b"12345")
    begun = job.begin_reading(task, output)
    assert isinstance(begun, Begun)
    begun.input.close()
    assert begun.done == FileResult(
        str(source_path), str(output), Outcome.ALREADY_DONE, len(DATA), 5
    )
    put(root / "one.png", b"x")
    one = job.begin_reading(task_of(root, "one.png"), tmp_path / "out" / "one.out")
    assert isinstance(one, Begun)
    one.input.close()
    assert one.data is None  # by default the bytes are not kept, however few
    forced = Copy(tmp_path / "out", force=True).begin_reading(task, output)
    assert isinstance(forced, Begun)
    forced.input.close()
    assert forced.done is None


def test_an_input_that_cannot_be_opened_is_failed_and_quarantined(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    os.mkfifo(root / "pipe.png")
    job, task = Copy(tmp_path / "out"), task_of(root, "pipe.png")
    result = job.begin_reading(task, job.output_for(task))
    assert result == FileResult(
        str(root / "pipe.png"), None, Outcome.FAILED, 0, 0, error="not a regular file"
    )
    assert reason_of(tmp_path / "out" / "failed" / "pipe.png") == (
        f"{root / 'pipe.png'}: not a regular file\n"
    )


def test_an_input_over_max_bytes_is_failed_without_a_copy(tmp_path: Path) -> None:
    root = tmp_path / "in"
    source = put(root / "a.png")
    job, task = Copy(tmp_path / "out", max_bytes=4), task_of(root, "a.png")
    result = job.begin_reading(task, job.output_for(task))
    reason = f"{len(DATA)} bytes, more than --max-bytes (4)"
    assert result == FileResult(str(source), None, Outcome.FAILED, len(DATA), 0, error=reason)
    assert sorted(p.name for p in (tmp_path / "out" / "failed").iterdir()) == ["a.png.error.txt"]


def test_an_input_that_cannot_be_read_is_failed_with_the_reason_and_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read error (EIO) is the file's failure in its own words, with its reason file: the
    quarantine's copy is best effort (it once let the second read's error escape, and the
    file was reported as an internal error with no reason file)."""
    import errno

    root = tmp_path / "in"
    source = put(root / "a.png")

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Source, "of_input", broken)
    job, task = Copy(tmp_path / "out"), task_of(root, "a.png")
    result = job.begin_reading(task, job.output_for(task))
    reason = "cannot read: Input/output error"
    assert result == FileResult(str(source), None, Outcome.FAILED, len(DATA), 0, error=reason)
    failed = tmp_path / "out" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["a.png.error.txt"]
    assert reason_of(failed / "a.png") == f"{source}: {reason}\n"
    assert source.read_bytes() == DATA


def test_writing_publishes_in_the_output_tree_replacing_only_what_was_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = tmp_path / "in", tmp_path / "out"
    put(root / "a.png")
    out.mkdir()
    job = Copy(out)
    task = task_of(root, "sub/a.png")
    output = job.output_for(task)
    with job.writing(task, output) as target:
        target.write(b"new output")
    assert output.read_bytes() == b"new output"
    planned_free = task_of(root, "sub/a.png", replaces=False)
    with pytest.raises(Exception), job.writing(planned_free, output) as target:  # noqa: B017
        target.write(b"would overwrite a file that took the name")
    assert output.read_bytes() == b"new output"
    marked: list[Path] = []
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    with job.writing(task, output) as target:
        target.write(b"not synced")
    assert synced == []  # a batch output is not fsync'd unless asked (--r asks)
    with job.writing(task, output, marked.append, durable=True) as target:
        target.write(b"newer")
    assert output.read_bytes() == b"newer" and len(marked) == 1
    assert len(synced) == 2  # the file, then its folder: it outlives a power cut


def test_fail_in_place_reports_without_a_copy(tmp_path: Path) -> None:
    root = tmp_path / "in"
    source = put(root / "a.png")
    job, task = Copy(), task_of(root, "a.png")
    assert job.fail(task, "why", "compress") == FileResult(
        str(source), None, Outcome.FAILED, len(DATA), error="why"
    )
    with open_task_input(task) as opened:
        put(source, b"longer than it was when opened")
        assert job.fail(task, "why", "compress", opened).bytes_before == len(DATA)
    assert sorted(p.name for p in root.iterdir()) == ["a.png"]


def test_fail_with_a_failed_folder_copies_and_marks_and_reason_files_can_be_off(
    tmp_path: Path,
) -> None:
    root = tmp_path / "in"
    put(root / "a.png")
    job, task = Copy(tmp_path / "out"), task_of(root, "a.png")
    result = job.fail(task, "why", "flip")
    copy = tmp_path / "out" / "failed" / "a.png"
    assert result.output == str(copy) and reason_of(copy) == f"{root / 'a.png'}: why\n"
    mark = read_mark(copy)
    assert mark is not None and mark.command == "flip"

    @dataclass(frozen=True)
    class Quiet(Copy):
        reason_files: bool = False

    quiet = Quiet(tmp_path / "out2")
    quiet.fail(task, "why", "compress")
    assert sorted(p.name for p in (tmp_path / "out2" / "failed").iterdir()) == ["a.png"]
    quiet.fail(task, "too big", "compress", copy=False)
    assert sorted(p.name for p in (tmp_path / "out2" / "failed").iterdir()) == ["a.png"]
