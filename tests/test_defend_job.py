"""DefendJob as a library caller builds it (its defaults), in-process: fast enough to run once per
mutant of lltd/jobs/defend.py. The CLI passes every option explicitly, so its tests (test_defend.py)
never see these defaults.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from lltd.batch.marks import read_mark
from lltd.batch.outcome import Outcome
from lltd.batch.scan import Task
from lltd.defense.kernel import apply
from lltd.defense.settings import DefenseSettings
from lltd.jobs.defend import DefendJob

ORIENTATION = 0x0112


def sideways(path: Path) -> Path:
    """A 60x40 JPEG stored sideways (orientation 6), a red band on the stored picture's left."""
    pixels = np.zeros((40, 60, 3), np.uint8)
    pixels[:, :20] = (250, 20, 20)
    pixels[:, 20:] = (20, 20, 250)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[ORIENTATION] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95, exif=exif)
    return path


def test_the_library_defaults_are_the_papers_defense_as_png_upright_once(tmp_path: Path) -> None:
    source = sideways(tmp_path / "in" / "phone.jpg")
    job = DefendJob(output_dir=tmp_path / "out")
    assert job.command == "defend" and job.settings == DefenseSettings()
    out = tmp_path / "out" / "phone.png"
    assert job.output_for(Task(source, Path("phone.jpg"))) == out
    assert job.alternate_name(PurePosixPath("d/x.jpg"), 0) == PurePosixPath("d/x.jpg.png")
    assert job.alternate_name(PurePosixPath("d/x.jpg"), 3) == PurePosixPath("d/x.jpg.3.png")
    result = job(Task(source, Path("phone.jpg"), out))
    assert result.outcome is Outcome.CONVERTED and result.output == str(out)
    with Image.open(out) as defended, Image.open(source) as original:
        assert defended.format == "PNG" and defended.size == (40, 60)  # turned upright
        upright = original.transpose(Image.Transpose.ROTATE_270)
        expected = apply(upright, DefenseSettings(), DefenseSettings().draw_for("phone.jpg"))
        assert np.array_equal(np.asarray(defended), np.asarray(expected))
    assert read_mark(out).command == "defend"
    # Not forced: the second run finds its own output intact and leaves it.
    again = job(Task(source, Path("phone.jpg"), out))
    assert again.outcome is Outcome.ALREADY_DONE
    forced = DefendJob(output_dir=tmp_path / "out", force=True)(
        Task(source, Path("phone.jpg"), out)
    )
    assert forced.outcome is Outcome.CONVERTED


def test_lossless_webp_holds_the_same_pixels_as_the_png(tmp_path: Path) -> None:
    source = sideways(tmp_path / "in" / "phone.jpg")
    png, webp = tmp_path / "a.png", tmp_path / "a.webp"
    DefendJob(output_dir=tmp_path)(Task(source, Path("phone.jpg"), png))
    job = DefendJob(output_dir=tmp_path, format="webp")
    assert job.output_name(PurePosixPath("x.jpg")) == PurePosixPath("x.webp")
    assert job.report_fields()["format"] == "webp"
    job(Task(source, Path("phone.jpg"), webp))
    with Image.open(png) as a, Image.open(webp) as b:
        assert b.format == "WEBP" and np.array_equal(np.asarray(a), np.asarray(b.convert(a.mode)))


def test_a_seeded_randomised_defense_draws_by_the_files_name(tmp_path: Path) -> None:
    """The same file name gets the same draw in any run, worker or host (and in ``lltd watch``);
    another name gets its own."""
    source = sideways(tmp_path / "in" / "phone.jpg")
    settings = DefenseSettings(quality_range=(10, 90), flip="random", seed=3)
    job = DefendJob(output_dir=tmp_path, settings=settings)
    outputs = []
    for out in (tmp_path / "a.png", tmp_path / "b.png"):
        job(Task(source, Path("phone.jpg"), out))
        outputs.append(np.asarray(Image.open(out)))
    assert np.array_equal(outputs[0], outputs[1])
    with Image.open(source) as original:
        upright = original.transpose(Image.Transpose.ROTATE_270)
        expected = apply(upright, settings, settings.draw_for("phone.jpg"))
    assert np.array_equal(outputs[0], np.asarray(expected))


def test_lossless_webp_keeps_the_colour_under_transparent_pixels(tmp_path: Path) -> None:
    pixels = np.random.default_rng(5).integers(0, 256, (24, 32, 4), dtype=np.uint8)
    pixels[::3, :, 3] = 0  # transparent rows whose colours are still there
    source = tmp_path / "in" / "alpha.png"
    source.parent.mkdir(parents=True)
    Image.fromarray(pixels, "RGBA").save(source)
    settings = DefenseSettings(quality=None)  # the flip alone: exact pixels to compare
    png, webp = tmp_path / "a.png", tmp_path / "a.webp"
    DefendJob(output_dir=tmp_path, settings=settings)(Task(source, Path("alpha.png"), png))
    DefendJob(output_dir=tmp_path, settings=settings, format="webp")(
        Task(source, Path("alpha.png"), webp)
    )
    with Image.open(png) as a, Image.open(webp) as b:
        assert a.mode == "RGBA" and np.array_equal(np.asarray(a), np.asarray(b.convert("RGBA")))
        assert np.array_equal(np.asarray(a), pixels[:, ::-1])
