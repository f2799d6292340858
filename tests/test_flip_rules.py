"""flip's naming rules in-process: which files are earlier flips, and what flips are called.

Fast enough to run once per mutant of lltd/jobs/flip.py; test_flip.py checks the same through the
CLI on real folders.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image, ImageCms

from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
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


def png_16bit(path: Path, colour: int, channels: int, size: tuple[int, int] = (4, 3)) -> Path:
    """A real 16-bit PNG (Pillow cannot write 16-bit colour ones): ``colour`` 2 RGB, 6 RGBA, 0
    grey."""
    width, height = size
    row = b"\0" + bytes(range(2 * channels * width))  # filter byte, then the samples
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def flip_one(tmp_path: Path, source: Path, job: FlipJob | None = None) -> tuple[FileResult, Path]:
    out = tmp_path / "out" / f"{source.stem}_f.png"
    result = (job or FlipJob(output_dir=tmp_path / "out"))(Task(source, Path(source.name), out))
    return result, out


@pytest.mark.parametrize(("colour", "channels"), [(2, 3), (6, 4)], ids=["RGB", "RGBA"])
def test_a_16_bit_colour_png_is_refused_not_flipped_at_8_bits(tmp_path, colour, channels) -> None:
    source = png_16bit(tmp_path / "deep.png", colour, channels)
    result, out = flip_one(tmp_path, source)
    assert result.outcome is Outcome.FAILED and not out.exists()
    assert result.error == (
        "16-bit colour PNG: Pillow can only read it as 8 bits per channel; not flipped "
        "(the original is kept)"
    )


def test_16_bit_grey_and_8_bit_colour_pngs_are_flipped(tmp_path: Path, make_image) -> None:
    grey = png_16bit(tmp_path / "grey.png", 0, 1)
    result, out = flip_one(tmp_path, grey)
    assert result.outcome is Outcome.CONVERTED
    with Image.open(out) as flipped, Image.open(grey) as original:
        assert flipped.mode == original.mode
        assert np.array_equal(np.asarray(flipped), np.asarray(original)[:, ::-1])
    colour = make_image(tmp_path / "rgb.png", size=(5, 4))
    assert flip_one(tmp_path, colour)[0].outcome is Outcome.CONVERTED


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_colour_profile_travels_with_the_flip(tmp_path: Path, fmt: str) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / f"p.{fmt.lower()}"
    Image.new("RGB", (6, 4), (200, 30, 30)).save(source, format=fmt, icc_profile=profile)
    out = tmp_path / "out" / f"p_f.{fmt.lower()}"
    result = FlipJob(output_dir=tmp_path / "out")(Task(source, Path(source.name), out))
    assert result.outcome is Outcome.CONVERTED
    with Image.open(out) as flipped:
        assert flipped.format == fmt and flipped.info.get("icc_profile") == profile
