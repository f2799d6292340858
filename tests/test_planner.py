"""The one planner's invariants (issue 12 part 1, issue 11 items 1, 2 and 15), as properties.

The planner is fed an in-memory output tree, so Hypothesis can try thousands of folders: names
are never shared, never an input's, never someone else's file, and the name an input gets does
not change when siblings were replaced (and deleted) by an earlier run.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lltd.batch.marks import Mark, Source
from lltd.batch.plan import OutputTree, Planner
from lltd.codecs import EncodeOptions
from lltd.jobs.compress import CompressJob
from lltd.jobs.flip import FlipJob

STEMS = st.sampled_from(["a", "b", "a.png", "x_f", "photo"])
EXTS = st.sampled_from([".png", ".jpg", ".JPEG", ".webp"])
NAMES = st.lists(st.tuples(STEMS, EXTS).map("".join), min_size=1, max_size=8, unique=True)


def replace_job() -> CompressJob:
    return CompressJob(output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True)


def mark_for(command: str, name: str) -> Mark:
    return Mark(command, Source(name, 1, 1, "sha-of-" + name), 1, "out")


def tree(files: dict[str, Mark | None]) -> OutputTree:
    """One folder (in place: outputs and inputs share it), as a dict name -> provenance record."""
    return OutputTree(
        exists=lambda name: name in files,
        mark=lambda name: files.get(name),
        input_mark=lambda name: files.get(name),
        as_input=lambda name: name,
        same_source=lambda mark, name: mark.source == Source(name, 1, 1, "sha-of-" + name),
    )


def plan(job, files: dict[str, Mark | None]) -> dict[str, str]:
    planner = Planner(job, tree(files))
    inputs = [n for n in sorted(files) if planner.is_input(n, lambda p: p.as_posix() in files)]
    planner.inputs = set(inputs)
    return {name: planner.assign(name) for name in inputs}


@settings(max_examples=120, deadline=None)
@given(NAMES, st.data())
def test_names_are_unique_never_an_input_and_stable_after_replacement(names, data):
    files: dict[str, Mark | None] = dict.fromkeys(names)
    job = replace_job()
    first = plan(job, files)
    assert len(set(first.values())) == len(first)
    for output in first.values():
        assert output not in files  # never onto an input, nor onto someone else's file

    # An earlier --r run converted some inputs (its outputs carry their records) and deleted them.
    done = data.draw(st.lists(st.sampled_from(sorted(first)), unique=True)) if first else []
    after = dict(files)
    for name in done:
        after[first[name]] = mark_for("compress", name)
        del after[name]
    second = plan(job, after)
    for name, output in second.items():
        assert output == first[name], (name, first, second)


@settings(max_examples=80, deadline=None)
@given(NAMES)
def test_unrecorded_files_are_never_assigned_in_place(names):
    files: dict[str, Mark | None] = dict.fromkeys(names)
    for job in (replace_job(), FlipJob(format="png"), FlipJob()):
        for output in plan(job, files).values():
            assert output not in files  # an existing file without our record is never a target


def test_flip_collision_keeps_the_suffix_and_own_outputs_are_not_inputs():
    files: dict[str, Mark | None] = {"x.jpg": None, "x.png": None}
    job = FlipJob(format="png")
    first = plan(job, files)
    assert first == {"x.jpg": "x_f.png", "x.png": "x.png_f.png"}
    files.update({out: mark_for("flip", src) for src, out in first.items()})
    assert plan(job, files) == first  # the flips are not taken for inputs


def test_an_unrelated_same_named_output_is_left_alone():
    files: dict[str, Mark | None] = {"b.png": None, "b.webp": None}
    assert plan(replace_job(), files) == {"b.png": "b.png.webp"}
    files["b.webp"] = mark_for("compress", "b.jpg")  # another input's earlier output
    assert plan(replace_job(), files) == {"b.png": "b.png.webp"}
    files["b.webp"] = mark_for("compress", "b.png")  # its own
    assert plan(replace_job(), files) == {"b.png": "b.webp"}


def test_streaming_assignment_decides_against_what_was_assigned(tmp_path: Path):
    """The per-file API a daemon uses: one input at a time, against what it gave before and what
    the files' records say once they are written."""
    out = tmp_path / "out"
    out.mkdir()
    job = CompressJob(output_dir=out, options=EncodeOptions(quality=60))
    planner = Planner.for_folder(job, tmp_path / "in")
    assert planner.assign("a.png") == "a.webp"
    assert planner.assign("a.jpg") == "a.jpg.webp"  # a.webp is held while a.png is in flight
    assert planner.assign("a.png") == "a.webp"  # asked again (a retry): the same name
    (out / "a.webp").write_bytes(b"someone else's")
    fresh = Planner.for_folder(job, tmp_path / "in")  # nothing held: the file decides
    assert fresh.assign("a.png") == "a.webp"  # unrecorded, in our own -o folder: a leftover


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(STEMS, EXTS).map("".join), min_size=1, max_size=12),
    st.sets(st.sampled_from(["a.webp", "b.webp", "a.png.webp", "photo.webp"]), max_size=3),
    st.lists(st.integers(min_value=1, max_value=11), max_size=3),
    st.booleans(),
)
def test_a_daemon_names_each_input_once_across_restarts(drops, foreign, restarts, xattrs):
    """The watch daemon's use: inputs arrive one at a time (the same name again is the same
    input), the journal holds the names, the daemon restarts between some arrivals. Each input
    keeps its first name, no two inputs share one, and no foreign file is ever a target, also
    where outputs keep no provenance record (``xattrs`` False: NFSv3), the journal alone then."""
    import tempfile

    from lltd.watch.journal import Journal

    job = CompressJob(output_dir=Path("/out"), options=EncodeOptions(quality=60), force=True)
    on_disk: dict[str, Mark | None] = dict.fromkeys(foreign)
    given: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "journal.sqlite")
        planner = Planner(job, tree(on_disk), names=journal)
        for step, name in enumerate(drops):
            if step in restarts:
                journal.close()
                journal = Journal(Path(folder) / "journal.sqlite")
                planner = Planner(job, tree(on_disk), names=journal)
            if not planner.is_input(name, lambda p: False):
                continue
            output = planner.assign(name)
            assert given.setdefault(name, output) == output
            assert output not in foreign
            on_disk[output] = mark_for("compress", name) if xattrs else None  # written
        journal.close()
    assert len(set(given.values())) == len(given)
