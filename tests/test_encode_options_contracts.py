"""lltd.codecs.options: cwebp's encoding options as lltd holds them. Defaults are cwebp's; each
range is refused one step outside it in one line naming the value; the options only the cwebp
backend can honour are named; metadata kinds expand; webp-converter's quality 100 rule."""

from __future__ import annotations

import dataclasses

import pytest

from lltd.codecs.options import PRESETS, EncodeOptions, webp_converter_options
from lltd.common.errors import UsageError


def test_the_defaults_are_cwebps() -> None:
    options = EncodeOptions()
    assert (options.quality, options.method, options.lossless, options.alpha_q) == (
        75,
        4,
        False,
        100,
    )
    assert (options.exact, options.sharp_yuv, options.noalpha) == (False, False, False)
    assert options.metadata == ("none",) and options.keeps == frozenset()
    assert (options.preset, options.crop, options.resize) == (None, None, None)
    assert (options.blend_alpha, options.lossless_preset, options.tuning) == (None, None, ())
    assert type(options.quality) is float and options.cwebp_only() is None


def test_options_are_frozen_and_changed_only_into_a_new_value() -> None:
    options = EncodeOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.quality = 10  # type: ignore[misc]
    changed = options.with_(quality=10)
    assert (changed.quality, options.quality) == (10, 75)


@pytest.mark.parametrize(
    ("field", "good", "bad", "message"),
    [
        ("quality", (0, 0.5, 99.5, 100), (-0.5, 100.5, 101),
         "quality must be between 0 and 100, got {}"),
        ("method", (0, 6), (-1, 7), "method (-m) must be between 0 and 6, got {}"),
        ("alpha_q", (0, 100), (-1, 101), "-alpha_q must be between 0 and 100, got {}"),
    ],
)  # fmt: skip
def test_each_range_takes_both_ends_and_refuses_one_step_outside_in_one_line(
    field: str, good: tuple, bad: tuple, message: str
) -> None:
    for value in good:
        assert getattr(EncodeOptions(**{field: value}), field) == value
    for value in bad:
        with pytest.raises(UsageError) as refused:
            EncodeOptions(**{field: value})
        assert str(refused.value) == message.format(f"{value:g}")


def test_presets_are_cwebps_and_another_name_is_refused_listing_them() -> None:
    assert PRESETS == ("default", "photo", "picture", "drawing", "icon", "text")
    for preset in PRESETS:
        assert EncodeOptions(preset=preset).preset == preset
    with pytest.raises(UsageError) as refused:
        EncodeOptions(preset="Photo")
    assert str(refused.value) == (
        "unknown -preset 'Photo'; choose from default, photo, picture, drawing, icon, text"
    )


def test_the_first_option_only_cwebp_honours_is_named() -> None:
    assert EncodeOptions(preset="photo", sharp_yuv=True).cwebp_only() == "-preset"
    assert EncodeOptions(sharp_yuv=True).cwebp_only() == "-sharp_yuv"
    assert EncodeOptions(tuning=(("-mt",), ("-sns", "30"), ("-f", "20"))).cwebp_only() == "-sns"
    assert EncodeOptions(tuning=(("-mt",), ("-exact",))).cwebp_only() is None


@pytest.mark.parametrize(
    ("metadata", "keeps"),
    [
        (("none",), set()),
        (("all",), {"exif", "icc", "xmp"}),
        (("exif", "xmp"), {"exif", "xmp"}),
        (("icc",), {"icc"}),
    ],
)
def test_metadata_kinds_to_keep_with_all_expanded(metadata: tuple, keeps: set) -> None:
    assert EncodeOptions(metadata=metadata).keeps == keeps


@pytest.mark.parametrize(
    ("quality", "expected"),
    [(100, (100, True)), (101, (100, True)), (99, (99, False)), (0, (0, False))],
)
def test_webp_converter_quality_100_means_lossless_at_100(quality: int, expected: tuple) -> None:
    options = webp_converter_options(quality, method=6)
    assert (options.quality, options.lossless, options.method) == (*expected, 6)
