"""lltd's cwebp option table (lltd.codecs.cwebp_options) against its sources, in-process (issue
27): the installed ``cwebp -longhelp`` (names, aliases, arguments, meanings, stated ranges and
choices), the installed libwebp (``-z``'s lossless presets), ``lltd compress``'s own options
(the ones it declares itself) and the batch grammar (what applies to one file only)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import subprocess

import pytest
from webp_helpers import CWEBP, needs_cwebp

from lltd.cli.lean.cwebp_command import help_text
from lltd.codecs import EncodeOptions
from lltd.codecs.cwebp_options import (
    BY_NAME,
    HONOURED,
    INFO,
    INPUT,
    LOSSLESS_PRESETS,
    NATIVE_IN_COMPRESS,
    NO_EFFECT,
    OPTIONS,
    OUTPUT,
    REFUSED,
    CwebpOption,
)
from lltd.codecs.grammar import parse_batch_options
from lltd.common.errors import UsageError


@functools.cache
def longhelp() -> dict[tuple[str, ...], tuple[tuple[str, ...], str]]:
    """Each option of the installed ``cwebp -longhelp``: its names -> (metavars, description,
    its continuation lines joined)."""
    text = subprocess.run([CWEBP, "-longhelp"], capture_output=True, text=True).stdout
    found: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {}
    names: tuple[str, ...] = ()
    for line in text.splitlines():
        match = re.match(r"^  (-\w+)(?: / (-\w+))?((?: <[^>]+>)*) \.*( .*)?$", line)
        if match:
            name, alias, metavars, words = match.groups()
            names = (name, alias) if alias else (name,)
            found[names] = (tuple(re.findall(r"<([^>]+)>", metavars)), (words or "").strip())
        elif names and line.startswith("   ") and line.strip():
            metavars, words = found[names]
            found[names] = (metavars, f"{words} {line.strip()}")
        else:
            names = ()
    return found


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


#: Words lltd's shorter meanings add to cwebp's own (what cwebp says elsewhere in -longhelp).
ADDED = {
    "-preset": "applied",
    "-z": "of",
    "-s": "is raw 4:2:0 of this and",
    "-resize": "0 keeps the aspect ratio",
    "-print_psnr": "print",
    "-print_ssim": "print",
    "-print_lsim": "print",
    "-blend_alpha": "0xRRGGBB",
}

#: Ranges -longhelp does not state: what cwebp 1.2.4 parses and libwebp accepts.
UNSTATED_RANGES = {
    "-size": (0, 2**31 - 1),  # an int, in bytes
    "-psnr": (0, 99),  # WebPValidateConfig: target_PSNR
    "-s": (1, 16383),  # WEBP_MAX_DIMENSION
    "-crop": (0, 2**31 - 1),  # ints, clipped to the picture
    "-resize": (0, 16383),  # WEBP_MAX_DIMENSION; 0 keeps the aspect ratio
    "-map": (0, 9),  # cwebp.c: extra info types 0..9
    "-pre": (0, 7),  # WebPValidateConfig: preprocessing bits
}


@needs_cwebp
def test_names_aliases_and_arguments_are_the_installed_cwebps() -> None:
    listed = {names: metavars for names, (metavars, _) in longhelp().items()}
    assert len(listed) == len(OPTIONS) == 47
    assert {spec.names: spec.args for spec in OPTIONS} == listed
    assert sorted(BY_NAME) == sorted(name for names in listed for name in names)
    assert all(BY_NAME[name] is spec for spec in OPTIONS for name in spec.names)


@needs_cwebp
def test_each_meaning_is_told_in_cwebps_own_words() -> None:
    described = {names[0]: text for names, (_, text) in longhelp().items()}
    for spec in OPTIONS:
        extra = words(described[spec.name]) | words(ADDED.get(spec.name, ""))
        assert words(spec.meaning) <= extra, spec.name
        assert spec.meaning and spec.meaning == spec.meaning.strip()


@needs_cwebp
def test_ranges_and_choices_are_those_cwebp_states() -> None:
    stated: dict[str, tuple[object, ...]] = {}
    for names, (_, text) in longhelp().items():
        choices = re.search(r"one of:\s*(.*?)(?:\s+-preset must|$)", text)
        bracket = re.search(r"[(\[][^)\]]*?(\d+)[^)\]\d]+?(\d+)[^)\]]*[)\]]", text)
        if choices:
            stated[names[0]] = tuple(
                re.sub(r"\s*\(default\)", "", word)
                for word in re.split(r",\s*|\s+or\s+", choices.group(1).strip())
            )
        elif bracket:
            stated[names[0]] = (int(bracket.group(1)), int(bracket.group(2)))
    assert stated["-q"] == (0, 100) and stated["-preset"][0] == "default"
    assert not stated.keys() & UNSTATED_RANGES.keys()
    assert {spec.name: spec.limits for spec in OPTIONS if spec.limits is not None} == {
        **stated,
        **UNSTATED_RANGES,
    }


def libwebp_lossless_preset(level: int) -> tuple[int, int, float] | None:
    """libwebp's own WebPConfigLosslessPreset(level): (lossless, method, quality)."""
    found = ctypes.util.find_library("webp")
    if found is None:
        pytest.skip("libwebp not installed (apt-get install webp)")
    lib = ctypes.CDLL(found)
    config = (ctypes.c_char * 1024)()  # WebPConfig is about 160 bytes

    class Head(ctypes.Structure):  # WebPConfig's first fields (encode.h)
        _fields_ = [
            ("lossless", ctypes.c_int),
            ("quality", ctypes.c_float),
            ("method", ctypes.c_int),
        ]

    assert lib.WebPConfigInitInternal(config, 0, ctypes.c_float(75.0), 0x020F)  # ABI 2.x
    if not lib.WebPConfigLosslessPreset(config, level):
        return None
    head = Head.from_buffer(config)
    return head.lossless, head.method, head.quality


