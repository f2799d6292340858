"""``lltd.batch.prepare`` in-process on real folders (issue 27): ``-o`` and ``--json`` refused
before anything is written, each refusal word for word; a real run's folders made, locked and
cleared of a killed run's temporaries, a dry run's not; and the dry run's lines and counts for
each kind of file, with the verb of its command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import picture, released_locks  # noqa: F401 (the fixture: locks released)

from lltd.batch import prepare
from lltd.batch.marks import stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun
from lltd.batch.prepare import (
    VERBS,
    check_json_destination,
    check_output_root,
    plan_local_run,
    print_dry_run,
    would_fail,
)
from lltd.batch.scan import Task
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.common import read_source
from lltd.jobs.settings import compress_job, flip_job


def refusal(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def test_the_verbs_of_the_dry_run() -> None:
    assert VERBS == {"compress": "convert", "flip": "flip", "defend": "defend"}


def test_o_naming_a_file_or_a_link_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    file = picture(tmp_path / "a.png")
    assert refusal(check_output_root, file) == f"-o {file} exists and is not a folder"
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert refusal(check_output_root, tmp_path / "dangling") == (
        f"-o {tmp_path / 'dangling'} exists and is not a folder"
    )
    (tmp_path / "to_file").symlink_to(file)
    assert refusal(check_output_root, tmp_path / "to_file") == (
        f"-o {tmp_path / 'to_file'} exists and is not a folder"
    )


def test_o_below_a_file_cannot_be_written(tmp_path: Path) -> None:
    file = picture(tmp_path / "a.png")
    assert refusal(check_output_root, file / "x" / "y") == (
        f"cannot write to {file / 'x' / 'y'}: permission denied"
    )


def test_o_that_exists_or_can_be_made_is_taken(tmp_path: Path) -> None:
    (tmp_path / "to_dir").symlink_to(tmp_path)
    for folder in (tmp_path, tmp_path / "new" / "deeper", tmp_path / "to_dir"):
        assert check_output_root(folder) is None
    assert not (tmp_path / "new").exists()


def test_o_where_the_nearest_existing_folder_is_not_writable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite runs as root, who may write anywhere: ``os.access`` answers here as it does
    for a user without the write or the search bit on the nearest existing folder."""
    for denied in (os.W_OK, os.X_OK):
        asked: list[tuple[str, int]] = []

        def access(path: object, mode: int, denied: int = denied, asked: list = asked) -> bool:
            asked.append((os.fspath(path), mode))  # type: ignore[arg-type]
            return not mode & denied

        monkeypatch.setattr(os, "access", access)
        assert refusal(check_output_root, tmp_path / "new" / "out") == (
            f"cannot write to {tmp_path / 'new' / 'out'}: permission denied"
        )
        assert asked == [(str(tmp_path), os.W_OK | os.X_OK)]


def test_a_real_run_makes_and_locks_its_folders_and_clears_old_temporaries(
    tmp_path: Path,
) -> None:
    picture(tmp_path / "in" / "a.png")
    out = tmp_path / "new" / "out"
    job = compress_job(out, EncodeOptions(quality=60))
    out.mkdir(parents=True)
    stale = out / ".a.webp.123.lltd-tmp"
    stale.write_bytes(b"a killed run's temporary")
    run = plan_local_run(tmp_path / "in", job)
    assert not stale.exists()
    assert run.command == "compress"
    assert [(t.relative.as_posix(), t.output) for t in run.tasks] == [("a.png", out / "a.webp")]
    message = f"another lltd run is using {out}; wait for it to finish"
    assert refusal(plan_local_run, tmp_path / "in", job) == message
    # The input is locked too: another run writing beside it must wait.
    other = compress_job(tmp_path / "other", EncodeOptions(quality=60), replace=True)
    assert "another lltd run is using" in refusal(plan_local_run, tmp_path / "in", other)


def test_a_real_run_makes_a_missing_output_folder(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    out = tmp_path / "new" / "out"
    plan_local_run(tmp_path / "in", compress_job(out, EncodeOptions(quality=60)))
    assert out.is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="another user is refused /proc as not writable")
