"""The planner over real folders, in-process: who may be overwritten, what a dry run of ``--c``
assumes, what is settled without a job, and the refusal of ``-o`` equal to the input.

Provenance records are written as the jobs write them (``stamp``), so each case is the state an
earlier run would leave; fast enough to run once per mutant of lltd/batch/plan.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lltd.batch.marks import Source, stamp
from lltd.batch.outcome import Outcome
from lltd.batch.plan import Planner, check_roots, local_tree, plan_local, plan_names
from lltd.batch.scan import Task
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.compress import CompressJob
from lltd.jobs.defend import DefendJob
from lltd.jobs.flip import FlipJob


def compress_to(out: Path | None, *, replace: bool = False) -> CompressJob:
    return CompressJob(
        output_dir=out or Path("unused"), options=EncodeOptions(quality=60), replace=replace
    )


def write(path: Path, data: bytes = b"picture") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def recorded(output: Path, command: str, input_root: Path, relative: str) -> Path:
    """``output`` as an earlier run of ``command`` on ``input_root/relative`` left it."""
    write(output, b"an earlier output")
    stamp(output, command, Source.of(input_root / relative, relative))
    return output


def names(run) -> dict[str, str]:
    return {task.relative.as_posix(): task.output.name for task in run.tasks}


def test_an_unrecorded_leftover_in_a_folder_of_our_own_is_redone(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write(src / "a.png")
    write(out / "a.webp", b"left over by an interrupted run")
    assert names(plan_local(src, compress_to(out))) == {"a.png": "a.webp"}


def test_an_unrecorded_file_inside_the_input_tree_is_never_taken(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write(src / "a.png")
    write(src / "a.webp", b"someone's own WebP")
    # In place (--r) ...
    assert names(plan_local(src, compress_to(None, replace=True))) == {"a.png": "a.png.webp"}
    # ... and with -o a folder inside the input tree.
    write(src / "out" / "b.webp", b"someone's")
    write(src / "b.png")
    run = plan_local(src, compress_to(src / "out"))
    assert names(run)["b.png"] == "b.png.webp"


def test_only_this_inputs_own_output_of_this_command_is_replaced(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.png", "b.png", "c.png"):
        write(src / name, name.encode())
    recorded(out / "a.webp", "compress", src, "a.png")  # its own: replaced
    recorded(out / "b.webp", "compress", src, "c.png")  # another input's
    recorded(out / "c.webp", "defend", src, "c.png")  # another command's
    assert names(plan_local(src, compress_to(out))) == {
        "a.png": "a.webp",
        "b.png": "b.png.webp",
        "c.png": "c.png.webp",
    }


def test_under_replace_an_output_of_a_changed_original_is_kept(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write(src / "a.png", b"first picture")
    write(src / "b.png", b"unchanged")
    recorded(src / "a.webp", "compress", src, "a.png")
    recorded(src / "b.webp", "compress", src, "b.png")
    write(src / "a.png", b"another picture, dropped under the same name")
    run = plan_local(src, compress_to(None, replace=True))
    assert names(run) == {"a.png": "a.png.webp", "b.png": "b.webp"}
    # Without --r the original stays, so its output may be redone in place of the old one.
    write(src / "c.png", b"third")
    out = tmp_path / "out"
    recorded(out / "c.webp", "compress", src, "c.png")
    write(src / "c.png", b"third, changed")
    assert names(plan_local(src, compress_to(out)))["c.png"] == "c.webp"


def test_this_commands_outputs_in_the_input_tree_are_not_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write(src / "x.png")
    flipped = recorded(src / "renamed by hand.png", "flip", src, "x.png")
    assert names(plan_local(src, FlipJob())) == {"x.png": "x_f.png"}
    # defend takes the flip as an ordinary picture: another command's output.
    assert "renamed by hand.png" in names(plan_local(src, DefendJob(output_dir=tmp_path / "o")))
    assert flipped.exists()


def test_a_dry_run_of_clean_plans_as_if_the_output_folder_were_empty(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write(src / "a.png")
    write(src / "b.png")
    recorded(out / "a.webp", "compress", src, "b.png")  # another input's: taken, unless emptied
    (src / "b.png").unlink()
    assert names(plan_local(src, compress_to(out))) == {"a.png": "a.png.webp"}
    assert names(plan_local(src, compress_to(out), assume_empty=True)) == {"a.png": "a.webp"}
    assert (out / "a.webp").exists()  # only assumed


def test_clean_empties_our_output_folder_first(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write(src / "a.png")
    write(out / "old" / "stale.webp")
    run = plan_local(src, compress_to(out), clean=True)
    assert names(run) == {"a.png": "a.webp"} and not (out / "old").exists()
    # In place there is no output folder to empty: --c is ignored, nothing is deleted.
    write(src / "keep.webp")
    plan_local(src, compress_to(None, replace=True), clean=True)
    assert (src / "keep.webp").exists() and (src / "a.png").exists()


def test_an_output_folder_inside_the_input_is_not_scanned_but_a_parent_one_is_no_filter(
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    write(src / "a.png")
    write(src / "out" / "made.png")
    assert set(names(plan_local(src, DefendJob(output_dir=src / "out")))) == {"a.png"}
    # -o the parent of the input: nothing of the input is left out.
    run = plan_local(src, DefendJob(output_dir=tmp_path))
    assert set(names(run)) == {"a.png", "out/made.png"}
    assert run.report_extra["input"] == str(src.resolve())
    assert run.report_extra["output"] == str(tmp_path.absolute())
    assert run.command == "defend" and run.report_extra["format"] == "png"


def test_skipped_names_and_unreadable_inputs_are_settled_without_a_job(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write(src / "a.png", b"12345")
    write(src / "skip me.png", b"1234567")
    write(src / "zz after.png")
    os.mkfifo(src / "pipe.png")
    run = plan_local(src, compress_to(out), ignore_filename_match="skip")
    assert names(run) == {"a.png": "a.webp", "zz after.png": "zz after.webp"}
    settled = {Path(r.input).name: r for r in run.presettled}
    assert set(settled) == {"skip me.png", "pipe.png"}
    skipped, pipe = settled["skip me.png"], settled["pipe.png"]
    assert (skipped.outcome, skipped.output, skipped.bytes_before) == (Outcome.NAME_MATCH, None, 7)
    assert (pipe.outcome, pipe.error) == (Outcome.FAILED, "not a regular file")
    assert skipped.input == str(src.resolve() / "skip me.png")
    assert run.tasks[0].source == src.resolve() / "a.png" and run.tasks[0].output == out / "a.webp"


def test_output_equal_to_input_is_refused_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        check_roots(compress_to(tmp_path), tmp_path, tmp_path / ".")
    assert str(caught.value) == (
        f"the output folder is the input folder {tmp_path}: outputs would mix with the "
        "originals; choose another -o (or --r to replace in place)"
    )
    with pytest.raises(UsageError) as caught:
        check_roots(DefendJob(output_dir=tmp_path), tmp_path, tmp_path)
    assert str(caught.value).endswith("choose another -o")
    check_roots(compress_to(None, replace=True), tmp_path, tmp_path)  # in place: that is the point
    check_roots(compress_to(tmp_path / "o"), tmp_path, tmp_path / "o")


def test_an_input_gone_since_the_listing_is_settled_with_the_reason(tmp_path: Path) -> None:
    """Between the listing and the planning a file can go (another process): it is reported."""
    src, out = tmp_path / "in", tmp_path / "out"
    job = compress_to(out)
    planner = Planner(job, local_tree(job, src, out))
    run = plan_names(
        planner,
        ["gone.png"],
        make_task=lambda name, output: Task(src / name, Path(name), out / output),
        input_path=lambda name: src / name,
        skip=None,
        command="compress",
        report_extra={},
        job=job,
    )
    assert run.tasks == []
    [gone] = run.presettled
    assert (gone.outcome, gone.error) == (Outcome.FAILED, "cannot read: No such file or directory")
    assert (gone.input, gone.bytes_before) == (str(src / "gone.png"), 0)


def test_a_dry_run_of_clean_with_the_output_inside_the_input_assumes_it_empty(
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    write(src / "a.png")
    write(src / "out" / "a.webp", b"someone's, in a folder inside the input")
    job = compress_to(src / "out")
    assert names(plan_local(src, job)) == {"a.png": "a.png.webp"}
    assert names(plan_local(src, job, assume_empty=True)) == {"a.png": "a.webp"}


def test_flip_skips_an_earlier_flip_found_beside_its_original_on_disk(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write(src / "x.png")
    write(src / "x_f.png", b"a flip from before flips carried a record")
    write(src / "lone_f.png")
    assert set(names(plan_local(src, FlipJob(output_dir=tmp_path / "out")))) == {
        "x.png",
        "lone_f.png",
    }
