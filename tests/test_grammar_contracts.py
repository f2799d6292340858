"""lltd.codecs.grammar, in-process: cwebp's command line parsed into exactly the call it asks for.
Each option sets its own field and nothing else; -z gives way to -q or -m anywhere on the line;
tuning and printing options are kept as the tokens given; -h/-help/-H/-longhelp/-version, the
first one winning; ``--`` and ``-``; every refusal word for word; compress's cwebp options over
its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.codecs.grammar import CwebpCall, parse_batch_options, parse_cwebp_args
from lltd.codecs.options import EncodeOptions
from lltd.common.errors import UsageError


def call(
    source: str | None,
    output: str | None = None,
    options: EncodeOptions | None = None,
    *,
    info: str | None = None,
    printing: tuple[tuple[str, ...], ...] = (),
    quiet: bool = False,
    yuv_size: tuple[int, int] | None = None,
) -> CwebpCall:
    """The call expected: cwebp's defaults unless told otherwise."""
    return CwebpCall(
        None if source is None else Path(source),
        None if output is None else Path(output),
        options or EncodeOptions(),
        info,
        printing,
        quiet,
        yuv_size,
    )


def refusal(argv: list[str]) -> str:
    with pytest.raises(UsageError) as caught:
        parse_cwebp_args(argv)
    return str(caught.value)


def batch_refusal(tokens: list[str]) -> str:
    with pytest.raises(UsageError) as caught:
        parse_batch_options(tokens, EncodeOptions())
    return str(caught.value)


# --- the input, the output ----------------------------------------------------------------------


def test_a_lone_input_is_the_source_with_cwebps_defaults_and_no_output() -> None:
    parsed = parse_cwebp_args(["a.png"])
    assert parsed == call("a.png")
    assert parsed.quiet is False and parsed.info is None and parsed.yuv_size is None


@pytest.mark.parametrize(
    ("argv", "output"),
    [
        (["a.png", "-o", "out.webp"], "out.webp"),
        (["-o", "out.webp", "a.png"], "out.webp"),
        (["-o", "first.webp", "a.png", "-o", "last.webp"], "last.webp"),
        (["a.png", "-o", "-"], "-"),
    ],
)
def test_o_names_the_output_anywhere_on_the_line_and_the_last_one_counts(
    argv: list[str], output: str
) -> None:
    assert parse_cwebp_args(argv) == call("a.png", output)


def test_o_without_a_value_is_refused_in_one_line() -> None:
    assert refusal(["a.png", "-o"]) == "-o needs a value: the output file, or - for stdout"


def test_a_lone_dash_is_an_input_name_not_an_option() -> None:
    assert parse_cwebp_args(["-", "-o", "out.webp"]) == call("-", "out.webp")


def test_after_double_dash_everything_is_an_input_even_what_looks_like_an_option() -> None:
    assert parse_cwebp_args(["-o", "out.webp", "--", "-q.png"]) == call("-q.png", "out.webp")
    assert refusal(["--", "-o", "a.png"]) == (
        "expected exactly one input file, got 2: ['-o', 'a.png']"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "expected exactly one input file, got 0: []"),
        (["-o", "out.webp"], "expected exactly one input file, got 0: []"),
        (["a.png", "b c.png"], "expected exactly one input file, got 2: ['a.png', 'b c.png']"),
    ],
)
def test_anything_but_exactly_one_input_is_refused_naming_the_inputs(
    argv: list[str], message: str
) -> None:
    assert refusal(argv) == message


@pytest.mark.parametrize("option", ["-frobnicate", "--q", "-Q", "-o2"])
def test_an_unknown_option_is_refused_by_name_and_never_ignored(option: str) -> None:
    assert refusal([option, "a.png"]) == (
        f"{option} is not a cwebp option (see lltd cwebp -longhelp)"
    )


def test_a_bad_value_is_refused_by_the_options_own_check() -> None:
    assert refusal(["-q", "high", "a.png"]) == "-q takes a float, got 'high'"
    assert refusal(["a.png", "-m"]) == "-m needs 1 value(s): int"


# --- each option, its own field -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["-q", "61.5"], "quality", 61.5),
        (["-q", "0"], "quality", 0.0),
        (["-m", "6"], "method", 6),
        (["-m", "0"], "method", 0),
        (["-alpha_q", "0"], "alpha_q", 0),
        (["-metadata", "exif, icc"], "metadata", ("exif", "icc")),
        (["-metadata", "all"], "metadata", ("all",)),
        (["-preset", "text"], "preset", "text"),
        (["-lossless"], "lossless", True),
        (["-exact"], "exact", True),
        (["-sharp_yuv"], "sharp_yuv", True),
        (["-crop", "1", "2", "30", "40"], "crop", (1, 2, 30, 40)),
        (["-resize", "0", "5"], "resize", (0, 5)),
        (["-noalpha"], "noalpha", True),
        (["-blend_alpha", "0xc0e0d0"], "blend_alpha", 0xC0E0D0),
        (["-blend_alpha", "0"], "blend_alpha", 0),
        (["-z", "9"], "lossless_preset", 9),
        (["-z", "0"], "lossless_preset", 0),
    ],
)
def test_each_core_and_pixel_option_sets_its_own_field_and_nothing_else(
    argv: list[str], field: str, value: object
) -> None:
    parsed = parse_cwebp_args([*argv, "a.png", "-o", "a.webp"])
    assert parsed == call("a.png", "a.webp", EncodeOptions(**{field: value}))  # type: ignore[arg-type]
    assert getattr(parsed.options, field) == value
    assert type(getattr(parsed.options, field)) is type(value)


