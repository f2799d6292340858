"""``lltd.batch.pipeline`` in-process on real folders (issue 27): a batch's defaults, files
settled without a job reported first and counted, each failure's line and (with ``--debug``)
every file's, the JSON report's folders, settings and the facts of inputs a run deleted; and
``--c``: the folders it never empties and each refusal word for word, what it empties inside
the input (only files lltd wrote) and apart from it (everything)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from batch_helpers import picture, released_locks  # noqa: F401 (the fixture: locks released)

from lltd.batch import prepare
from lltd.batch.command import plan
from lltd.batch.engine import SerialRunner
from lltd.batch.marks import Source, stamp
from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.pipeline import BatchRun, check_clean, clean_output_directory, execute
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.settings import compress_job


def refusal(call, *args) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as refused:
        call(*args)
    return str(refused.value)


def test_a_batch_run_reports_on_stderr_with_no_json_by_default() -> None:
    run = BatchRun("flip", job=print, tasks=[])  # type: ignore[arg-type]
    assert (run.presettled, run.json_path, run.quiet, run.debug, run.report_extra) == (
        [], None, False, False, {},
    )  # fmt: skip


def batch(tmp_path: Path, *, replace: bool = False, **fields: object) -> BatchRun:
    job = compress_job(tmp_path / "out", EncodeOptions(quality=60), replace=replace)
    run = plan(tmp_path / "in", job)
    for name, value in fields.items():
        setattr(run, name, value)
    return run


def test_files_settled_without_a_job_come_first_and_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture(tmp_path / "in" / "a.png")
    skipped = FileResult("/elsewhere/skip.png", None, Outcome.NAME_MATCH, 5)
    fifo = FileResult("/elsewhere/pipe.png", None, Outcome.FAILED, error="not a regular file")
    results, totals = execute(batch(tmp_path, presettled=[skipped, fifo]), SerialRunner())
    assert results[:2] == [skipped, fifo]
    assert [r.outcome for r in results] == [Outcome.NAME_MATCH, Outcome.FAILED, Outcome.CONVERTED]
    assert totals.scanned == 3
    assert (totals.counts[Outcome.NAME_MATCH], totals.failed, totals.counts[Outcome.CONVERTED]) == (
        1, 1, 1,
    )  # fmt: skip
    assert totals.bytes_before == 5 + results[2].bytes_before
    assert 0 <= totals.seconds < 600
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "lltd: failed: /elsewhere/pipe.png: not a regular file\n"


def test_without_settled_files_the_runs_own_totals_stand(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    picture(tmp_path / "in" / "b.png", (0, 9, 9))
    results, totals = execute(batch(tmp_path), SerialRunner())
    assert [Path(r.input).name for r in results] == ["a.png", "b.png"]
    assert totals.scanned == 2 and totals.counts[Outcome.CONVERTED] == 2
    assert totals.bytes_after == sum(r.bytes_after for r in results) > 0


def test_debug_names_every_file_and_quiet_still_names_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = picture(tmp_path / "in" / "a.png")
    skipped = FileResult("/elsewhere/skip.png", None, Outcome.NAME_MATCH)
    execute(batch(tmp_path, presettled=[skipped], debug=True), SerialRunner())
    assert capsys.readouterr().err.splitlines() == [
        "lltd: name_match: /elsewhere/skip.png -> ",
        f"lltd: converted: {source} -> {tmp_path / 'out' / 'a.webp'}",
    ]
    prepare._HELD.close()  # the next plan takes the folders' locks again
    fifo = FileResult("/elsewhere/pipe.png", None, Outcome.FAILED, error="not a regular file")
    execute(batch(tmp_path, presettled=[fifo], quiet=True), SerialRunner())
    assert capsys.readouterr().err == "lltd: failed: /elsewhere/pipe.png: not a regular file\n"


def test_the_json_report_names_the_folders_the_jobs_settings_and_every_file(
    tmp_path: Path,
) -> None:
    picture(tmp_path / "in" / "a.png")
    report = tmp_path / "report.json"
    run = batch(tmp_path, json_path=report)
    skipped = FileResult("/elsewhere/skip.png", None, Outcome.NAME_MATCH, 5)
    run.presettled = [skipped]
    execute(run, SerialRunner())
    data = json.loads(report.read_text())
    assert (data["command"], data["input"], data["output"]) == (
        "compress", str(tmp_path / "in"), str(tmp_path / "out"),
    )  # fmt: skip
    assert data["settings"]["replace"] is False and data["settings"]["backend"] == "pillow"
    assert data["settings"]["options"]["quality"] == 60
    assert "options" not in data and "replace" not in data  # report_extra's other keys
    assert [(f["input"], f["outcome"]) for f in data["files"]] == [
        ("/elsewhere/skip.png", "name_match"),
        (str(tmp_path / "in" / "a.png"), "converted"),
    ]
    assert data["totals"]["files"] == 2 and data["totals"]["name_match"] == 1


def test_the_report_gives_the_facts_of_an_input_the_run_deleted(tmp_path: Path) -> None:
    source = picture(tmp_path / "in" / "a.png")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    report = tmp_path / "report.json"
    execute(batch(tmp_path, replace=True, json_path=report), SerialRunner())
    assert not source.exists()  # --replace deleted the original once its WebP was made
    (record,) = json.loads(report.read_text())["files"]
    assert (record["input_sha256"], record["input_pixels"]) == (digest, [4, 3])


def test_no_json_path_writes_no_report(tmp_path: Path) -> None:
    picture(tmp_path / "in" / "a.png")
    execute(batch(tmp_path), SerialRunner())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out"]


def make_tree(tmp_path: Path) -> tuple[Path, Path]:
    photos, out = tmp_path / "photos", tmp_path / "out"
    picture(photos / "a.png")
    picture(out / "old.webp")
    picture(out / "deep" / "older.webp")
    return photos, out


def test_clean_empties_a_folder_apart_from_the_input_whatever_it_holds(tmp_path: Path) -> None:
    photos, out = make_tree(tmp_path)
    assert clean_output_directory(out, photos) is True
    assert out.is_dir() and list(out.iterdir()) == []
    assert [p.name for p in photos.iterdir()] == ["a.png"]


def test_clean_of_a_folder_not_there_yet_is_nothing_to_do(tmp_path: Path) -> None:
    photos, _ = make_tree(tmp_path)
    assert clean_output_directory(tmp_path / "new", photos) is False
    assert not (tmp_path / "new").exists()


def test_clean_of_a_file_is_one_usage_error(tmp_path: Path) -> None:
    photos, _ = make_tree(tmp_path)
    file = picture(tmp_path / "file.png")
    assert refusal(clean_output_directory, file, photos) == f"--c: {file} is not a directory"
    assert file.is_file()


def test_clean_refuses_the_input_folder_and_any_folder_holding_it(tmp_path: Path) -> None:
    photos, _ = make_tree(tmp_path)
    for output in (photos, tmp_path, photos / ".." / "photos"):
        assert refusal(clean_output_directory, output, photos) == (
            f"--c refuses to delete {output.resolve()}: it is or contains the input folder {photos}"
        )
    assert [p.name for p in photos.iterdir()] == ["a.png"]


def test_clean_refuses_root_and_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos, out = make_tree(tmp_path)
    assert refusal(check_clean, Path("/"), photos) == (
        "--c refuses to delete /: it is / or the home directory"
    )
    monkeypatch.setenv("HOME", str(out))
    assert refusal(check_clean, out, photos) == (
        f"--c refuses to delete {out}: it is / or the home directory"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert check_clean(out, photos) is None
    assert check_clean(tmp_path / "not-yet", photos) is None
    assert check_clean(photos / "album", photos) is None  # inside: decided file by file


def test_check_clean_compares_resolved_folders(tmp_path: Path) -> None:
    photos, out = make_tree(tmp_path)
    (tmp_path / "alias").symlink_to(tmp_path)
    assert refusal(check_clean, tmp_path / "alias", photos) == (
        f"--c refuses to delete {tmp_path}: it is or contains the input folder {photos}"
    )
    assert refusal(check_clean, out, out / "deep") == (
        f"--c refuses to delete {out}: it is or contains the input folder {out / 'deep'}"
    )


def stamped(path: Path, data: bytes = b"ours") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp(path, "compress", Source("a.png", 1, 2, "0" * 64))
    return path


def test_clean_inside_the_input_empties_a_folder_holding_only_files_lltd_wrote(
    tmp_path: Path,
) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    stamped(album / "x.webp")
    stamped(album / "sub" / "y.webp")
    (album / "x.webp.error.txt").write_text("x.webp: why\n")  # its image is ours
    (album / ".z.webp.123.lltd-tmp").write_bytes(b"a killed run's temporary")
    assert clean_output_directory(album, photos) is True
    assert list(album.iterdir()) == []
    assert [p.name for p in photos.iterdir()] == ["a.png", "album"]


@pytest.mark.parametrize(
    ("foreign", "named"),
    [
        ("b/mine.png", "b/mine.png"),
        ("y.png.error.txt", "y.png.error.txt"),  # a reason file whose image is not ours
        ("note.error.txt", "note.error.txt"),
        ("link.webp", "link.webp"),  # a link is never ours
    ],
)
def test_clean_inside_the_input_names_the_first_file_lltd_did_not_write(
    tmp_path: Path, foreign: str, named: str
) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    stamped(album / "a.webp")
    stamped(album / "b" / "a.webp")
    stamped(album / "z.webp")
    if foreign == "link.webp":
        (album / foreign).symlink_to(album / "a.webp")
    else:
        (album / foreign).write_bytes(b"a user's own")
    stamped(album / "x.png")
    assert refusal(clean_output_directory, album, photos) == (
        f"--c refuses to empty {album}: it lies inside the input folder and holds "
        f"{album / named}, which lltd did not write"
    )
    assert (album / "z.webp").read_bytes() == b"ours"


def test_clean_inside_the_input_names_files_in_sorted_order(tmp_path: Path) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    for name in ("c.png", "a.png", "b.png"):
        (album / name).parent.mkdir(parents=True, exist_ok=True)
        (album / name).write_bytes(b"a user's own")
    assert f"holds {album / 'a.png'}, which" in refusal(clean_output_directory, album, photos)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives a file to another user")
def test_a_file_of_another_user_is_not_ours(tmp_path: Path) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    theirs = stamped(album / "theirs.webp")
    os.chown(theirs, 12345, 12345)
    assert f"holds {theirs}, which" in refusal(clean_output_directory, album, photos)


def test_progress_counts_the_settled_files_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")  # a line at every file
    picture(tmp_path / "in" / "a.png")
    skipped = FileResult("/elsewhere/skip.png", None, Outcome.NAME_MATCH)
    execute(batch(tmp_path, presettled=[skipped]), SerialRunner())
    shares = [line.split(",")[0] for line in capsys.readouterr().err.splitlines()]
    assert shares == ["lltd: compress: 1/2 files (50 %)", "lltd: compress: 2/2 files (100 %)"]


def test_check_clean_refuses_a_path_holding_the_inputs_even_before_it_exists(
    tmp_path: Path,
) -> None:
    photos, out = make_tree(tmp_path)
    assert refusal(check_clean, out, out / "not-yet") == (
        f"--c refuses to delete {out}: it is or contains the input folder {out / 'not-yet'}"
    )
    # An input that is no folder holds nothing: only the path decides.
    assert check_clean(out, photos / "a.png") is None


def test_an_output_swapped_for_a_link_to_the_input_after_the_check_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder opened is judged by identity, whatever the path check saw a moment before."""
    import lltd.batch.pipeline as pipeline

    photos, out = make_tree(tmp_path)
    checked = pipeline.check_clean

    def check_then_swap(output: Path, root: Path) -> None:
        checked(output, root)
        out.rename(tmp_path / "moved")
        out.symlink_to(photos, target_is_directory=True)

    monkeypatch.setattr(pipeline, "check_clean", check_then_swap)
    assert refusal(clean_output_directory, out, photos) == (
        f"--c refuses to delete {out}: it is or contains the input folder {photos}"
    )
    assert [p.name for p in photos.iterdir()] == ["a.png"]


