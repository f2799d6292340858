"""The planner's contracts (lltd.batch.plan) that its other tests left open, pinned in-process on
real folders (issue 27): what a host's output tree is when it says nothing more, what a planned
task may replace, which folders a scan leaves out, the path fallback of ``tree_relation``, and
what a listing that knows sizes and kinds tells ``plan_names``."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

import pytest
from PIL import Image

from lltd.batch.outcome import Outcome
from lltd.batch.plan import (
    OutputTree,
    PlanNames,
    Planner,
    _path_relation,
    local_tree,
    plan_local,
    plan_names,
    tree_relation,
)
from lltd.batch.scan import Task
from lltd.codecs import EncodeOptions
from lltd.fs.identity import Version
from lltd.fs.relation import Relation
from lltd.fs.tree import Occupied
from lltd.jobs.compress import CompressJob
from lltd.jobs.flip import FlipJob

THEIRS = b"someone's own file, not ours to replace"


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (3, 2), (200, 10, 10)).save(path)
    return path


def compress_to(out: Path) -> CompressJob:
    return CompressJob(output_dir=out, options=EncodeOptions(quality=60))


def bare_tree(*, existing: set[str]) -> OutputTree:
    """An output tree as a storage host builds one: it names only the required fields."""
    return OutputTree(
        exists=lambda name: name in existing,
        mark=lambda name: None,  # nothing there is recorded
        input_mark=lambda name: None,
        as_input=lambda name: None,
        same_source=lambda mark, relative: False,
    )


def test_an_output_tree_that_says_nothing_more_is_apart_owned_and_its_leftover_is_redone() -> None:
    tree = bare_tree(existing={"a.webp"})
    assert tree.overlaps is False
    assert tree.owned("a.webp") is True and tree.owned("anything/else.webp") is True
    assert PlanNames.complete is False  # a plan's own record holds only this plan's names
    # So an unrecorded a.webp in a folder of our own is a leftover of ours: the name is given.
    assert Planner(compress_to(Path("out")), tree).assign("a.png") == "a.webp"


@pytest.mark.parametrize("at_the_name", ["nothing", "a link of ours"])
def test_a_name_holding_no_regular_file_is_planned_to_replace_nothing_so_a_later_file_is_kept(
    tmp_path: Path, at_the_name: str
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    png(src / "a.png")
    out.mkdir()
    if at_the_name == "a link of ours":  # unrecorded, in our own -o folder: the name is ours
        os.symlink("nowhere", out / "a_f.png")
    job = FlipJob(output_dir=out)
    [task] = plan_local(src, job).tasks
    assert (task.output, task.replaces) == (out / "a_f.png", False)
    # Someone's regular file takes the name between the plan and the job: theirs stays.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out / "a_f.png")
    (out / "a_f.png").write_bytes(THEIRS)
    assert task.output is not None
    with pytest.raises(Occupied) as refused:  # the batch runner reports it as the file's failure
        job(task)
    assert str(refused.value) == f"{task.output} appeared during the run; it was kept"
    assert task.output.read_bytes() == THEIRS


def test_an_earlier_output_of_ours_may_be_replaced_only_in_the_version_planned(
    tmp_path: Path,
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    png(src / "a.png")
    out.mkdir()
    (out / "a_f.png").write_bytes(b"left over by an interrupted run")
    [task] = plan_local(src, FlipJob(output_dir=out)).tasks
    assert task.replaces == Version.of(os.lstat(out / "a_f.png"))


def test_an_output_folder_holding_the_input_leaves_out_no_subfolder_named_like_the_input(
    tmp_path: Path,
) -> None:
    # -o the input's parent: the outputs of in/x.png land in OUT/in/, but in/in/ is input.
    src = tmp_path / "in"
    png(src / "a.png")
    png(src / "in" / "x.png")
    run = plan_local(src, compress_to(tmp_path))
    assert {t.relative.as_posix(): t.output for t in run.tasks} == {
        "a.png": tmp_path / "a.webp",
        "in/x.png": tmp_path / "in" / "x.webp",
    }


def test_a_containing_output_whose_way_to_the_input_is_unknown_maps_no_name_onto_an_input(
    tmp_path: Path,
) -> None:
    # path_below finds no name (an unreadable level, a bind mount): the trees still overlap,
    # so an unrecorded file there is never taken for a leftover.
    src, out = tmp_path / "out" / "in", tmp_path / "out"
    png(src / "a.png")
    (src / "a.webp").write_bytes(THEIRS)
    tree = local_tree(compress_to(out), src, out, (Relation.CONTAINS, None))
    assert tree.overlaps is True
    assert tree.as_input("in/a.png") is None and tree.as_input("a.png") is None
    planner = Planner(compress_to(out), tree)
    assert planner.assign("in/a.png") == "in/a.png.webp"  # in/a.webp is someone's


def test_the_path_fallback_answers_as_tree_relation_does_for_folders_not_made_yet(
    tmp_path: Path,
) -> None:
    real, missing = tmp_path / "real", tmp_path / "missing"
    (real / "out" / "a" / "in" / "sub").mkdir(parents=True)
    (real / "other").mkdir()
    layouts = {
        Relation.SAME: ("out/a/in", "out/a/in"),
        Relation.INSIDE: ("out/a/in", "out/a/in/sub"),
        Relation.CONTAINS: ("out/a/in", "out"),
        Relation.APART: ("out/a/in", "other"),
    }
    for kind, (input_root, output_root) in layouts.items():
        made = tree_relation(real / input_root, real / output_root)
        assert made[0] is kind
        assert _path_relation(missing / input_root, missing / output_root) == made
    assert _path_relation(missing / "x", missing / "x") == (Relation.SAME, "")


def _listed_planner() -> Planner:
    return Planner(compress_to(Path("out")), bare_tree(existing=set()))


def _listed(names: list[str], **facts: object) -> dict[str, tuple[Outcome, int | None, str]]:
    """plan_names over ``names`` as a listing, each file's (outcome, size, error) by name."""
    where = {name: f"memory://bucket/{name}" for name in names}
    run = plan_names(
        _listed_planner(),
        names,
        make_task=lambda name, out: Task(Path(where[name]), Path(name), Path(out)),
        input_path=where.__getitem__,
        skip="skip",
        command="compress",
        report_extra={},
        job=None,
        **facts,  # type: ignore[arg-type]
    )
    settled = {
        PurePosixPath(r.input).name: (r.outcome, r.bytes_before, r.error) for r in run.presettled
    }
    planned = {task.relative.as_posix(): (Outcome.CONVERTED, None, "") for task in run.tasks}
    return settled | planned