def test_options_combine_in_one_call() -> None:
    parsed = parse_cwebp_args(
        ["-q", "42", "-exact", "a.png", "-sharp_yuv", "-crop", "0", "0", "8", "8", "-noalpha"]
    )
    assert parsed.options == EncodeOptions(
        quality=42, exact=True, sharp_yuv=True, crop=(0, 0, 8, 8), noalpha=True
    )


@pytest.mark.parametrize(
    ("argv", "kept"),
    [
        (["-z", "9"], 9),
        (["-z", "9", "-q", "50"], None),  # after
        (["-q", "50", "-z", "9"], None),  # before
        (["-m", "3", "-z", "9"], None),
        (["-z", "9", "-m", "3"], None),
        (["-z", "9", "-lossless", "-exact", "-alpha_q", "50"], 9),  # other core options: kept
        (["-q", "50", "-lossless", "-z", "9"], None),  # a later core option does not undo -q
        (["-m", "3", "-exact", "-z", "9"], None),
        (["-z", "9", "-crop", "0", "0", "1", "1", "-sns", "20"], 9),
    ],
)
def test_z_gives_way_to_q_or_m_anywhere_on_the_line_as_in_cwebp(
    argv: list[str], kept: int | None
) -> None:
    assert parse_cwebp_args([*argv, "a.png"]).options.lossless_preset == kept


def test_tuning_options_are_kept_as_the_tokens_given_in_their_order() -> None:
    parsed = parse_cwebp_args(
        ["-sns", "030", "-strong", "a.png", "-qrange", "10", "90", "-alpha_filter", "best"]
    )
    tuning = (("-sns", "030"), ("-strong",), ("-qrange", "10", "90"), ("-alpha_filter", "best"))
    assert parsed == call("a.png", options=EncodeOptions(tuning=tuning))


def test_printing_options_are_kept_as_tokens_and_quiet_is_its_own_flag() -> None:
    argv = ["-v", "-print_psnr", "a.png", "-d", "dump.pgm", "-map", "03", "-short", "-progress"]
    printing = (("-v",), ("-print_psnr",), ("-d", "dump.pgm"), ("-map", "03"), ("-short",))
    assert parse_cwebp_args(argv) == call("a.png", printing=(*printing, ("-progress",)))
    assert parse_cwebp_args(["-quiet", "a.png"]) == call("a.png", quiet=True)
    assert parse_cwebp_args(["-v", "-quiet", "a.png"]) == call(
        "a.png", printing=(("-v",),), quiet=True
    )


def test_s_reads_the_input_as_raw_yuv_of_that_width_and_height() -> None:
    assert parse_cwebp_args(["-s", "640", "480", "a.yuv", "-o", "a.webp"]) == call(
        "a.yuv", "a.webp", yuv_size=(640, 480)
    )
    assert refusal(["-s", "640", "a.yuv"]) == "-s takes an integer, got 'a.yuv'"


# --- -h, -H, -version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "info"),
    [("-h", "-h"), ("-help", "-h"), ("-H", "-H"), ("-longhelp", "-H"), ("-version", "-version")],
)
def test_each_info_option_needs_no_input_and_is_named_by_its_short_form(
    option: str, info: str
) -> None:
    assert parse_cwebp_args([option]) == call(None, info=info)
    # Whatever else is on the line: cwebp prints and exits before it counts the inputs.
    assert parse_cwebp_args(["-q", "50", "a.png", "b.png", option, "-o", "x.webp"]) == call(
        None, "x.webp", EncodeOptions(quality=50), info=info
    )


@pytest.mark.parametrize(
    ("argv", "info"),
    [
        (["-version", "-h"], "-version"),
        (["-longhelp", "-version"], "-H"),
        (["-help", "-H"], "-h"),
        (["-H", "-help"], "-H"),
    ],
)
def test_the_first_info_option_on_the_line_is_the_one_answered(argv: list[str], info: str) -> None:
    assert parse_cwebp_args(argv).info == info


# --- compress's cwebp options, over its own ------------------------------------------------------


def test_batch_options_apply_over_the_commands_own_and_keep_the_rest() -> None:
    base = EncodeOptions(quality=60, method=2, metadata=("icc",), tuning=(("-sns", "30"),))
    assert parse_batch_options([], base) == base
    options = parse_batch_options(
        ["-crop", "0", "0", "8", "8", "-noalpha", "-f", "20", "-strong"], base
    )
    assert options == base.with_(
        crop=(0, 0, 8, 8), noalpha=True, tuning=(("-sns", "30"), ("-f", "20"), ("-strong",))
    )


def test_batch_z_is_kept_over_the_commands_quality_and_dropped_by_m_on_the_line() -> None:
    base = EncodeOptions(quality=50)
    assert parse_batch_options(["-z", "5"], base) == base.with_(lossless_preset=5)
    assert parse_batch_options(["-z", "5", "-m", "2"], base) == base.with_(method=2)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["-frobnicate"], "-frobnicate is not a cwebp option"),
        (["-noalpha", "a.png"], "a.png is not a cwebp option"),
        (["-s", "2", "2"], "cwebp option -s applies to one file; use lltd cwebp"),
        (["-longhelp"], "cwebp option -longhelp applies to one file; use lltd cwebp"),
        (["-d", "x.pgm"], "cwebp option -d applies to one file; use lltd cwebp"),
        (["-version"], "cwebp option -version applies to one file; use lltd cwebp"),
    ],
)
def test_batch_refuses_unknown_and_one_file_options_word_for_word(
    tokens: list[str], message: str
) -> None:
    assert batch_refusal(tokens) == message