def test_clean_inside_the_input_passes_temporaries_and_judges_the_files_after_them(
    tmp_path: Path,
) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    (album).mkdir()
    (album / ".a.webp.1.lltd-tmp").write_bytes(b"a killed run's temporary")
    (album / "b.png").write_bytes(b"a user's own")
    assert f"holds {album / 'b.png'}, which" in refusal(clean_output_directory, album, photos)


def test_clean_inside_the_input_removes_a_link_to_a_folder_without_entering_it(
    tmp_path: Path,
) -> None:
    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    stamped(album / "x.webp")
    elsewhere = picture(tmp_path / "elsewhere" / "theirs.png").parent
    (album / "to_elsewhere").symlink_to(elsewhere, target_is_directory=True)
    assert clean_output_directory(album, photos) is True
    assert list(album.iterdir()) == []
    assert [p.name for p in elsewhere.iterdir()] == ["theirs.png"]


def test_clean_inside_the_input_judges_a_fifo_without_waiting_for_a_writer(
    tmp_path: Path,
) -> None:
    import threading

    photos, _ = make_tree(tmp_path)
    album = photos / "album"
    stamped(album / "x.webp")
    os.mkfifo(album / "pipe.png")
    answer: list[str] = []
    judge = threading.Thread(
        target=lambda: answer.append(refusal(clean_output_directory, album, photos)), daemon=True
    )
    judge.start()
    judge.join(60)
    if judge.is_alive():  # opened for reading, blocking: a writer lets it go
        os.close(os.open(album / "pipe.png", os.O_WRONLY | os.O_NONBLOCK))
        judge.join(60)
        pytest.fail("--c waited for a writer on a FIFO")
    assert answer == [
        f"--c refuses to empty {album}: it lies inside the input folder and holds "
        f"{album / 'pipe.png'}, which lltd did not write"
    ]
