"""``lltd.evaluate.defenses`` in-process and without torch: each named defense's settings, label and
pixels, the baselines against their definitions, the parameter refusals word for word at both
ends of each range, and the draws a randomised defense takes per image."""

from __future__ import annotations

import dataclasses
import io
import random

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lltd.common.errors import UsageError
from lltd.defense import kernel
from lltd.defense.settings import DefenseSettings, Draw
from lltd.evaluate import defenses
from lltd.evaluate.defenses import (
    DEFAULT_DEFENSES,
    DEFENSES,
    DETERMINISTIC,
    EXACT_KINDS,
    LOW_PASS_KINDS,
    RANDOMIZED,
    Defense,
    DefenseParameters,
    Step,
    make_defense,
    parse_defenses,
)

P = DefenseParameters()


def photo(seed: int = 0, side: int = 16) -> np.ndarray:
    """A smooth image with some noise: the codecs change it, but not beyond recognition."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, side, dtype=np.float32)
    image = ramp[None, :, None] + ramp[:, None, None] / 4 + rng.normal(0, 12, (side, side, 3))
    return image.clip(0, 255).astype(np.uint8)


def test_parameters_steps_and_defenses_are_frozen_values() -> None:
    step = Step("jpeg", defenses.jpeg_roundtrip)
    assert step.parameter is None
    for value, field in ((P, "bits"), (step, "parameter"), (make_defense("jpeg", P), "label")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, 1)
    assert len({make_defense("flip", P), make_defense("flip", P), P, DefenseParameters()}) == 2


def test_the_names_and_defaults_are_the_documented_ones() -> None:
    assert DETERMINISTIC == ("none", "webp", "flip", "webp+flip", "jpeg", "bit-depth", "median")
    assert RANDOMIZED == ("webp-band", "flip-random", "resize-pad", "randomized")
    assert DEFENSES == DETERMINISTIC + RANDOMIZED
    assert (*DETERMINISTIC, "webp-band", "randomized") == DEFAULT_DEFENSES
    assert {"flip", "resize-pad"} == EXACT_KINDS and {"webp", "jpeg", "median"} == LOW_PASS_KINDS
    assert (P.webp_quality, P.jpeg_quality, P.bits, P.median_size) == (60, 75, 4, 3)
    assert (P.quality_range, P.resize_pad) == ((40, 80), 0.15)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"webp_quality": -0.5}, "-q must be between 0 and 100, not -0.5"),
        ({"webp_quality": 100.5}, "-q must be between 0 and 100, not 100.5"),
        ({"jpeg_quality": 0}, "--jpeg-quality must be between 1 and 100, not 0"),
        ({"jpeg_quality": 101}, "--jpeg-quality must be between 1 and 100, not 101"),
        ({"bits": 0}, "--bits must be between 1 and 8, not 0"),
        ({"bits": 9}, "--bits must be between 1 and 8, not 9"),
        ({"median_size": 1}, "--median-size must be odd and at least 3, not 1"),
        ({"median_size": 2}, "--median-size must be odd and at least 3, not 2"),
        ({"median_size": 4}, "--median-size must be odd and at least 3, not 4"),
    ],
)
def test_each_parameter_is_refused_just_outside_its_range_in_one_line(changes, message) -> None:
    with pytest.raises(UsageError) as refused:
        DefenseParameters(**changes).validate()
    assert str(refused.value) == message
    with pytest.raises(UsageError) as refused:  # parse_defenses checks them first
        parse_defenses("none", DefenseParameters(**changes))
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "changes",
    [
        {"webp_quality": 0}, {"webp_quality": 100}, {"jpeg_quality": 1},
        {"jpeg_quality": 100}, {"bits": 1}, {"bits": 8}, {"median_size": 3},
        {"median_size": 5}, {"quality_range": (0, 100)}, {"resize_pad": 0.5},
    ],
)  # fmt: skip
def test_each_parameter_is_taken_at_both_ends_of_its_range(changes) -> None:
    DefenseParameters(**changes).validate()


def test_the_randomised_settings_are_refused_under_their_option_names() -> None:
    with pytest.raises(UsageError) as refused:
        DefenseParameters(quality_range=(80, 40)).validate()
    assert str(refused.value).startswith("--quality-range ")
    with pytest.raises(UsageError) as refused:
        DefenseParameters(resize_pad=0.6).validate()
    assert str(refused.value).startswith("--resize-pad ")
    assert type(refused.value) is UsageError  # the command line's error, not the library's
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_the_projects_defenses_are_kernel_settings_with_their_labels() -> None:
    parameters = DefenseParameters(webp_quality=55, quality_range=(30, 70), resize_pad=0.2)
    expected = {
        "webp": (DefenseSettings(quality=55, flip=None), "webp q55"),
        "flip": (DefenseSettings(quality=None), "flip"),
        "webp+flip": (DefenseSettings(quality=55), "webp q55 + flip"),
        "webp-band": (DefenseSettings(quality=55, quality_range=(30, 70), flip=None), None),
        "flip-random": (DefenseSettings(quality=None, flip="random"), "flip random"),
        "resize-pad": (DefenseSettings(quality=None, flip=None, resize_pad=0.2), None),
        "randomized": (
            DefenseSettings(quality=55, quality_range=(30, 70), flip="random", resize_pad=0.2),
            None,
        ),
    }
    for name, (settings, label) in expected.items():
        defense = make_defense(name, parameters)
        assert defense.name == name and defense.settings == settings and defense.steps == ()
        assert defense.label == settings.label() and (label is None or defense.label == label)
        assert defenses.project_settings(name, parameters) == settings
        assert not defense.identity
        assert defense.random is (name in RANDOMIZED)
    assert make_defense("webp-band", parameters).label.startswith("webp q30-70")
    for name in ("none", "jpeg", "bit-depth", "median", "nope"):
        assert defenses.project_settings(name, parameters) is None


def test_the_baselines_are_single_steps_with_their_parameters_in_the_label() -> None:
    parameters = DefenseParameters(jpeg_quality=33, bits=3, median_size=5)
    none = make_defense("none", parameters)
    assert (none.name, none.label, none.steps, none.settings) == ("none", "none", (), None)
    assert none.identity and not none.random and not none.lossy
    jpeg = make_defense("jpeg", parameters)
    assert (jpeg.name, jpeg.label) == ("jpeg", "jpeg q33")
    assert jpeg.steps == (Step("jpeg", defenses.jpeg_roundtrip, 33),)
    bits = make_defense("bit-depth", parameters)
    assert (bits.name, bits.label) == ("bit-depth", "3-bit")
    assert bits.steps == (Step("bit-depth", defenses.reduce_bit_depth, 3),)
    med = make_defense("median", parameters)
    assert (med.name, med.label) == ("median", "median 5x5")
    assert med.steps == (Step("median", defenses.median, 5),)
    for defense in (jpeg, bits, med):
        assert not defense.identity and not defense.random and defense.lossy
        assert defense.plan(None) == [(defense.steps[0].kind, defense.steps[0].parameter)]
        assert defense.draws(3, None) == [None, None, None]
    with pytest.raises(UsageError) as refused:
        make_defense("blur", parameters)
    assert str(refused.value) == f"unknown defense 'blur'; choose from {', '.join(DEFENSES)}"


def test_only_defenses_with_a_step_beyond_flip_and_resize_pad_are_lossy() -> None:
    lossy = {name: make_defense(name, P).lossy for name in DEFENSES}
    assert lossy == {
        "none": False, "webp": True, "flip": False, "webp+flip": True, "jpeg": True,
        "bit-depth": True, "median": True, "webp-band": True, "flip-random": False,
        "resize-pad": False, "randomized": True,
    }  # fmt: skip


def test_parse_defenses_keeps_the_order_drops_repeats_and_blanks() -> None:
    got = parse_defenses(" flip , none,,flip, jpeg ,", P)
    assert [d.name for d in got] == ["flip", "none", "jpeg"]
    for empty in ("", " , ,"):
        with pytest.raises(UsageError) as refused:
            parse_defenses(empty, P)
        assert str(refused.value) == "--defenses is empty"
    with pytest.raises(UsageError) as refused:
        parse_defenses("none,Flip", P)
    assert str(refused.value).startswith("unknown defense 'Flip'; choose from none, webp, flip, ")


def test_bit_depth_reduction_keeps_evenly_spaced_levels_spanning_0_to_255() -> None:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, 2)
    one = defenses.reduce_bit_depth(values, 1)
    flat = one.reshape(-1, 3)[:, 0]  # value v at position v
    assert set(np.unique(one)) == {0, 255} and flat[127] == 0 and flat[128] == 255
    two = defenses.reduce_bit_depth(values, 2)
    assert sorted(np.unique(two)) == [0, 85, 170, 255]
    assert two.dtype == np.uint8 and two.shape == values.shape
    four = defenses.reduce_bit_depth(values, 4)
    assert sorted(np.unique(four)) == [17 * k for k in range(16)]
    for v in (0, 8, 9, 25, 26, 128, 247, 255):  # nearest of the 16 levels, as documented
        assert four.reshape(-1, 3)[v, 0] == 17 * round(v / 17), v
    assert np.array_equal(defenses.reduce_bit_depth(values, 8), values)


def test_the_median_filter_is_pillows_of_the_given_size() -> None:
    image = photo(1)
    for size in (3, 5):
        expected = np.asarray(Image.fromarray(image).filter(ImageFilter.MedianFilter(size)))
        assert np.array_equal(defenses.median(image, size), expected)
    assert not np.array_equal(defenses.median(image, 3), defenses.median(image, 5))
    spike = np.zeros((5, 5, 3), np.uint8)
    spike[2, 2] = 255
    assert not defenses.median(spike, 3).any()  # a lone bright pixel is removed


def test_jpeg_is_a_real_round_trip_at_the_given_quality() -> None:
    image = photo(2)
    data = defenses.jpeg_bytes(image, 40)
    assert data[:3] == b"\xff\xd8\xff"
    reference = io.BytesIO()
    Image.fromarray(image).save(reference, format="JPEG", quality=40)
    assert data == reference.getvalue()
    assert len(defenses.jpeg_bytes(image, 95)) > len(data)
    assert defenses.jpeg_bytes(image, 40.7) == data  # a whole quality
    back = defenses.jpeg_roundtrip(image, 40)
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.array_equal(back, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert not np.array_equal(back, image) and np.abs(back.astype(int) - image).mean() < 20


def test_webp_bytes_are_the_kernels_webp_step_and_decode_reads_them() -> None:
    image = photo(3)
    data = defenses.webp_bytes(image, 50)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    kernel_view = kernel.apply_array(image, DefenseSettings(quality=50, flip=None))
    assert np.array_equal(defenses.decode(data), kernel_view)
    assert len(defenses.webp_bytes(image, 95)) > len(data)
    grey = Image.fromarray(image).convert("L")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    decoded = defenses.decode(buffer.getvalue())  # any mode comes back as 8-bit RGB
    assert decoded.shape == (16, 16, 3) and np.array_equal(decoded[..., 0], np.asarray(grey))


def test_a_pipeline_applies_its_steps_in_order() -> None:
    image = photo(4)
    calls: list[tuple[str, int]] = []

    def step(name: str):
        def apply(array: np.ndarray, parameter: int) -> np.ndarray:
            calls.append((name, parameter))
            return array + np.uint8(parameter)

        return apply

    chain = Defense("x", "x", (Step("a", step("a"), 1), Step("b", step("b"), 2)))
    assert np.array_equal(chain(image), image + np.uint8(3))
    assert calls == [("a", 1), ("b", 2)]
    assert chain.plan(None) == [("a", 1), ("b", 2)] and chain.lossy
    assert Defense("y", "y", (Step("flip", step("f"), 0),)).lossy is False


def test_the_projects_defense_is_the_kernels_pixels_for_each_draw() -> None:
    images = np.stack([photo(seed) for seed in range(4)])
    for name in ("webp", "flip", "webp+flip"):
        defense = make_defense(name, P)
        want = np.stack([kernel.apply_array(im, defense.settings) for im in images])
        assert np.array_equal(defense.batch(images), want), name
        assert np.array_equal(defense(images[0]), want[0])
        assert defense.draws(2, None) == [defense.settings.draw()] * 2
        assert defense.plan(defense.draws(1, None)[0]) == kernel.steps(
            defense.settings, defense.settings.draw()
        )
    flipped = make_defense("flip", P).batch(images)
    assert np.array_equal(flipped, images[:, :, ::-1])
    none = make_defense("none", P)
    assert none.batch(images) is images and np.array_equal(none(images[1]), images[1])


def test_a_randomised_defense_draws_per_image_from_the_seeded_generator() -> None:
    randomized = make_defense("randomized", P)
    first = randomized.draws(6, np.random.default_rng(5))
    assert first == randomized.draws(6, np.random.default_rng(5))  # reproducible
    assert first != randomized.draws(6, np.random.default_rng(6))
    assert len(set(first)) == 6 and all(isinstance(d, Draw) for d in first)
    assert all(40 <= d.quality <= 80 and d.flip in ("horizontal", "vertical") for d in first)
    assert all(0.85 <= d.scale <= 1.0 for d in first)
    # No generator: the draws of generator 0.
    assert randomized.draws(3, None) == randomized.draws(3, np.random.default_rng(0))
    # Each image gets its own draw, in order: the batch is each image under its draw.
    images = np.stack([photo(seed) for seed in range(6)])
    got = randomized.batch(images, draws=first)
    for image, draw, out in zip(images, first, got, strict=True):
        assert np.array_equal(out, kernel.apply_array(image, randomized.settings, draw))
    assert np.array_equal(randomized.batch(images, np.random.default_rng(5)), got)
    assert np.array_equal(randomized(images[0], np.random.default_rng(5)), got[0])
    with pytest.raises(ValueError):
        randomized.batch(images, draws=first[:5])  # one draw per image, no fewer
    assert randomized.plan(first[0]) == kernel.steps(randomized.settings, first[0])


def test_what_the_generator_seeds_is_one_python_random_stream_for_all_images() -> None:
    flip_random = make_defense("flip-random", P)
    rng = np.random.default_rng(9)
    source = random.Random(int(np.random.default_rng(9).integers(2**62)))
    expected = [flip_random.settings.draw(source) for _ in range(8)]
    assert flip_random.draws(8, rng) == expected
    assert {d.flip for d in expected} == {"horizontal", "vertical"}
