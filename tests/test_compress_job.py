"""CompressJob in-process: its library defaults, its names, and an interrupted ``--r`` finished on
a rerun. (The CLI always passes every field; library callers rely on the defaults.)"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path, PurePosixPath

import pytest
from conftest import RunLltd, digest
from PIL import Image

from lltd.batch.scan import Task
from lltd.codecs import EncodeOptions
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.jobs.compress import CompressJob


def test_library_defaults_are_webp_converters(tmp_path: Path) -> None:
    job = CompressJob(tmp_path / "out", EncodeOptions(quality=60))
    assert (job.backend, job.cwebp, job.replace, job.ignore_transparency) == (
        "pillow", None, False, False,
    )  # fmt: skip
    assert (job.max_pixels, job.force, job.auto_orient) == (DEFAULT_MAX_PIXELS, False, False)
    assert not job.in_place and not job.consumes_input
    assert job.output_root(tmp_path / "in") == tmp_path / "out"
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.replace = True  # type: ignore[misc]
    replacing = dataclasses.replace(job, replace=True)
    assert replacing.in_place and replacing.consumes_input
    assert replacing.output_root(tmp_path / "in") == tmp_path / "in"


def test_output_and_alternate_names(tmp_path: Path) -> None:
    job = CompressJob(tmp_path / "out", EncodeOptions(quality=60))
    name = PurePosixPath("sub/a.png")
    assert job.output_name(name) == PurePosixPath("sub/a.webp")
    assert job.alternate_name(name, 0) == PurePosixPath("sub/a.png.webp")
    assert job.alternate_name(name, 2) == PurePosixPath("sub/a.png.2.webp")
    assert job.report_fields() == {
        "replace": False,
        "options": dataclasses.asdict(EncodeOptions(quality=60)),
        "backend": "pillow",
    }


def test_a_job_called_without_a_planned_output_uses_its_own_name(
    tmp_path: Path, make_image
) -> None:
    source = make_image(tmp_path / "in" / "photo.png", size=(120, 90))
    job = CompressJob(tmp_path / "out", EncodeOptions(quality=60))
    result = job(Task(source=source, relative=Path("photo.png")))
    assert result.outcome.value == "converted", result
    assert result.output == str(tmp_path / "out" / "photo.webp")
    with Image.open(tmp_path / "out" / "photo.webp") as image:
        assert image.size == (120, 90)


def test_a_replace_run_cut_short_after_its_webp_deletes_the_original_on_rerun(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    """The state a kill leaves between writing the WebP and deleting the original: the rerun
    recognises its own recorded WebP and finishes the job (deletes the original)."""
    original = sample_dir / "astronaut.png"
    kept = tmp_path / "astronaut.png"
    shutil.copy2(original, kept)
    first = run_lltd("compress", sample_dir, "--r", "-q", "60")
    assert first.returncode == 0, first.stderr
    webp = digest(sample_dir / "astronaut.webp")
    shutil.copy2(kept, original)  # as if the run had died before deleting it
    again = run_lltd("compress", sample_dir, "--r", "-q", "60", "--json", tmp_path / "r.json")
    assert again.returncode == 0, again.stderr
    assert not original.exists()
    assert digest(sample_dir / "astronaut.webp") == webp  # reused, not redone


def test_the_report_names_the_copy_of_a_file_set_aside(tmp_path: Path, run_lltd: RunLltd) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGBA", (20, 20), (1, 2, 3, 100)).save(src / "see through.png")
    out = tmp_path / "out"
    result = run_lltd(
        "compress", src, "-q", "60", "-o", out, "--ignore-transparency-image",
        "--json", tmp_path / "r.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    import json

    (record,) = json.loads((tmp_path / "r.json").read_text())["files"]
    assert record["outcome"] == "transparency"
    assert record["output"] == str(out / "transparency" / "see through.png")


def test_planning_alone_never_cleans_the_output_folder(tmp_path: Path, make_image) -> None:
    from lltd.jobs.compress import plan_compress

    make_image(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    job = CompressJob(tmp_path / "out", EncodeOptions(quality=60))
    batch = plan_compress(tmp_path / "in", job)
    assert [task.source.name for task in batch.tasks] == ["a.png"]
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_a_rerun_that_reuses_every_output_leaves_every_original(
    sample_dir: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    from conftest import tree_digests

    before = tree_digests(sample_dir)
    out = tmp_path / "out"
    assert run_lltd("compress", sample_dir, "-q", "60", "-o", out).returncode == 0
    again = run_lltd("compress", sample_dir, "-q", "60", "-o", out, "--json", tmp_path / "r.json")
    assert again.returncode == 0, again.stderr
    assert "already_converted" in (tmp_path / "r.json").read_text()
    assert tree_digests(sample_dir) == before  # "already converted" deletes nothing without --r
