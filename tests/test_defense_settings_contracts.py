"""The defense as one value (:mod:`lltd.defense.settings`), in-process: every limit at, under
and over its bound, every error word for word, the draws against Python's own ``random``, and
the labels and report fields the other front ends print."""

from __future__ import annotations

import random

import pytest

from lltd.common.errors import UsageError
from lltd.defense.settings import (
    CLI_NAMES,
    DIRECTIONS,
    FLIPS,
    LABELS,
    MAX_RESIZE_PAD,
    ORDERS,
    DefenseSettings,
    DefenseSettingsError,
    Draw,
    parse_quality_range,
)


def refusal(**settings: object) -> str:
    with pytest.raises(DefenseSettingsError) as refused:
        DefenseSettings(**settings)  # type: ignore[arg-type]
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, UsageError)
    return str(refused.value)


def test_the_defaults_are_the_papers_defense() -> None:
    s = DefenseSettings()
    assert (s.quality, s.flip, s.order, s.method, s.backend) == (
        60,
        "horizontal",
        "webp-flip",
        4,
        "pillow",
    )
    assert (s.cwebp, s.quality_range, s.resize_pad, s.seed) == (None, None, None, None)
    assert not s.randomised
    assert (DIRECTIONS, FLIPS, ORDERS, MAX_RESIZE_PAD) == (
        ("horizontal", "vertical"),
        ("horizontal", "vertical", "random"),
        ("webp-flip", "flip-webp"),
        0.5,
    )


@pytest.mark.parametrize("quality", [0, 100, 0.0, 100.0, 75.5, 1])
def test_a_quality_from_0_to_100_inclusive_is_taken(quality: float) -> None:
    assert DefenseSettings(quality=quality).quality == quality


@pytest.mark.parametrize("quality", [-0.001, 100.001, -1, 101, True, "60"])
def test_a_quality_outside_0_100_or_not_a_number_is_refused(quality: object) -> None:
    assert refusal(quality=quality) == f"quality must be between 0 and 100, got {quality!r}"


@pytest.mark.parametrize("method", [0, 6, 4])
def test_a_method_from_0_to_6_is_taken(method: int) -> None:
    assert DefenseSettings(method=method).method == method


@pytest.mark.parametrize("method", [-1, 7, 4.0, True, "4"])
def test_a_method_outside_0_6_or_not_whole_is_refused(method: object) -> None:
    assert refusal(method=method) == f"method must be between 0 and 6, got {method!r}"


@pytest.mark.parametrize("pad", [0.5, 0.25, 1e-9, 1])
def test_a_resize_pad_up_to_a_half_is_taken_and_zero_means_off(pad: float) -> None:
    if pad == 1:
        assert refusal(resize_pad=pad) == "resize_pad must be between 0 (off) and 0.5, got 1"
        return
    assert DefenseSettings(resize_pad=pad).resize_pad == pad
    assert DefenseSettings(resize_pad=0).resize_pad is None
    assert DefenseSettings(resize_pad=0.0).resize_pad is None


@pytest.mark.parametrize("pad", [0.5000001, -0.1, True, "0.1"])
def test_a_resize_pad_over_a_half_negative_or_not_a_number_is_refused(pad: object) -> None:
    assert refusal(resize_pad=pad) == f"resize_pad must be between 0 (off) and 0.5, got {pad!r}"


def test_flip_order_backend_and_seed_are_checked_by_name() -> None:
    assert refusal(flip="diagonal") == (
        "flip direction must be one of horizontal, vertical, random (or none), got 'diagonal'"
    )
    assert refusal(order="flip-first") == (
        "order must be one of webp-flip, flip-webp, got 'flip-first'"
    )
    assert refusal(backend="libwebp") == "backend must be one of pillow, cwebp, got 'libwebp'"
    assert refusal(seed=1.5) == "seed must be a whole number, got 1.5"
    assert refusal(seed=True) == "seed must be a whole number, got True"
    for flip in (*FLIPS, None):
        assert DefenseSettings(flip=flip).flip == flip
    for order in ORDERS:
        assert DefenseSettings(order=order).order == order
    assert DefenseSettings(backend="cwebp").backend == "cwebp"
    assert DefenseSettings(seed=0).seed == 0


@pytest.mark.parametrize(
    ("band", "taken"),
    [((0, 100), (0, 100)), ((40, 40), (40, 40)), ([30, 70], (30, 70)), ("40-80", (40, 80))],
)
def test_a_quality_band_within_0_100_is_taken_as_a_tuple(band: object, taken: tuple) -> None:
    s = DefenseSettings(quality_range=band)  # type: ignore[arg-type]
    assert s.quality_range == taken and s.randomised


