"""Every cwebp option's value reaches cwebp unchanged: float qualities (``-q 75.5`` encodes at 75.5,
not 75), zeros, both ends of every range; ``--backend cwebp`` writes the bytes cwebp itself writes
for a generated list of option/value pairs; one under or one over a range is refused by name."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from webp_helpers import CWEBP, needs_cwebp

from lltd.codecs import EncodeOptions
from lltd.codecs.cwebp import CwebpCodec, cwebp_argv
from lltd.codecs.cwebp_options import OPTIONS, PIXELS, TUNING
from lltd.codecs.cwebp_values import check_values
from lltd.codecs.grammar import parse_batch_options
from lltd.common.errors import UsageError

QUALITIES = [0.0, 0.5, 1e-3, 33.333333, 75.0, 75.5, 75.123456789, 99.99, 100.0]


def quality_in(argv: list[str]) -> str:
    return argv[argv.index("-q") + 1]


@pytest.mark.parametrize("quality", QUALITIES)
def test_the_quality_reaches_cwebp_as_exactly_the_number_given(quality: float) -> None:
    given = quality_in(cwebp_argv(EncodeOptions(quality=quality)))
    assert float(given) == quality
    assert given == (f"{quality:g}" if float(f"{quality:g}") == quality else repr(quality))


def test_zero_values_are_passed_not_dropped_as_false() -> None:
    argv = cwebp_argv(EncodeOptions(quality=0, method=0, alpha_q=0))
    assert argv == ["-q", "0", "-m", "0", "-alpha_q", "0"]
    assert cwebp_argv(EncodeOptions(lossless_preset=0)) == ["-z", "0"]
    assert cwebp_argv(EncodeOptions(blend_alpha=0)) == ["-q", "75", "-blend_alpha", "0x000000"]
    assert cwebp_argv(EncodeOptions(crop=(0, 0, 1, 1), resize=(0, 5))) == [
        "-q", "75", "-crop", "0", "0", "1", "1", "-resize", "0", "5"
    ]  # fmt: skip


def test_defaults_are_left_to_cwebp_and_everything_else_is_spelled_out() -> None:
    assert cwebp_argv(EncodeOptions()) == ["-q", "75"]
    assert cwebp_argv(
        EncodeOptions(
            quality=60, method=6, lossless=True, alpha_q=99, exact=True, metadata=("exif", "icc"),
            sharp_yuv=True, preset="photo", noalpha=True, blend_alpha=0xC0E0D0,
            tuning=(("-sns", "30"), ("-strong",)),
        )
    ) == [
        "-preset", "photo", "-lossless", "-q", "60", "-m", "6", "-alpha_q", "99", "-exact",
        "-metadata", "exif,icc", "-sharp_yuv", "-noalpha", "-blend_alpha", "0xc0e0d0",
        "-sns", "30", "-strong",
    ]  # fmt: skip


def _values(spec) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Both ends of the range and a middle value (floats with decimals), or every choice."""
    kind = spec.args[0]
    if kind == "string":
        return [[choice] for choice in spec.limits]
    lo, hi = spec.limits
    hi = min(hi, 100_000)  # -size: bytes
    if spec.name == "-qrange":
        return [["0", "100"], ["37", "37"], ["0", "0"]]
    if kind == "float":
        return [[f"{lo:g}"], [f"{hi:g}"], ["37.5"], ["12.345678"]]
    return [[str(lo)], [str(hi)], [str((lo + hi) // 2)]]


#: Every batch option of the cwebp backend that takes a value: tuning and core, each value.
PAIRS = (
    [
        [spec.name, *values]
        for spec in OPTIONS
        if spec.batch and spec.args and spec.kind in (TUNING, "core") and spec.name != "-metadata"
        for values in _values(spec)
    ]
    + [["-q", repr(q)] for q in QUALITIES]
    + [["-z", str(level)] for level in (0, 9)]
)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("picture")
    y, x = np.mgrid[0:48, 0:64]
    rng = np.random.default_rng(7)
    rgba = np.stack([(x * 5 + y * 3) % 256, x * 4, y * 5, 255 - x], -1)
    rgba += rng.integers(0, 8, (48, 64, 4))
    Image.fromarray(rgba.clip(0, 255).astype(np.uint8), "RGBA").save(folder / "in.png")
    return folder / "in.png"


@needs_cwebp
@pytest.mark.parametrize("pair", PAIRS, ids=" ".join)
def test_the_cwebp_backend_writes_what_cwebp_writes_for_each_option_value(
    pair: list[str], picture: Path, tmp_path: Path
) -> None:
    options = parse_batch_options(pair, EncodeOptions(quality=70))
    ours, theirs = tmp_path / "ours.webp", tmp_path / "theirs.webp"
    with Image.open(picture) as image:
        CwebpCodec(CWEBP).encode_file(picture, ours, options, image)
    quality = [] if pair[0] in ("-q", "-z") else ["-q", "70"]
    subprocess.run(
        [CWEBP, "-quiet", *quality, *pair, "-o", str(theirs), "--", str(picture)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert ours.read_bytes() == theirs.read_bytes()


@needs_cwebp
@pytest.mark.parametrize("quality", ["75.5", "33.333333", "0", "0.5"])
def test_compress_with_the_cwebp_backend_encodes_at_a_fractional_quality(
    quality: str, picture: Path, tmp_path: Path, run_lltd
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    (src / "a.png").write_bytes(picture.read_bytes())
    result = run_lltd("compress", src, "-o", out, "-q", quality, "--backend", "cwebp", "--quiet")
    assert result.returncode == 0, result.stderr
    theirs = tmp_path / "theirs.webp"
    subprocess.run(
        [CWEBP, "-quiet", "-q", quality, "-o", str(theirs), "--", str(picture)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (out / "a.webp").read_bytes() == theirs.read_bytes()
    rounded = tmp_path / "rounded.webp"
    subprocess.run(
        [CWEBP, "-quiet", "-q", str(round(float(quality))), "-o", str(rounded), "--", str(picture)],
        check=True, capture_output=True,
    )  # fmt: skip
    if quality in ("75.5", "0.5"):  # this picture tells 75.5 from 76 and 0.5 from 0
        assert rounded.read_bytes() != theirs.read_bytes()


RANGED = [
    spec
    for spec in OPTIONS
    if spec.args
    and spec.args[0] in ("int", "float", "min", "x", "w")
    and spec.limits is not None
    and spec.kind in (TUNING, PIXELS, "core", "output", "input")
]


@pytest.mark.parametrize("spec", RANGED, ids=lambda spec: spec.name)
def test_each_range_takes_both_ends_and_refuses_one_under_and_one_over(spec) -> None:  # type: ignore[no-untyped-def]
    lo, hi = spec.limits
    step = 1 if spec.args[0] != "float" else 0.001
    n = len(spec.args)

    def values(value: float) -> list[str]:
        text = f"{value:g}" if spec.args[0] == "float" else str(int(value))
        return [text] * n if spec.name != "-qrange" else [str(lo), text]

    for inside in (lo, hi):
        checked = check_values(spec, values(inside))
        assert checked[-1] == inside
    for outside in (lo - step, hi + step):
        if spec.name == "-qrange" and outside < lo:
            continue  # the max below the min: its own message (tested below)
        expected = re.escape(f"{spec.name} must be between {lo:g} and {hi:g}, got ")
        with pytest.raises(UsageError, match=expected):
            check_values(spec, values(outside))


def test_qrange_refuses_a_minimum_above_its_maximum_but_takes_them_equal() -> None:
    spec = next(spec for spec in OPTIONS if spec.name == "-qrange")
    assert check_values(spec, ["40", "40"]) == [40, 40]
    with pytest.raises(UsageError, match="-qrange: min 41 is above max 40"):
        check_values(spec, ["41", "40"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quality", -0.001, "quality must be between 0 and 100"),
        ("quality", 100.001, "quality must be between 0 and 100"),
        ("method", -1, "method (-m) must be between 0 and 6"),
        ("method", 7, "method (-m) must be between 0 and 6"),
        ("alpha_q", -1, "-alpha_q must be between 0 and 100"),
        ("alpha_q", 101, "-alpha_q must be between 0 and 100"),
    ],
)
def test_encode_options_refuse_one_over_and_one_under(
    field: str, value: float, message: str
) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EncodeOptions(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quality", 0),
        ("quality", 100),
        ("method", 0),
        ("method", 6),
        ("alpha_q", 0),
        ("alpha_q", 100),
    ],
)
def test_encode_options_take_both_ends_of_each_range(field: str, value: float) -> None:
    assert getattr(EncodeOptions(**{field: value}), field) == value


@needs_cwebp
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "LA"])
def test_cwebp_reads_each_png_mode_itself_so_metadata_xmp_keeps_the_packet(
    mode: str, picture: Path, tmp_path: Path
) -> None:
    """These PNGs go to cwebp as they are, not through Pillow (whose PNG writer drops an XMP
    packet): ``-metadata xmp`` then writes what cwebp itself writes, the packet included."""
    from PIL import PngImagePlugin

    packet = '<x:xmpmeta xmlns:x="adobe:ns:meta/">lltd-xmp-test</x:xmpmeta>'
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    source = tmp_path / f"{mode}.png"
    with Image.open(picture) as image:
        image.convert(mode).save(source, pnginfo=info)
    ours, theirs = tmp_path / "ours.webp", tmp_path / "theirs.webp"
    options = EncodeOptions(quality=70, metadata=("xmp",))
    with Image.open(source) as image:
        assert (image.format, image.mode) == ("PNG", mode)
        CwebpCodec(CWEBP).encode_file(source, ours, options, image)
    subprocess.run(
        [CWEBP, "-quiet", "-q", "70", "-metadata", "xmp", "-o", str(theirs), "--", str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert ours.read_bytes() == theirs.read_bytes()
    assert b"lltd-xmp-test" in ours.read_bytes()
