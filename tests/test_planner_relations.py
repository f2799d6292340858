"""How the planner relates the output tree to the input tree (lltd.batch.plan.tree_relation,
local_tree), in-process on real folders: the relation and the name one reaches the other by,
output folders that do not exist yet, and which output names are input files."""

from __future__ import annotations

import os
from pathlib import Path

from lltd.batch.plan import local_tree, tree_relation
from lltd.fs.relation import Relation
from lltd.jobs.flip import FlipJob


def _job(out: Path) -> FlipJob:
    return FlipJob(out)


def test_an_output_below_the_input_is_inside_by_its_path_below_even_when_missing(
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    assert tree_relation(src, src / "sub") == (Relation.INSIDE, "sub")
    assert tree_relation(src, src / "sub" / "new" / "deeper") == (Relation.INSIDE, "sub/new/deeper")
    assert tree_relation(src, src / "new") == (Relation.INSIDE, "new")
    assert tree_relation(src, src) == (Relation.SAME, "")


def test_an_output_containing_the_input_names_the_input_below_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "a" / "in").mkdir(parents=True)
    assert tree_relation(out / "a" / "in", out) == (Relation.CONTAINS, "a/in")


def test_apart_trees_and_a_new_folder_beside_the_inputs_ancestors_hold_no_input(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "other").mkdir()
    assert tree_relation(tmp_path / "in", tmp_path / "other") == (Relation.APART, None)
    assert tree_relation(tmp_path / "in", tmp_path / "new" / "out") == (Relation.APART, None)


def test_an_inside_outputs_names_are_input_files_below_it(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    tree = local_tree(_job(src / "sub"), src, src / "sub")
    assert tree.overlaps and tree.as_input("a.png") == "sub/a.png"
    same = local_tree(_job(src), src, src)
    assert same.overlaps and same.as_input("a.png") == "a.png"


def test_a_containing_outputs_names_are_input_files_only_below_the_input(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    (out / "a" / "in").mkdir(parents=True)
    tree = local_tree(_job(out), out / "a" / "in", out)
    assert tree.overlaps
    assert tree.as_input("a/in/x.png") == "x.png"
    assert tree.as_input("a/x.png") is None and tree.as_input("a/inner.png") is None


def test_apart_trees_do_not_overlap_and_no_output_name_is_an_input(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    tree = local_tree(_job(tmp_path / "out"), tmp_path / "in", tmp_path / "out")
    assert not tree.overlaps and tree.as_input("a.png") is None


def test_only_a_file_of_the_running_user_is_owned(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.png").write_bytes(b"x")
    (out / "theirs.png").write_bytes(b"x")
    if os.geteuid() == 0:  # only root can give a file away
        os.chown(out / "theirs.png", 4242, -1)
    tree = local_tree(_job(out), tmp_path / "in", out)
    assert tree.owned("mine.png") is True
    assert tree.owned("missing.png") is False  # nothing there is nobody's leftover
    if os.geteuid() == 0:  # only root can give a file away
        assert tree.owned("theirs.png") is False