def test_a_listing_that_knows_sizes_and_kinds_is_believed_and_nothing_is_stat_ed() -> None:
    sizes = {"a.png": 11, "skip me.png": 22, "folder.png": 33}
    got = _listed(
        list(sizes),
        sizes=sizes.__getitem__,
        not_regular=lambda name: "a folder" if name == "folder.png" else None,
    )
    assert got == {
        "a.png": (Outcome.CONVERTED, None, ""),  # planned: no stat said it cannot be read
        "skip me.png": (Outcome.NAME_MATCH, 22, None),
        "folder.png": (Outcome.FAILED, 33, "a folder"),
    }


def test_sizes_alone_leave_the_kind_to_a_stat_and_kinds_alone_the_size(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "a.png").write_bytes(b"12345")
    names = ["a.png", "pipe.png"]

    def run(**facts: object) -> dict[str, tuple[Outcome, int | None, str | None]]:
        found = plan_names(
            _listed_planner(),
            names,
            make_task=lambda name, out: Task(tmp_path / name, Path(name), Path(out)),
            input_path=lambda name: tmp_path / name,
            skip=None,
            command="compress",
            report_extra={},
            job=None,
            **facts,  # type: ignore[arg-type]
        )
        settled = {
            Path(r.input).name: (r.outcome, r.bytes_before, r.error) for r in found.presettled
        }
        return settled | {
            t.relative.as_posix(): (Outcome.CONVERTED, None, None) for t in found.tasks
        }

    sized = run(sizes=lambda name: 99)
    assert sized == {
        "a.png": (Outcome.CONVERTED, None, None),
        "pipe.png": (Outcome.FAILED, 99, "not a regular file"),
    }
    kinds = run(not_regular=lambda name: "an object of another kind" if name == "a.png" else None)
    assert kinds == {
        "a.png": (Outcome.FAILED, 5, "an object of another kind"),
        "pipe.png": (Outcome.CONVERTED, None, None),
    }
