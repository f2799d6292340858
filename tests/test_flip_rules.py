"""flip's naming rules in-process: which files are earlier flips, and what flips are called.

Fast enough to run once per mutant of lltd/jobs/flip.py; test_flip.py checks the same through the
CLI on real folders.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from lltd.jobs.flip import FlipJob


def beside(*names: str):
    present = {PurePosixPath(name) for name in names}
    return lambda path: path in present


@pytest.mark.parametrize(
    ("name", "siblings", "earlier_flip"),
    [
        ("x_f.png", ["x.png"], True),
        ("x_f.png", ["x.jpg"], True),  # --format png wrote a JPEG's flip as PNG
        ("x_f.png", ["x.JPG"], True),  # an upper-case original
        ("x_f.jpg", ["x.JPEG"], True),
        ("sub/x_f.png", ["sub/x.webp"], True),
        ("sub/x_f.png", ["x.png"], False),  # the original is in another folder
        ("x_f.png", [], False),  # a lone _f name is an ordinary image
        ("x_f.png", ["x.txt"], False),
        ("_f.png", [".png"], False),  # the stem is the suffix alone
        ("x.png_f.png", ["x.png"], True),  # the alternate name beside x.jpg
        ("x.png_f.png", ["x.jpg"], False),  # x.png itself is gone: x.png_f.png is someone's
        ("x.txt_f.png", ["x.txt"], False),
        ("xf.png", ["x.png"], False),
        ("x_F.png", ["x.png"], False),
    ],
)
def test_an_earlier_flip_is_recognised_by_its_name_and_original(name, siblings, earlier_flip):
    job = FlipJob()
    assert job.is_flip_of_sibling(PurePosixPath(name), beside(*siblings)) is earlier_flip
    assert job.accepts(PurePosixPath(name), beside(*siblings)) is not earlier_flip


def test_without_a_suffix_nothing_is_an_earlier_flip() -> None:
    job = FlipJob(suffix="", output_dir=None, format="png")
    assert not job.is_flip_of_sibling(PurePosixPath("x.png"), beside("x.png", "x.jpg"))
    assert FlipJob().accepts(PurePosixPath("x_f.png"))  # nothing else known to exist


def test_names_keep_the_suffix_and_the_format() -> None:
    same, png = FlipJob(), FlipJob(format="png", suffix="_m")
    x_jpg = PurePosixPath("d/x.jpg")
    assert same.output_name(x_jpg) == PurePosixPath("d/x_f.jpg")
    assert png.output_name(x_jpg) == PurePosixPath("d/x_m.png")
    assert same.alternate_name(x_jpg, 0) == PurePosixPath("d/x.jpg_f.jpg")
    assert same.alternate_name(x_jpg, 1) == PurePosixPath("d/x.jpg_f.1.jpg")
    assert png.alternate_name(x_jpg, 2) == PurePosixPath("d/x.jpg_m.2.png")
    assert FlipJob(direction="vertical", format="png").report_fields() == {
        "direction": "vertical",
        "suffix": "_f",
        "format": "png",
    }
    assert FlipJob().direction == "horizontal" and FlipJob().format == "same"
    assert FlipJob().output_dir is None and not FlipJob().force and not FlipJob().auto_orient