def test_an_output_folder_that_cannot_be_made_is_one_usage_error(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    out = Path("/proc/lltd-test-prepare-contracts")  # a folder nobody can make, root included
    assert refusal(plan_local_run, tmp_path / "in", compress_job(out, EncodeOptions())) == (
        f"cannot create {out}: No such file or directory"
    )


def test_a_real_run_with_clean_empties_the_output_folder_first(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    picture(out / "old" / "x.webp")
    run = plan_local_run(tmp_path / "in", compress_job(out, EncodeOptions()), clean=True)
    assert [t.output for t in run.tasks] == [out / "a.webp"]
    assert list(out.iterdir()) == []


def test_an_in_place_run_locks_its_folder_once(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    run = plan_local_run(tmp_path / "in", flip_job(None))
    assert [t.output for t in run.tasks] == [tmp_path / "in" / "a_f.png"]
    assert "another lltd run is using" in refusal(plan_local_run, tmp_path / "in", flip_job(None))


def test_a_dry_run_makes_locks_and_clears_nothing(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    job = compress_job(out / "deeper", EncodeOptions(quality=60))
    out.mkdir()
    stale = out / "deeper"
    run = plan_local_run(tmp_path / "in", job, dry_run=True)
    assert [t.output for t in run.tasks] == [out / "deeper" / "a.webp"]
    assert not stale.exists()
    plan_local_run(tmp_path / "in", job, dry_run=True)  # nothing locked
    (out / "deeper").mkdir()
    temporary = out / "deeper" / ".a.webp.1.lltd-tmp"
    temporary.write_bytes(b"kept by a dry run")
    plan_local_run(tmp_path / "in", job, dry_run=True)
    assert temporary.exists()


def test_a_dry_run_with_clean_plans_over_an_emptied_folder(tmp_path: Path) -> None:
    source = picture(tmp_path / "in" / "a.png")
    album = tmp_path / "in" / "album"  # inside the input: an unrecorded file there is kept
    job = compress_job(album, EncodeOptions(quality=60))
    album.mkdir()
    (album / "a.webp").write_bytes(b"someone's own")
    assert [t.output for t in plan_local_run(source.parent, job, dry_run=True).tasks] == [
        album / "a.png.webp"
    ]
    assert [
        t.output for t in plan_local_run(source.parent, job, dry_run=True, clean=True).tasks
    ] == [album / "a.webp"]
    assert (album / "a.webp").read_bytes() == b"someone's own"


def test_clean_refuses_an_output_holding_the_input_before_anything_is_made(
    tmp_path: Path,
) -> None:
    picture(tmp_path / "in" / "a.png")
    job = compress_job(tmp_path, EncodeOptions(quality=60))
    assert refusal(plan_local_run, tmp_path / "in", job, clean=True) == (
        f"--c refuses to delete {tmp_path}: it is or contains the input folder {tmp_path / 'in'}"
    )
    assert refusal(plan_local_run, tmp_path / "in", job, clean=True, dry_run=True).startswith(
        "--c refuses to delete"
    )
    # Without --c an output holding the input is a plan like any other (the input is left out).
    assert plan_local_run(tmp_path / "in", job, dry_run=True).tasks


def test_the_output_equal_to_the_input_is_refused(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    job = compress_job(tmp_path / "in", EncodeOptions(quality=60))
    assert refusal(plan_local_run, tmp_path / "in", job).startswith(
        f"the output folder is the input folder {tmp_path / 'in'}"
    )


def test_o_a_file_is_refused_before_a_run_or_a_dry_run(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    file = picture(tmp_path / "file.png")
    job = compress_job(file, EncodeOptions(quality=60))
    for dry_run in (False, True):
        assert refusal(plan_local_run, tmp_path / "in", job, dry_run=dry_run) == (
            f"-o {file} exists and is not a folder"
        )


def test_names_matching_are_settled_before_the_run(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "skip_me.png")
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60))
    for dry_run in (False, True):
        prepare._HELD.close()
        run = plan_local_run(tmp_path / "in", job, dry_run=dry_run, ignore_filename_match="skip")
        assert [t.relative.as_posix() for t in run.tasks] == ["a.png"]
        assert [(Path(r.input).name, r.outcome) for r in run.presettled] == [
            ("skip_me.png", Outcome.NAME_MATCH)
        ]


def test_a_relative_root_is_planned_from_where_it_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture(tmp_path / "in" / "a.png")
    monkeypatch.chdir(tmp_path)
    run = plan_local_run(Path("in"), flip_job(Path("out")), dry_run=True)
    assert [(t.source, t.output) for t in run.tasks] == [
        (tmp_path / "in" / "a.png", tmp_path / "out" / "a_f.png")
    ]


def planned(tmp_path: Path, **fields: object) -> BatchRun:
    picture(tmp_path / "in" / "a.png")
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60))
    run = plan_local_run(tmp_path / "in", job, dry_run=True)
    for name, value in fields.items():
        setattr(run, name, value)
    return run


def test_json_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    run = planned(tmp_path)
    report = tmp_path / "typo" / "r.json"
    assert refusal(check_json_destination, report, run) == (
        f"--json: the folder {tmp_path / 'typo'} does not exist"
    )


def test_json_onto_a_link_or_a_folder_is_refused(tmp_path: Path) -> None:
    run = planned(tmp_path)
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    assert refusal(check_json_destination, tmp_path / "link.json", run) == (
        f"--json: refusing to write {tmp_path / 'link.json'}: it exists and is a symbolic link"
    )
    (tmp_path / "dir.json").mkdir()
    assert refusal(check_json_destination, tmp_path / "dir.json", run) == (
        f"--json: refusing to write {tmp_path / 'dir.json'}: it exists and is a folder"
    )


def test_json_onto_a_file_of_this_run_is_refused(tmp_path: Path) -> None:
    run = planned(tmp_path)
    (tmp_path / "out").mkdir()
    message = "--json {} is an image of this run; choose another name"
    source = tmp_path / "in" / "a.png"
    assert refusal(check_json_destination, source, run) == message.format(source)
    output = tmp_path / "out" / "a.webp"
    assert refusal(check_json_destination, output, run) == message.format(output)
    (tmp_path / "via").symlink_to(tmp_path / "in")
    assert refusal(check_json_destination, tmp_path / "via" / "a.png", run) == message.format(
        tmp_path / "via" / "a.png"
    )


def test_json_onto_a_settled_input_is_refused_but_a_storage_one_is_no_path(
    tmp_path: Path,
) -> None:
    skipped = picture(tmp_path / "skipped.png")
    run = planned(tmp_path)
    run.presettled = [
        FileResult(str(skipped), None, Outcome.NAME_MATCH),
        FileResult("s3://bucket/x.png", None, Outcome.NAME_MATCH),
    ]
    assert refusal(check_json_destination, skipped, run) == (
        f"--json {skipped} is an image of this run; choose another name"
    )
    assert check_json_destination(tmp_path / "report.json", run) is None


def test_a_storage_url_settled_names_no_local_file_even_one_spelt_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = planned(tmp_path)
    run.presettled = [FileResult("s3://bucket/x.png", None, Outcome.NAME_MATCH)]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s3:" / "bucket").mkdir(parents=True)
    # Path("s3://bucket/x.png") would be s3:/bucket/x.png here: a local name, not that URL.
    assert check_json_destination(Path("s3:/bucket/x.png"), run) is None


def test_json_onto_an_existing_image_in_the_input_tree_is_refused(tmp_path: Path) -> None:
    run = planned(tmp_path)
    assert run.report_extra["input"] == str(tmp_path / "in")
    other = picture(tmp_path / "in" / "sub" / "b.WEBP")  # compress does not take it: no task
    assert refusal(check_json_destination, other, run) == (
        f"--json {other} is an image of this run; choose another name"
    )
    # Not there yet, not an image, or outside the tree: a report may go there.
    for path in (tmp_path / "in" / "new.png", tmp_path / "in" / "report.json"):
        assert check_json_destination(path, run) is None
    beside = picture(tmp_path / "beside.png")
    assert check_json_destination(beside, run) is None
    run.report_extra["input"] = "s3://bucket/in"
    assert check_json_destination(other, run) is None
    run.report_extra["input"] = None
    assert check_json_destination(other, run) is None


def test_json_given_relative_is_judged_where_it_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = planned(tmp_path)
    monkeypatch.chdir(tmp_path / "in")
    assert refusal(check_json_destination, Path("a.png"), run) == (
        f"--json {tmp_path / 'in' / 'a.png'} is an image of this run; choose another name"
    )
    assert check_json_destination(Path("report.json"), run) is None


def test_would_fail_decodes_the_pixels_within_the_jobs_limit(tmp_path: Path) -> None:
    good = picture(tmp_path / "a.png")
    data = good.read_bytes()
    truncated = tmp_path / "t.png"
    truncated.write_bytes(data[: len(data) // 2])
    assert would_fail(good, flip_job(None)) is None
    assert would_fail(good, object()) is None  # no limit declared
    assert would_fail(truncated, flip_job(None)) is not None
    assert would_fail(good, flip_job(None, max_pixels=11)) == (
        "4x3 = 12 pixels exceeds the limit of 11 (--max-pixels)"
    )


def lines(capsys: pytest.CaptureFixture[str], run: BatchRun) -> list[str]:
    print_dry_run(run)
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_a_dry_run_says_what_would_happen_to_each_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    i, o = tmp_path / "in", tmp_path / "out"
    for name, colour in (("a", (9, 9, 9)), ("b", (1, 2, 3)), ("d", (4, 5, 6)), ("e", (7, 8, 9))):
        picture(i / f"{name}.png", colour)
    (i / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    job = compress_job(o, EncodeOptions(quality=60))
    for name in ("b.png", "e.png"):
        task = Task(i / name, Path(name))
        done = job.output_for(task)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_bytes(b"an earlier output")
        stamp(done, "compress", read_source(task))
    run = plan_local_run(i, job, dry_run=True)
    run.presettled = [
        FileResult("/x/skip.png", None, Outcome.NAME_MATCH),
        FileResult("/x/pipe.png", None, Outcome.FAILED, error="not a regular file"),
        FileResult("/x/odd.png", None, Outcome.FAILED),
        FileResult("/x/skip2.png", None, Outcome.NAME_MATCH),
    ]
    assert lines(capsys, run) == [
        "skip (name matches): /x/skip.png",
        "would fail: /x/pipe.png: not a regular file",
        "would fail: /x/odd.png: ",
        "skip (name matches): /x/skip2.png",
        f"would convert: {i / 'a.png'} -> {o / 'a.webp'}",
        f"already done: {i / 'b.png'} -> {o / 'b.webp'}",
        f"would fail: {i / 'c.png'}: not an image, or a format Pillow cannot read",
        f"would convert: {i / 'd.png'} -> {o / 'd.webp'}",
        f"already done: {i / 'e.png'} -> {o / 'e.webp'}",
        "Dry run: 2 to convert, 2 already done, 2 skipped, 3 would fail, of 9 files; "
        "nothing was written",
    ]
    run.report_extra["replace"] = True
    assert lines(capsys, run)[4:6] == [
        f"would convert, then delete the original: {i / 'a.png'} -> {o / 'a.webp'}",
        f"already done; would delete the original: {i / 'b.png'} -> {o / 'b.webp'}",
    ]


def test_a_dry_run_of_a_job_without_is_done_or_a_known_verb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = Task(picture(tmp_path / "a.png"), Path("a.png"), output=tmp_path / "a.out")
    run = BatchRun("transcode", job=object(), tasks=[task])  # type: ignore[arg-type]
    assert lines(capsys, run) == [
        f"would process: {tmp_path / 'a.png'} -> {tmp_path / 'a.out'}",
        "Dry run: 1 to process, 0 already done, 0 skipped, 0 would fail, of 1 files; "
        "nothing was written",
    ]


def test_a_dry_run_without_an_output_name_does_not_ask_is_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Job:
        def is_done(self, task: Task, output: Path) -> bool:
            raise AssertionError("asked without an output")

    task = Task(picture(tmp_path / "a.png"), Path("a.png"))
    run = BatchRun("flip", job=Job(), tasks=[task])  # type: ignore[arg-type]
    assert lines(capsys, run)[0] == f"would flip: {tmp_path / 'a.png'} -> None"


def test_a_storage_dry_run_names_files_by_url_and_fetches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Remote:
        def names(self, task: Task) -> tuple[str, str]:
            return f"s3://b/{task.relative}", f"s3://o/{task.relative}.webp"

        def is_done(self, task: Task, output: Path) -> bool:
            return task.relative.name == "done.png"

    # Neither file exists here: a storage run's inputs are not decoded for a dry run.
    tasks = [Task(tmp_path / n, Path(n), output=tmp_path / n) for n in ("a.png", "done.png")]
    run = BatchRun("defend", job=Remote(), tasks=tasks)  # type: ignore[arg-type]
    assert lines(capsys, run) == [
        "would defend: s3://b/a.png -> s3://o/a.png.webp",
        "already done: s3://b/done.png -> s3://o/done.png.webp",
        "Dry run: 1 to defend, 1 already done, 0 skipped, 0 would fail, of 2 files; "
        "nothing was written",
    ]


def test_a_dry_run_prints_names_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = BatchRun("flip", job=object(), tasks=[])  # type: ignore[arg-type]
    run.presettled = [FileResult("/x/a\nb.png", None, Outcome.FAILED, error="bad\nthing")]
    assert lines(capsys, run)[0] == "would fail: /x/a\\nb.png: bad\\nthing"
