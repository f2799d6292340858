"""The planner's rules one by one, in-process (fast enough to run once per mutant).

Found by mutating lltd/batch/plan.py: the property tests of test_planner.py never draw a dotfile,
a file that is another command's output, a streaming planner over a relative folder, or 1,000
taken names, so removing any of those rules passed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_planner import mark_for, plan, replace_job, tree

from lltd.batch.marks import Mark
from lltd.batch.plan import MAX_ALTERNATES, OutputTree, Planner
from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.jobs.compress import CompressJob
from lltd.jobs.defend import DefendJob
from lltd.jobs.flip import FlipJob


def test_hidden_files_and_files_in_hidden_folders_are_never_inputs() -> None:
    files: dict[str, Mark | None] = dict.fromkeys(
        [".hidden.png", "sub/.cache/b.png", ".git/c.jpg", "a.png", "sub/d.png", "e.f.png"]
    )
    assert plan(replace_job(), files) == {
        "a.png": "a.webp",
        "e.f.png": "e.f.webp",
        "sub/d.png": "sub/d.webp",
    }


def test_an_output_of_this_command_is_never_an_input_but_anothers_is() -> None:
    files: dict[str, Mark | None] = {
        "flipped.png": mark_for("flip", "x.png"),  # flip wrote it (under another name)
        "webp made.webp": mark_for("compress", "y.png"),
        "plain.png": None,
    }
    # flip never flips its own output, wherever it landed and whatever it is called ...
    assert plan(FlipJob(format="png"), files) == {
        "plain.png": "plain_f.png",
        "webp made.webp": "webp made_f.png",
    }
    # ... and compress takes flip's output as an input like any other picture.
    assert plan(replace_job(), files) == {
        "flipped.png": "flipped.webp",
        "plain.png": "plain.webp",
    }


def taken_names(count: int) -> dict[str, Mark | None]:
    """``a.png`` with its natural name and the first ``count - 1`` alternates taken."""
    files: dict[str, Mark | None] = {"a.png": None, "a.webp": None, "a.png.webp": None}
    files.update({f"a.png.{n}.webp": None for n in range(1, count - 1)})
    assert len(files) == count + 1
    return files


def test_the_last_alternate_name_is_used_then_the_input_is_refused_by_name() -> None:
    files = taken_names(MAX_ALTERNATES)
    assert plan(replace_job(), files) == {"a.png": f"a.png.{MAX_ALTERNATES - 1}.webp"}
    files[f"a.png.{MAX_ALTERNATES - 1}.webp"] = None
    with pytest.raises(UsageError, match=r"^no free output name for a\.png$"):
        plan(replace_job(), files)
    assert MAX_ALTERNATES == 1000  # the limit the README states


def test_a_planner_made_without_inputs_still_never_writes_onto_a_claimed_or_listed_name() -> None:
    files: dict[str, Mark | None] = {"a.png": None, "a.jpg": None}
    planner = Planner(replace_job(), tree(files))  # a host that lists nothing up front
    assert planner.assign("a.png") == "a.webp"
    assert planner.assign("a.jpg") == "a.jpg.webp"


def test_a_streaming_planner_over_a_relative_folder_resolves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.webp").write_bytes(b"someone's file")
    job = CompressJob(output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True)
    planner = Planner.for_folder(job, Path("in"))
    assert planner.is_input("a.png", lambda p: False)
    assert not planner.is_input(".a.png", lambda p: False)
    assert planner.assign("a.png") == "a.png.webp"  # the unrecorded a.webp is never taken
    assert planner.assign("b.png") == "b.webp"


def test_an_input_of_the_plan_is_never_an_output_even_when_the_output_listing_misses_it() -> None:
    """A remote host lists the destination and the source apart: a name that is one of this
    plan's inputs is never handed out as another input's output, whatever the output side says."""
    job = DefendJob(output_dir=Path("out"))
    blind = OutputTree(
        exists=lambda name: False,  # the output listing shows nothing
        mark=lambda name: None,
        input_mark=lambda name: None,
        as_input=lambda name: name,  # the outputs sit in the input tree
        same_source=lambda mark, name: False,
    )
    planner = Planner(job, blind, inputs={"a.jpg", "a.png"})
    assert planner.assign("a.jpg") == "a.jpg.png"
    outside = replace(blind, as_input=lambda name: None)  # outputs elsewhere: a.png is free
    assert Planner(job, outside, inputs={"a.jpg", "a.png"}).assign("a.jpg") == "a.png"
