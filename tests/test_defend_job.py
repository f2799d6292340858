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