def test_lossless_presets_are_libwebps_own_at_every_level() -> None:
    assert len(LOSSLESS_PRESETS) == 10
    for level, (method, quality) in enumerate(LOSSLESS_PRESETS):
        assert libwebp_lossless_preset(level) == (1, method, float(quality)), level
    assert libwebp_lossless_preset(len(LOSSLESS_PRESETS)) is None  # no level beyond the table


def example(spec: CwebpOption) -> list[object]:
    """A valid value for each argument of ``spec``."""
    if spec.args == ("hex",):
        return ["0xc0e0d0"]
    if spec.args == ("file.pgm",):
        return ["dump.pgm"]
    if spec.name == "-metadata":
        return ["all"]
    return [spec.limits[0] if spec.limits else 1 for _ in spec.args]


ONE_FILE = "applies to one file; use lltd cwebp"


def test_a_batch_refuses_what_reads_or_prints_about_one_file_and_takes_the_rest() -> None:
    one_file = set()
    for spec in OPTIONS:
        for name in spec.names:
            try:
                parse_batch_options([name, *map(str, example(spec))], EncodeOptions())
            except UsageError as refused:
                if "applies to one file" in str(refused):
                    assert (
                        str(refused) == f"cwebp option {name} applies to one file; use lltd cwebp"
                    )
                    one_file.add(spec.name)
    # What prints about one file (info, statistics, dumps) or reads one raw picture; -h is
    # compress's own help, and what prints nothing in lltd anyway is taken.
    assert one_file == {
        spec.name
        for spec in OPTIONS
        if spec.kind in (INFO, INPUT, OUTPUT) and spec.pillow != NO_EFFECT and spec.name != "-h"
    }
    assert one_file == {
        "-H",
        "-s",
        "-map",
        "-print_psnr",
        "-print_ssim",
        "-print_lsim",
        "-d",
        "-version",
    }
    assert all(spec.batch == (spec.name not in one_file) for spec in OPTIONS)


def test_the_long_help_says_per_option_what_the_pillow_backend_does() -> None:
    lines = {line.split()[0]: line for line in help_text(long=True).splitlines()[5:]}
    assert lines["-q"].endswith("quality factor (0:small..100:big) [pillow: yes]")
    assert lines["-sns"].endswith(" [pillow: refused]")
    assert lines["-mt"].endswith(" [pillow: accepted, no effect on the output]")
    for spec in OPTIONS:
        word = {HONOURED: "yes", REFUSED: "refused", NO_EFFECT: NO_EFFECT}[spec.pillow]
        assert lines[spec.name].endswith(f"{spec.meaning} [pillow: {word}]"), spec.name
    assert len(lines) == len(OPTIONS)


def test_what_differs_under_pillow_is_noted_and_nothing_else() -> None:
    prints = "lltd prints no encoder statistics"
    assert {spec.name: spec.note for spec in OPTIONS if spec.note} == {
        "-z": "sets lossless, -m and -q as libwebp's WebPConfigLosslessPreset does",
        "-resize": (
            "Pillow resamples with a box filter when shrinking and bilinear when enlarging; "
            "libwebp's own rescaler is also area-averaging/bilinear but rounds differently, so "
            "pixels differ by a few levels"
        ),
        "-mt": "speed only: cwebp's output is the same with and without it",
        "-blend_alpha": (
            "Pillow blends in RGB; cwebp blends in YUV for lossy output, so pixels differ slightly"
        ),
        "-short": prints,
        "-quiet": prints,
        "-noasm": "speed only: libwebp's C and SIMD paths give the same output",
        "-v": prints,
        "-progress": prints,
    }


def test_an_option_shows_as_its_name() -> None:
    assert repr(BY_NAME["-alpha_q"]) == "CwebpOption('-alpha_q')"
    assert BY_NAME["-help"].names == ("-h", "-help")


# Last: these import the typer command line.


def declared_by_compress() -> set[str]:
    """The single-dash option names ``lltd compress`` declares itself (its typer command)."""
    import typer

    from lltd.cli import app

    group = typer.main.get_command(app)
    command = group.commands["compress"]  # type: ignore[attr-defined]
    names = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    # The help option every command inherits from the root's context (lltd.cli.root).
    return names | set(group.context_settings["help_option_names"])


def test_compress_keeps_exactly_the_cwebp_options_it_declares_itself() -> None:
    native = {name for name in declared_by_compress() if name in BY_NAME}
    assert native | {"-o", "-help"} == NATIVE_IN_COMPRESS  # -o: cwebp's output file; -help: -h's
    assert "-o" not in BY_NAME  # cwebp's -o is its output file, compress's its output folder


def test_compress_routes_every_other_cwebp_option_to_the_grammar() -> None:
    from lltd.cli import normalize_argv

    for spec in OPTIONS:
        for name in spec.names:
            values = [str(v) for v in example(spec)]
            argv = normalize_argv(["compress", "d", name, *values])
            if name in NATIVE_IN_COMPRESS:
                assert argv == ["compress", "d", name, *values], name
            else:
                assert argv == ["compress", "d", *(f"--cwebp-arg={t}" for t in (name, *values))]
