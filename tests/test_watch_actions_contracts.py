"""The contracts of lltd/watch/actions.py (issue 27), in-process: the job a drop folder runs on
each file is the same job ``lltd defend`` / ``flip`` / ``compress`` builds from the folder's
settings, always with ``force`` (a re-dropped file is new work), and a setting the job refuses is
one line naming the folder.

Expected values are literals: a lost setting or a changed message must fail here."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.defense.settings import DefenseSettings
from lltd.jobs.compress import CompressJob
from lltd.jobs.defend import DefendJob
from lltd.jobs.flip import FlipJob
from lltd.watch.actions import make_job
from lltd.watch.config import FolderConfig

OUT = Path("/srv/out")


def _job(**settings: object):  # type: ignore[no-untyped-def]
    return make_job(FolderConfig(Path("/srv/in"), Path("/srv/folder-out"), **settings), OUT)


def test_a_defend_folder_runs_its_defense_with_force_and_its_limits() -> None:
    job = _job(action="defend", direction="vertical", format="webp-lossless",
               max_pixels=7, max_bytes=9, method=6, seed=3, quality_range="40-80")  # fmt: skip
    assert type(job) is DefendJob
    assert (job.output_dir, job.format, job.force) == (OUT, "webp-lossless", True)
    assert (job.max_pixels, job.max_bytes, job.auto_orient) == (7, 9, True)
    d = job.settings
    assert (d.quality, d.quality_range, d.seed, d.flip, d.method) == (
        60,
        (40, 80),
        3,
        "vertical",
        6,
    )


def test_a_defend_folder_by_default_is_lltd_defends_default() -> None:
    job = _job()
    assert type(job) is DefendJob
    assert (job.format, job.force, job.max_pixels, job.max_bytes) == (
        "png",
        True,
        89478485,
        1073741824,
    )
    assert job.settings == DefenseSettings(quality=60, flip="horizontal")


def test_a_flip_folder_runs_a_flip_with_force_and_its_limits() -> None:
    job = _job(action="flip", direction="vertical", format="png", max_pixels=7, max_bytes=9)
    assert job == FlipJob(
        direction="vertical", suffix="_f", output_dir=OUT, format="png", force=True,
        max_pixels=7, max_bytes=9, auto_orient=False,
    )  # fmt: skip


def test_a_compress_folder_runs_a_compress_with_force_its_options_and_limits() -> None:
    job = _job(action="compress", quality=70, method=6, max_pixels=7, max_bytes=9)
    assert type(job) is CompressJob
    assert (job.output_dir, job.backend, job.cwebp, job.force) == (OUT, "pillow", None, True)
    assert (job.max_pixels, job.max_bytes, job.replace) == (7, 9, False)
    assert (job.options.quality, job.options.method, job.options.lossless) == (70, 6, False)


def test_a_compress_folder_without_quality_is_lossless_100() -> None:
    job = _job(action="compress")
    assert (job.options.quality, job.options.method, job.options.lossless) == (100, 4, True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "flip", "format": "bogus"}, "--format must be one of same, png, got 'bogus'"),
        (
            {"action": "defend", "format": "bogus"},
            "--format must be one of png, webp-lossless, got 'bogus'",
        ),
        (
            {"action": "compress", "backend": "cwebp", "cwebp": "/nonexistent/cwebp"},
            "--cwebp: /nonexistent/cwebp is not an executable file",
        ),
        (
            {"action": "defend", "backend": "cwebp", "cwebp": "/nonexistent/cwebp"},
            "--cwebp: /nonexistent/cwebp is not an executable file",
        ),
        # The defense names its own errors (once, not "in: in: ...").
        ({"action": "defend", "quality": 150}, "quality must be between 0 and 100, got 150"),
    ],
)
def test_a_refused_setting_is_one_line_naming_the_folder(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        _job(**settings)
    assert str(refused.value) == f"/srv/in: {message}"
