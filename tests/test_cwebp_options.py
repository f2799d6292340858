"""Every option of the installed ``cwebp -longhelp``: honoured or refused by name, per backend.

The list walked here is lltd's option table (:mod:`lltd.codecs.cwebp_options`), checked against
the installed cwebp's own list; the docs' option table is generated from the same list.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image
from webp_helpers import CWEBP, needs_cwebp

from lltd.codecs.cwebp_options import (
    BY_NAME,
    HONOURED,
    INFO,
    NATIVE_IN_COMPRESS,
    NO_EFFECT,
    OPTIONS,
    REFUSED,
)

#: Example arguments for each option that takes some (the input is a 64x48 RGBA PNG).
EXAMPLE_ARGS = {
    "-q": ["42"],
    "-alpha_q": ["30"],
    "-preset": ["drawing"],
    "-z": ["3"],
    "-m": ["2"],
    "-segments": ["2"],
    "-size": ["1500"],
    "-psnr": ["35"],
    "-s": ["16", "16"],
    "-sns": ["10"],
    "-f": ["20"],
    "-sharpness": ["5"],
    "-partition_limit": ["50"],
    "-pass": ["3"],
    "-qrange": ["20", "60"],
    "-crop": ["4", "6", "30", "20"],
    "-resize": ["32", "0"],
    "-map": ["1"],
    "-d": ["dump.pgm"],
    "-alpha_method": ["0"],
    "-alpha_filter": ["best"],
    "-blend_alpha": ["0xc0e0d0"],
    "-near_lossless": ["60"],
    "-hint": ["graph"],
    "-metadata": ["all"],
    "-pre": ["2"],
}


def longhelp_options() -> list[str]:
    """Every option name the installed cwebp lists (``-h / -help`` gives two)."""
    text = subprocess.run([CWEBP, "-longhelp"], capture_output=True, text=True).stdout
    names: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^\s{2}(-\w+)(?: / (-\w+))?", line)
        if match:
            names += [name for name in match.groups() if name]
    return names


def option_args(name: str) -> list[str]:
    return [name, *EXAMPLE_ARGS.get(name, [])]


@needs_cwebp
def test_table_lists_exactly_the_installed_cwebp_options():
    listed = longhelp_options()
    assert len(listed) > 45
    assert sorted(set(listed)) == sorted(BY_NAME), "lltd's table and cwebp -longhelp differ"
    for spec in OPTIONS:
        assert spec.pillow in (HONOURED, NO_EFFECT, REFUSED), spec.name
        assert [a for a in spec.args] == [] or spec.name in EXAMPLE_ARGS or spec.kind == INFO


@pytest.fixture
def rgba(tmp_path: Path, make_image) -> Path:
    path = make_image(tmp_path / "in put's.png", "RGBA", size=(64, 48))
    with Image.open(path) as image:
        pixels = np.asarray(image).copy()
    pixels[30:, 40:, 3] = 0  # fully transparent corner: -exact, -noalpha, -blend_alpha matter
    Image.fromarray(pixels, "RGBA").save(path)
    return path


def _input_for(name: str, rgba: Path) -> Path:
    if name != "-s":
        return rgba
    yuv = rgba.with_name("raw.yuv")  # 16x16 YUV 4:2:0: 256 + 2 * 64 bytes
    yuv.write_bytes(bytes(range(256)) + bytes([100] * 64) + bytes([150] * 64))
    return yuv


@needs_cwebp
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_cwebp_backend_honours_every_option_byte_for_byte(name, rgba, run_lltd, tmp_path):
    source = _input_for(name, rgba)
    args = option_args(name)
    ours, theirs = tmp_path / "ours.webp", tmp_path / "theirs.webp"
    result = run_lltd("cwebp", "--backend", "cwebp", *args, source, "-o", ours, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = BY_NAME[name]
    if spec.kind == INFO:
        expected = subprocess.run([CWEBP, name], capture_output=True, text=True).stdout
        if name == "-version":
            assert result.stdout == expected
        else:
            assert "-alpha_q" in result.stdout and "usage" in result.stdout.lower()
        assert not ours.exists()
        return
    reference = tmp_path / "reference"
    reference.mkdir()
    subprocess.run(
        [CWEBP, "-quiet", *args, str(source), "-o", str(theirs)],
        check=True,
        capture_output=True,
        cwd=reference,
    )
    assert ours.read_bytes() == theirs.read_bytes()
    if name == "-d":  # the dump cwebp writes beside the call
        assert (tmp_path / "dump.pgm").read_bytes() == (reference / "dump.pgm").read_bytes()


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_pillow_backend_honours_or_refuses_every_option(name, rgba, run_lltd, tmp_path):
    spec = BY_NAME[name]
    source = _input_for(name, rgba)
    out = tmp_path / "out.webp"
    result = run_lltd("cwebp", "--backend", "pillow", *option_args(name), source, "-o", out)
    if spec.pillow == REFUSED:
        assert result.returncode == 2, result.stderr
        assert_one_line_error(result.stderr, "pillow backend cannot honour", name)
        assert not out.exists()
        return
    assert result.returncode == 0, result.stderr
    if spec.kind == INFO:
        assert result.stdout.strip()
        return
    with Image.open(out) as webp:
        webp.load()
        size, mode = webp.size, webp.mode
    expected_size = {"-crop": (30, 20), "-resize": (32, 24)}.get(name, (64, 48))
    assert size == expected_size
    if name in ("-noalpha", "-blend_alpha"):
        assert mode == "RGB"


def test_pillow_options_change_the_pixels_as_cwebp_does(rgba, run_lltd, tmp_path):
    def encode(*args: str) -> np.ndarray:
        out = tmp_path / f"{len(list(tmp_path.iterdir()))}.webp"
        assert run_lltd("cwebp", "--backend", "pillow", *args, rgba, "-o", out).returncode == 0
        with Image.open(out) as image:
            return np.asarray(image.convert("RGBA"))

    original = np.asarray(Image.open(rgba))
    # -z: lossless; with -exact the RGB under full transparency survives too.
    assert np.array_equal(encode("-z", "9", "-exact"), original)
    crop = encode("-crop", "4", "6", "30", "20", "-lossless", "-exact")
    assert np.array_equal(crop, original[6:26, 4:34])
    blended = encode("-blend_alpha", "0xff0000", "-lossless")
    assert (blended[40, 60, :3] == (255, 0, 0)).all()  # transparent corner -> the colour
    kept = encode("-noalpha", "-lossless", "-exact")
    assert np.array_equal(kept[..., :3], original[..., :3]) and (kept[..., 3] == 255).all()


def test_bad_values_are_usage_errors(rgba, run_lltd, tmp_path):
    for args, needle in (
        (["-sns", "101"], "-sns must be between 0 and 100"),
        (["-hint", "cartoon"], "unknown -hint 'cartoon'"),
        (["-blend_alpha", "red"], "-blend_alpha takes a hexadecimal colour"),
        (["-crop", "1", "2"], "-crop needs 4 value(s)"),
        (["-qrange", "80", "20"], "-qrange: min 80 is above max 20"),
        (["-frobnicate"], "-frobnicate is not a cwebp option"),
    ):
        result = run_lltd("cwebp", rgba, "-o", tmp_path / "o.webp", *args)
        assert result.returncode == 2, args
        assert_one_line_error(result.stderr, needle)
    assert not (tmp_path / "o.webp").exists()


def test_crop_outside_the_picture_fails_for_that_file(rgba, run_lltd, tmp_path):
    crop = ["-crop", "40", "0", "30", "10", rgba, "-o", tmp_path / "o.webp"]
    result = run_lltd("cwebp", "--backend", "pillow", *crop)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "in put's.png", "cannot crop a 64x48 picture")
    if CWEBP:  # the default backend: cwebp's own words, after lltd's name for the file
        result = run_lltd("cwebp", *crop)
        assert result.returncode == 1
        assert_one_line_error(result.stderr, "in put's.png", "cwebp failed")
    assert not (tmp_path / "o.webp").exists()


@needs_cwebp
@pytest.mark.parametrize(
    "args",
    [
        ["-sns", "10", "-f", "20", "-strong"],
        ["-resize", "32", "0", "-crop", "2", "2", "40", "40"],
        ["-near_lossless", "60"],
        ["-z", "4"],
        ["-noalpha", "-af", "-pass", "2"],
    ],
)
def test_compress_passes_cwebp_options_to_cwebp(rgba, run_lltd, tmp_path, args):
    out = tmp_path / "out"
    result = run_lltd(
        "compress", rgba.parent, "-q", "70", "-o", out, "--backend", "cwebp", *args, "-j", "1"
    )
    assert result.returncode == 0, result.stderr
    theirs = tmp_path / "theirs.webp"
    # compress's -q is webp-converter's; -z wins over it (cwebp would let -q switch -z off).
    quality = [] if "-z" in args else ["-q", "70"]
    subprocess.run([CWEBP, *quality, *args, str(rgba), "-o", str(theirs)], check=True)
    ours = out / "in put's.webp"
    if ours.exists():
        assert ours.read_bytes() == theirs.read_bytes()
    else:  # not smaller than the PNG: webp-converter's rule keeps the original
        assert theirs.stat().st_size >= rgba.stat().st_size


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-sns", "10"], "pillow backend cannot honour -sns"),
        (["-d", "x.pgm"], "-d applies to one file"),
        (["-s", "16", "16"], "-s applies to one file"),
        (["-version"], "-version applies to one file"),
    ],
)
def test_compress_refuses_by_name(rgba, run_lltd, tmp_path, args, needle):
    out = tmp_path / "out"
    result = run_lltd("compress", rgba.parent, "-q", "70", "-o", out, *args)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, needle)
    assert not out.exists()


def test_compress_pillow_honours_picture_options(rgba, run_lltd, tmp_path):
    out = tmp_path / "out"
    args = ["-resize", "0", "24", "-noalpha", "-mt", "-v"]
    result = run_lltd("compress", rgba.parent, "-q", "70", "-o", out, *args)
    assert result.returncode == 0, result.stderr
    with Image.open(out / "in put's.webp") as image:
        assert image.size == (32, 24) and image.mode == "RGB"


def test_every_batch_option_is_routed(rgba, run_lltd, tmp_path):
    """No cwebp option reaches click as a bundle of short flags (``-sns`` as ``-s -n -s``)."""
    from lltd.cli import normalize_argv

    for spec in OPTIONS:
        for name in spec.names:
            if name in NATIVE_IN_COMPRESS:
                continue
            argv = normalize_argv(["compress", "d", *option_args(name)])
            assert all(token.startswith("--cwebp-arg=") for token in argv[2:]), argv


def test_the_docs_option_table_is_generated_from_this_list():
    """The cwebp reference page carries the marker the docs hook fills with :func:`render`
    (tests/test_docs.py checks the built page)."""
    import importlib.util

    from conftest import REPO

    from lltd.codecs.option_table import render

    hook_path = REPO / "docs" / "hooks" / "cli_reference.py"
    spec_ = importlib.util.spec_from_file_location("cli_reference", hook_path)
    assert spec_ is not None and spec_.loader is not None
    hook = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(hook)
    page = (REPO / "docs" / "reference" / "cwebp.md").read_text(encoding="utf-8")
    filled = hook.on_page_markdown(page, None, None, None)
    assert render() in filled and "<!-- cwebp-options -->" not in filled
    for spec in OPTIONS:
        assert f"`{spec.name}`" in filled