@pytest.mark.parametrize(
    ("band", "message"),
    [
        ((-1, 50), "must satisfy 0 <= LOW <= HIGH <= 100, got -1-50"),
        ((50, 101), "must satisfy 0 <= LOW <= HIGH <= 100, got 50-101"),
        ((51, 50), "must satisfy 0 <= LOW <= HIGH <= 100, got 51-50"),
        ((40,), "must be two whole numbers LOW-HIGH (e.g. 40-80), got (40,)"),
        ((40, 50, 60), "must be two whole numbers LOW-HIGH (e.g. 40-80), got (40, 50, 60)"),
        ((40.0, 50), "must be two whole numbers LOW-HIGH (e.g. 40-80), got (40.0, 50)"),
        ((True, 50), "must be two whole numbers LOW-HIGH (e.g. 40-80), got (True, 50)"),
        ((40, False), "must be two whole numbers LOW-HIGH (e.g. 40-80), got (40, False)"),
        (40, "must be two whole numbers LOW-HIGH (e.g. 40-80), got 40"),
        ("40-x", "must be LOW-HIGH in whole numbers (e.g. 40-80), got '40-x'"),
    ],
)
def test_a_bad_quality_band_is_refused_word_for_word(band: object, message: str) -> None:
    assert refusal(quality_range=band) == f"quality_range {message}"


def test_parse_quality_range_reads_low_high_and_a_single_number() -> None:
    assert parse_quality_range("40-80") == (40, 80)
    assert parse_quality_range(" 30-31 ") == (30, 31)
    assert parse_quality_range("55") == (55, 55)
    with pytest.raises(DefenseSettingsError) as refused:
        parse_quality_range("80-40")
    assert refused.value.setting == "quality_range"
    assert refused.value.problem == "must satisfy 0 <= LOW <= HIGH <= 100, got 80-40"


def test_a_band_needs_the_webp_step() -> None:
    assert refusal(quality=None, quality_range=(40, 80)) == (
        "quality_range needs the WebP step, which is off"
    )


def test_from_options_spells_errors_as_the_front_end_does_with_its_place() -> None:
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(names=CLI_NAMES, where="watch.toml", method=9)
    assert str(refused.value) == "watch.toml: -m/--method must be between 0 and 6, got 9"
    assert not isinstance(refused.value, DefenseSettingsError)
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(names=CLI_NAMES, direction="up")
    assert str(refused.value) == (
        "--direction must be one of horizontal, vertical, random (or none), got 'up'"
    )
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(flip="up")  # the library's own names by default
    assert str(refused.value).startswith("flip direction must be one of")


def test_from_options_refuses_a_fixed_quality_beside_a_band() -> None:
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(names=CLI_NAMES, quality=75.0, quality_range="40-80")
    assert str(refused.value) == (
        "--quality-range 40-80 draws the WebP quality per image; -q/--quality 75 would be "
        "ignored: give one of the two"
    )
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(quality=60.5, quality_range="40-80")
    assert str(refused.value) == (
        "quality_range 40-80 draws the WebP quality per image; quality 60.5 would be "
        "ignored: give one of the two"
    )


def test_from_options_switches_and_aliases() -> None:
    s = DefenseSettings.from_options(direction="vertical", quality=None, seed=None, method=2)
    assert (s.flip, s.quality, s.method) == ("vertical", 60, 2)  # None: not given, the default
    assert DefenseSettings.from_options(no_webp=True).quality is None
    assert DefenseSettings.from_options(no_flip=True).flip is None
    off = DefenseSettings.from_options(no_webp=True, no_flip=True, quality=80)
    assert (off.quality, off.flip) == (None, None)
    assert DefenseSettings.from_options(quality_range="50-60").quality_range == (50, 60)


def test_the_error_carries_its_setting_and_problem_and_renames() -> None:
    error = DefenseSettingsError("flip", "is odd")
    assert str(error) == "flip direction is odd"
    assert (error.setting, error.problem) == ("flip", "is odd")
    assert str(error.named(CLI_NAMES)) == "--direction is odd"
    assert str(error.named({}, "x.toml")) == "x.toml: flip direction is odd"
    assert str(error.named({"flip": "direction"}, None)) == "direction is odd"
    assert LABELS["flip"] == "flip direction" and set(LABELS) == set(CLI_NAMES)


@pytest.mark.parametrize(
    ("settings", "randomised"),
    [
        ({}, False),
        ({"seed": 4}, False),
        ({"flip": "vertical"}, False),
        ({"flip": "random"}, True),
        ({"quality_range": (40, 80)}, True),
        ({"resize_pad": 0.1}, True),
    ],
)
def test_randomised_means_a_band_a_random_flip_or_resize_pad(
    settings: dict, randomised: bool
) -> None:
    assert DefenseSettings(**settings).randomised is randomised


def test_a_fixed_defense_draws_its_own_settings_every_time() -> None:
    s = DefenseSettings(quality=33, flip="vertical")
    assert s.draw() == Draw(33, "vertical") == s.draw_for("a.png")
    assert s.draw() == Draw(33, "vertical", 1.0, (0.0, 0.0))


