"""Randomised defenses (Xie et al. 2018): a WebP quality band, a random flip axis and random
resize-and-pad, seedable; through the value, the kernel and the real command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_DATA, RunLltd, assert_one_line_error, tree_digests
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import lltd
from lltd.defense import DIRECTIONS, DefenseSettings, parse_quality_range
from lltd.imaging.imageio import open_image

RANDOM_FLAGS = ["--quality-range", "30-70", "--direction", "random", "--resize-pad", "0.2"]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with open_image(SAMPLE_DATA / "astronaut.png") as image:
        return image.convert("RGB")


bands = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(lambda b: (min(b), max(b)))


@settings(max_examples=60, deadline=None)
@given(
    band=bands,
    pad=st.floats(0.01, 0.5),
    seed=st.integers(-(2**63), 2**63),
    key=st.text(max_size=20),
)
def test_draws_respect_their_bands_and_replay_with_the_seed(
    band: tuple[int, int], pad: float, seed: int, key: str
) -> None:
    value = DefenseSettings(quality_range=band, flip="random", resize_pad=pad, seed=seed)
    first = value.draw(value.rng(key))
    assert first == value.draw(value.rng(key))  # same seed and key: same draw
    assert first.quality is not None and first.quality == int(first.quality)
    assert band[0] <= first.quality <= band[1]
    assert first.flip in DIRECTIONS
    assert 1 - pad <= first.scale <= 1
    assert all(0 <= share < 1 for share in first.offset)


def test_every_quality_of_the_band_and_both_axes_are_drawn() -> None:
    value = DefenseSettings(quality_range=(40, 43), flip="random", seed=5)
    rng = value.rng()
    draws = [value.draw(rng) for _ in range(400)]
    assert {d.quality for d in draws} == {40.0, 41.0, 42.0, 43.0}
    assert {d.flip for d in draws} == set(DIRECTIONS)


def test_unseeded_draws_vary_and_seeded_ones_differ_by_seed_and_key() -> None:
    value = DefenseSettings(quality_range=(0, 100), resize_pad=0.3)
    assert len({value.draw() for _ in range(20)}) > 1
    assert len({value.draw(value.rng("a.png")) for _ in range(20)}) > 1  # no seed: no replay
    seeded = value.with_(seed=1)
    assert seeded.draw(seeded.rng("a.png")) != seeded.draw(seeded.rng("b.png"))
    assert seeded.draw(seeded.rng("a.png")) != value.with_(seed=2).draw(
        value.with_(seed=2).rng("a.png")
    )


def test_a_band_of_one_is_that_fixed_quality(photo: Image.Image) -> None:
    banded = lltd.defend(photo, quality_range=(55, 55))
    fixed = lltd.defend(photo, quality=55)
    np.testing.assert_array_equal(np.asarray(banded), np.asarray(fixed))
    assert not np.array_equal(np.asarray(banded), np.asarray(lltd.defend(photo)))


def test_a_random_axis_is_one_of_the_two_flips(photo: Image.Image) -> None:
    by_axis = {d: np.asarray(lltd.defend(photo, flip=d)) for d in DIRECTIONS}
    seen = set()
    for key in map(str, range(12)):
        out = np.asarray(lltd.defend(photo, flip="random", seed=3, key=key))
        matches = [d for d, pixels in by_axis.items() if np.array_equal(out, pixels)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(DIRECTIONS)


@pytest.mark.parametrize(
    ("shape", "fill"),
    [((37, 53, 3), 255), ((40, 30), 200), ((29, 31, 1), 90), ((33, 21, 4), 255)],
)
def test_resize_pad_keeps_the_shape_and_pads_with_zeros(shape: tuple[int, ...], fill: int) -> None:
    array = np.full(shape, fill, np.uint8)
    value = DefenseSettings(quality=None, flip=None, resize_pad=0.5, seed=9)
    for key in ("a", "b", "c"):
        draw = value.draw(value.rng(key))
        out = lltd.defend(array, value, key=key)
        assert out.shape == array.shape and out.dtype == np.uint8
        height, width = shape[:2]
        new_w, new_h = round(width * draw.scale), round(height * draw.scale)
        left = round(draw.offset[0] * (width - new_w))
        top = round(draw.offset[1] * (height - new_h))
        inside = np.zeros(shape[:2], bool)
        inside[top : top + new_h, left : left + new_w] = True
        assert (out[inside] == fill).all()  # a flat image resizes to itself
        assert (out[~inside] == 0).all() and (~inside).any()


def test_randomised_shapes_are_kept_for_every_input_type(photo: Image.Image) -> None:
    value = DefenseSettings(quality_range=(20, 90), flip="random", resize_pad=0.25)
    assert lltd.defend(photo, value).size == photo.size
    gray = np.asarray(photo.convert("L"))
    assert lltd.defend(gray, value).shape == gray.shape
    rgba = np.asarray(photo.convert("RGBA"))
    assert lltd.defend(rgba, value).shape == rgba.shape


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    channels=st.sampled_from([0, 1, 3, 4]),
    seed=st.integers(0, 2**32),
)
def test_any_small_image_keeps_its_shape_and_dtype(
    height: int, width: int, channels: int, seed: int
) -> None:
    shape = (height, width) if channels == 0 else (height, width, channels)
    array = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    value = DefenseSettings(quality_range=(0, 100), flip="random", resize_pad=0.5, seed=seed)
    out = lltd.defend(array, value)
    assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, lltd.defend(array, value))  # seeded: replayed


def test_seeded_webpflip_replays_its_sequence_and_unseeded_varies(photo: Image.Image) -> None:
    torch = pytest.importorskip("torch")
    from lltd.torch import WebPFlip

    image = torch.from_numpy(np.asarray(photo).copy()).permute(2, 0, 1)
    batch = image.unsqueeze(0).repeat(3, 1, 1, 1)
    seeded = dict(quality_range=(30, 70), flip="random", resize_pad=0.2, seed=4)
    a, b = WebPFlip(workers=2, **seeded), WebPFlip(workers=1, **seeded)
    first, second = a(batch), a(batch)
    assert torch.equal(first, b(batch)) and torch.equal(second, b(batch))
    assert not torch.equal(first, second)  # the sequence goes on
    assert not torch.equal(first[0], first[1])  # each image of a batch draws for itself
    assert first.shape == batch.shape
    unseeded = WebPFlip(quality_range=(30, 70), resize_pad=0.2, workers=1)
    assert not torch.equal(unseeded(image), unseeded(image))
    assert WebPFlip(settings=DefenseSettings(**seeded)).settings == DefenseSettings(**seeded)


def test_seeded_cli_runs_replay_whatever_the_parallelism(tmp_path: Path, run_lltd: RunLltd) -> None:
    source = tmp_path / "in"
    shutil.copytree(SAMPLE_DATA, source)
    digests = []
    for jobs, seed in (("1", "8"), ("2", "8"), ("2", "9")):
        out = tmp_path / f"out-{jobs}-{seed}"
        result = run_lltd("defend", source, "-o", out, "-j", jobs, "--seed", seed, *RANDOM_FLAGS)
        assert result.returncode == 0, result.stderr
        digests.append(tree_digests(out))
    assert len(digests[0]) == 10
    assert digests[0] == digests[1]
    assert all(digests[0][name] != digests[2][name] for name in digests[0])  # another seed


def test_a_name_that_is_not_utf8_draws_reproducibly(tmp_path: Path, run_lltd: RunLltd) -> None:
    import os

    source = tmp_path / "in"
    source.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: a surrogate escape in Python
    shutil.copy(SAMPLE_DATA / "astronaut.png", source / name)
    runs = []
    for out in ("a", "b"):
        result = run_lltd("defend", source, "-o", tmp_path / out, "--seed", "3", *RANDOM_FLAGS)
        assert result.returncode == 0, result.stderr
        runs.append(tree_digests(tmp_path / out))
    assert runs[0] == runs[1] and len(runs[0]) == 1
    value = DefenseSettings(quality_range=(30, 70), flip="random", resize_pad=0.2, seed=3)
    with open_image(source / name) as image:
        expected = np.asarray(lltd.defend(image, value, key=name))
    with open_image(tmp_path / "a" / Path(name).with_suffix(".png")) as written:
        np.testing.assert_array_equal(np.asarray(written), expected)


def test_unseeded_cli_runs_differ(tmp_path: Path, run_lltd: RunLltd) -> None:
    source = tmp_path / "in"
    shutil.copytree(SAMPLE_DATA, source)
    runs = []
    for name in ("a", "b"):
        result = run_lltd("defend", source, "-o", tmp_path / name, "--quiet", *RANDOM_FLAGS)
        assert result.returncode == 0, result.stderr
        runs.append(tree_digests(tmp_path / name))
    assert runs[0].keys() == runs[1].keys()
    assert sum(runs[0][k] != runs[1][k] for k in runs[0]) >= 8  # a continuous scale: all, really


def test_json_report_names_the_randomised_settings(tmp_path: Path, run_lltd: RunLltd) -> None:
    import json

    report = tmp_path / "report.json"
    flags = [*RANDOM_FLAGS, "--seed", "1", "--json", str(report)]
    result = run_lltd("defend", SAMPLE_DATA / "more photos", "-o", tmp_path / "out", *flags)
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    defense = data["settings"]["defense"]
    fields = {k: defense[k] for k in ("quality_range", "flip", "resize_pad", "seed")}
    assert fields == {"quality_range": [30, 70], "flip": "random", "resize_pad": 0.2, "seed": 1}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quality-range", "80-40"], "--quality-range"),
        (["--quality-range", "forty"], "--quality-range"),
        (["--quality-range", "40-120"], "--quality-range"),
        (["--quality-range", "40-80", "--no-webp"], "--quality-range"),
        (["--resize-pad", "0.9"], "--resize-pad"),
        (["--resize-pad", "-0.1"], "--resize-pad"),
        (["--direction", "diagonal"], "--direction"),
    ],
)
def test_bad_randomised_options_are_one_line_usage_errors(
    tmp_path: Path, run_lltd: RunLltd, args: list[str], needle: str
) -> None:
    out = tmp_path / "out"
    result = run_lltd("defend", SAMPLE_DATA, "-o", out, *args)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, "lltd: error:", needle)
    assert not out.exists()


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('quality_range = "70-30"', "quality_range"),
        ("quality_range = [40]", "quality_range"),
        ("resize_pad = 2", "resize_pad"),
        ('direction = "sideways"', "direction"),
        ('action = "flip"\nseed = 3', "seed applies to defend"),
    ],
)
def test_bad_watch_settings_name_the_file(
    tmp_path: Path, run_lltd: RunLltd, table: str, needle: str
) -> None:
    config = tmp_path / "bad.toml"
    (tmp_path / "in").mkdir()
    config.write_text(f'[[folder]]\ninput = "in"\noutput = "out"\n{table}\n')
    result = run_lltd("watch", "--config", config)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, str(config), needle)


def test_bad_watch_flags_are_usage_errors(tmp_path: Path, run_lltd: RunLltd) -> None:
    (tmp_path / "in").mkdir()
    for args, needle in (
        (["--quality-range", "9-1"], "quality_range"),
        (["--resize-pad", "0.7"], "resize_pad"),
        (["--direction", "random", "--action", "flip"], "direction"),
    ):
        result = run_lltd("watch", tmp_path / "in", "-o", tmp_path / "out", *args)
        assert result.returncode == 2, result.stderr
        assert_one_line_error(result.stderr, "lltd: error:", needle)


def test_steps_state_the_order_and_compose_one_by_one(photo: Image.Image) -> None:
    from lltd.defense.kernel import apply_array, apply_step, steps

    assert steps(DefenseSettings(), DefenseSettings().draw()) == [
        ("webp", 60),
        ("flip", "horizontal"),
    ]
    value = DefenseSettings(
        quality_range=(30, 70), flip="random", resize_pad=0.3, order="flip-webp", seed=2
    )
    draw = value.draw_for("x.png")
    plan = steps(value, draw)
    assert [kind for kind, _ in plan] == ["flip", "webp", "resize-pad"]
    # Each step alone through the kernel (how an attack that treats steps apart runs them)
    # composes to the whole defense.
    array = np.asarray(photo)
    out = array
    for kind, parameter in plan:
        out = apply_step(out, kind, parameter, value)
    np.testing.assert_array_equal(out, apply_array(array, value, draw))
    with pytest.raises(ValueError, match="step"):
        apply_step(array, "blur", 1)
    np.testing.assert_array_equal(out, lltd.defend(array, value, key="x.png"))


def test_library_errors_are_value_errors_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="quality_range"):
        DefenseSettings(quality_range=(50, 10))
    with pytest.raises(ValueError, match="quality_range"):
        DefenseSettings(quality=None, quality_range=(10, 50))
    with pytest.raises(ValueError, match="resize_pad"):
        DefenseSettings(resize_pad=0.75)
    with pytest.raises(ValueError, match="seed"):
        DefenseSettings(seed="seven")  # type: ignore[arg-type]
    assert (
        parse_quality_range(" 40-80 ")
        == (40, 80)
        == DefenseSettings(quality_range="40-80").quality_range
    )  # type: ignore[arg-type]
    assert DefenseSettings(resize_pad=0).resize_pad is None  # 0 is off
    assert not DefenseSettings().randomised and DefenseSettings(flip="random").randomised
