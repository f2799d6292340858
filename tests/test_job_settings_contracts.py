"""``lltd.jobs.settings`` in-process (issue 27): the choice lists and their refusals word for word,
webp-converter's quality rule, the backend checked once before any file, and each job built with
exactly the settings given (and the documented defaults when none are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.codecs import EncodeOptions
from lltd.common.errors import UsageError
from lltd.common.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from lltd.defense.settings import DefenseSettings
from lltd.jobs.compress import CompressJob
from lltd.jobs.defend import DefendJob
from lltd.jobs.flip import FlipJob
from lltd.jobs.settings import (
    COMPRESS_QUALITY,
    DEFEND_FORMATS,
    FLIP_FORMATS,
    check_choice,
    check_codec,
    compress_job,
    compress_options,
    defend_job,
    flip_job,
)

MISSING = "/nonexistent/cwebp"


def refusal(call, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def test_the_choice_lists_and_webp_converters_default_quality() -> None:
    assert FLIP_FORMATS == ("same", "png")
    assert DEFEND_FORMATS == ("png", "webp-lossless")
    assert COMPRESS_QUALITY == 100.0


def test_a_value_outside_its_choices_is_refused_naming_option_choices_and_value() -> None:
    assert check_choice("--format", "png", FLIP_FORMATS) is None
    assert refusal(check_choice, "--format", "gif", FLIP_FORMATS) == (
        "--format must be one of same, png, got 'gif'"
    )


@pytest.mark.parametrize(
    ("quality", "extra", "expected"),
    [
        (None, {}, EncodeOptions(quality=100, lossless=True)),
        (100, {}, EncodeOptions(quality=100, lossless=True)),
        (99.5, {}, EncodeOptions(quality=99.5)),
        (60, {}, EncodeOptions(quality=60)),
        (60, {"lossless": True}, EncodeOptions(quality=60, lossless=True)),
        (60, {"lossless": False}, EncodeOptions(quality=60)),
        (None, {"lossless": True}, EncodeOptions(quality=100, lossless=True)),
        (100, {"lossless": False}, EncodeOptions(quality=100, lossless=True)),
        (60, {"method": 2, "exact": True}, EncodeOptions(quality=60, method=2, exact=True)),
    ],
)
def test_webp_converters_rule_quality_100_is_lossless_and_lossless_forces_it(
    quality: float | None, extra: dict[str, object], expected: EncodeOptions
) -> None:
    assert compress_options(quality, **extra) == expected


def test_the_backend_is_checked_once_as_a_usage_error() -> None:
    assert check_codec("pillow", None) is None  # no options: the defaults
    assert check_codec("pillow", None, EncodeOptions(quality=50)) is None
    assert (
        refusal(check_codec, "ffmpeg", None)
        == "--backend must be one of pillow, cwebp, got 'ffmpeg'"
    )
    assert refusal(check_codec, "pillow", None, EncodeOptions(preset="photo")) == (
        "the pillow backend cannot honour -preset; use --backend cwebp"
    )
    assert refusal(check_codec, "cwebp", MISSING) == f"--cwebp: {MISSING} is not an executable file"


def test_a_compress_job_takes_the_documented_defaults(tmp_path: Path) -> None:
    options = EncodeOptions(quality=60)
    assert compress_job(tmp_path, options) == CompressJob(
        output_dir=tmp_path,
        options=options,
        backend="pillow",
        cwebp=None,
        replace=False,
        ignore_transparency=False,
        max_pixels=DEFAULT_MAX_PIXELS,
        max_bytes=DEFAULT_MAX_BYTES,
        force=False,
        auto_orient=False,
        reason_files=True,
    )


def test_a_compress_job_takes_every_setting_given(tmp_path: Path) -> None:
    options = EncodeOptions(quality=30, preset="photo")
    settings: dict[str, object] = dict(
        backend="cwebp", replace=True, ignore_transparency=True, max_pixels=7,
        max_bytes=9, force=True, auto_orient=True, reason_files=False,
    )  # fmt: skip
    job = compress_job(tmp_path, options, **settings)  # type: ignore[arg-type]
    assert job == CompressJob(output_dir=tmp_path, options=options, **settings)  # type: ignore[arg-type]


def test_a_compress_job_refuses_what_its_backend_cannot_do(tmp_path: Path) -> None:
    assert refusal(compress_job, tmp_path, EncodeOptions(sharp_yuv=True)) == (
        "the pillow backend cannot honour -sharp_yuv; use --backend cwebp"
    )
    assert refusal(compress_job, tmp_path, EncodeOptions(), backend="cwebp", cwebp=MISSING) == (
        f"--cwebp: {MISSING} is not an executable file"
    )


def test_a_flip_job_takes_the_documented_defaults() -> None:
    assert flip_job(None) == FlipJob(
        direction="horizontal", suffix="_f", output_dir=None, format="same", force=False,
        max_pixels=DEFAULT_MAX_PIXELS, max_bytes=DEFAULT_MAX_BYTES, auto_orient=False,
    )  # fmt: skip


def test_a_flip_job_takes_every_setting_given(tmp_path: Path) -> None:
    settings: dict[str, object] = dict(
        direction="vertical", suffix="-v", format="png", force=True, max_pixels=5, max_bytes=6,
        auto_orient=True,
    )  # fmt: skip
    job = flip_job(tmp_path, **settings)  # type: ignore[arg-type]
    assert job == FlipJob(output_dir=tmp_path, **settings)  # type: ignore[arg-type]


def test_a_flip_jobs_refusals_word_for_word() -> None:
    assert refusal(flip_job, None, direction="up") == (
        "--direction must be one of horizontal, vertical, got 'up'"
    )
    assert refusal(flip_job, None, format="webp-lossless") == (
        "--format must be one of same, png, got 'webp-lossless'"
    )
    for suffix in ("", "a/b", "/"):
        assert (
            refusal(flip_job, None, suffix=suffix) == "--suffix must be non-empty and hold no '/'"
        )


def test_a_defend_job_takes_the_documented_defaults(tmp_path: Path) -> None:
    settings = DefenseSettings()
    assert defend_job(tmp_path, settings) == DefendJob(
        output_dir=tmp_path, settings=settings, format="png", force=False,
        max_pixels=DEFAULT_MAX_PIXELS, max_bytes=DEFAULT_MAX_BYTES, auto_orient=True,
    )  # fmt: skip


def test_a_defend_job_takes_every_setting_given(tmp_path: Path) -> None:
    settings = DefenseSettings(quality=40, flip=None)
    given: dict[str, object] = dict(
        format="webp-lossless", force=True, max_pixels=3, max_bytes=4, auto_orient=False
    )
    job = defend_job(tmp_path, settings, **given)  # type: ignore[arg-type]
    assert job == DefendJob(output_dir=tmp_path, settings=settings, **given)  # type: ignore[arg-type]


def test_a_defend_job_refuses_a_format_and_checks_the_codec_only_when_it_encodes(
    tmp_path: Path,
) -> None:
    assert refusal(defend_job, tmp_path, DefenseSettings(), format="same") == (
        "--format must be one of png, webp-lossless, got 'same'"
    )
    missing = f"--cwebp: {MISSING} is not an executable file"
    fixed = DefenseSettings(quality=50, backend="cwebp", cwebp=MISSING)
    assert refusal(defend_job, tmp_path, fixed) == missing
    drawn = DefenseSettings(quality_range=(40, 80), backend="cwebp", cwebp=MISSING)
    assert refusal(defend_job, tmp_path, drawn) == missing
    # No WebP round trip: the encoder is never asked for, so a missing one is no refusal.
    flip_only = DefenseSettings(quality=None, backend="cwebp", cwebp=MISSING)
    assert defend_job(tmp_path, flip_only).settings == flip_only