def test_a_seeded_rng_is_the_seed_with_the_key_as_bytes() -> None:
    s = DefenseSettings(seed=5, flip="random")
    assert s.rng().random() == random.Random(5).random()
    assert s.rng("a/b.png").random() == random.Random(b"5:a/b.png").random()
    # A name that is not UTF-8 (surrogate-escaped) seeds by its bytes.
    name = b"caf\xe9.png".decode("utf-8", "surrogateescape")
    assert s.rng(name).random() == random.Random(b"5:caf\xe9.png").random()
    assert s.rng("a").random() != s.rng("b").random()


def test_an_unseeded_rng_is_fresh_entropy() -> None:
    s = DefenseSettings(flip="random")
    assert len({s.rng("same").random() for _ in range(5)}) == 5


def test_the_draws_follow_pythons_random_in_a_fixed_order() -> None:
    s = DefenseSettings(quality_range=(40, 80), flip="random", resize_pad=0.25, seed=9)
    expected = random.Random(b"9:x.png")
    quality = float(expected.randint(40, 80))
    flip = expected.choice(DIRECTIONS)
    scale = 1.0 - expected.uniform(0.0, 0.25)
    offset = (expected.random(), expected.random())
    draw = s.draw_for("x.png")
    assert draw == Draw(quality, flip, scale, offset)
    assert isinstance(draw.quality, float)
    assert s.draw(random.Random(b"9:x.png")) == draw


def test_a_band_alone_keeps_the_flip_and_no_resize() -> None:
    s = DefenseSettings(quality_range=(10, 10), flip="vertical", seed=1)
    assert s.draw_for("k") == Draw(10.0, "vertical")
    flips = DefenseSettings(quality=None, flip="random", seed=3)
    rng = random.Random(b"3:k")
    assert flips.draw_for("k") == Draw(None, rng.choice(DIRECTIONS))


def test_the_draws_cover_both_ends_of_the_band_and_both_axes() -> None:
    s = DefenseSettings(quality_range=(40, 42), flip="random", resize_pad=0.5, seed=2)
    draws = [s.draw_for(str(i)) for i in range(200)]
    assert {d.quality for d in draws} == {40.0, 41.0, 42.0}
    assert {d.flip for d in draws} == set(DIRECTIONS)
    assert all(0.5 <= d.scale <= 1.0 for d in draws)
    assert min(d.scale for d in draws) < 0.55 and max(d.scale for d in draws) > 0.95


def test_draw_without_an_rng_uses_the_settings_own_source() -> None:
    s = DefenseSettings(flip="random", seed=7)
    assert s.draw() == Draw(60, random.Random(7).choice(DIRECTIONS))


def test_the_report_fields() -> None:
    assert DefenseSettings().report() == {
        "quality": 60,
        "direction": "horizontal",
        "order": "webp-flip",
        "method": 4,
        "backend": "pillow",
        "resize_pad": None,
        "seed": None,
    }
    banded = DefenseSettings(
        quality_range=(40, 80), flip="random", order="flip-webp", method=6,
        backend="cwebp", resize_pad=0.1, seed=3,
    )  # fmt: skip
    assert banded.report() == {
        "quality": "40-80",
        "direction": "random",
        "order": "flip-webp",
        "method": 6,
        "backend": "cwebp",
        "resize_pad": 0.1,
        "seed": 3,
    }


@pytest.mark.parametrize(
    ("settings", "label"),
    [
        ({}, "webp q60 + flip"),
        ({"quality": 75.5}, "webp q75.5 + flip"),
        ({"flip": "vertical"}, "webp q60 + flip vertical"),
        ({"flip": "random", "order": "flip-webp"}, "flip random + webp q60"),
        ({"quality_range": (40, 80)}, "webp q40-80 + flip"),
        ({"resize_pad": 0.1, "order": "flip-webp"}, "flip + webp q60 + resize-pad 0.1"),
        ({"quality": None}, "flip"),
        ({"flip": None}, "webp q60"),
        ({"quality": None, "flip": None}, "none"),
        ({"quality": None, "flip": None, "resize_pad": 0.2}, "resize-pad 0.2"),
    ],
)
def test_the_label_names_the_steps_in_order(settings: dict, label: str) -> None:
    assert DefenseSettings(**settings).label() == label


def test_with_changes_one_setting_and_validates_it() -> None:
    s = DefenseSettings()
    assert s.with_(quality=30) == DefenseSettings(quality=30)
    assert s.quality == 60
    with pytest.raises(DefenseSettingsError):
        s.with_(method=8)


def test_the_command_line_spelling_of_each_setting() -> None:
    assert CLI_NAMES == {
        "quality": "-q/--quality",
        "quality_range": "--quality-range",
        "flip": "--direction",
        "order": "--order",
        "method": "-m/--method",
        "backend": "--backend",
        "resize_pad": "--resize-pad",
        "seed": "--seed",
    }


def test_a_front_end_without_a_name_for_quality_gets_the_word_quality() -> None:
    with pytest.raises(UsageError) as refused:
        DefenseSettings.from_options(names={}, quality=70.0, quality_range="40-80")
    assert str(refused.value) == (
        "quality_range 40-80 draws the WebP quality per image; quality 70 would be "
        "ignored: give one of the two"
    )
