"""cwebp's option values as lltd checks them (lltd.codecs.cwebp_values), in-process: the typed
values, the limits at both ends, and each refusal's exact words (shared by ``lltd compress`` and
the lean ``lltd cwebp``, so both refuse the same values the same way)."""

from __future__ import annotations

import pytest

from lltd.codecs.cwebp_options import BY_NAME
from lltd.codecs.cwebp_values import check_metadata, check_values, parse_metadata, take_values
from lltd.common.errors import UsageError


def _refusal(name: str, *raw: str) -> str:
    with pytest.raises(UsageError) as raised:
        check_values(BY_NAME[name], list(raw))
    return str(raised.value)


def test_a_float_option_takes_floats_and_both_ends_of_its_range() -> None:
    assert check_values(BY_NAME["-q"], ["75.5"]) == [75.5]
    assert check_values(BY_NAME["-q"], ["0"]) == [0.0] and check_values(BY_NAME["-q"], ["100"]) == [
        100.0
    ]


def test_a_float_option_refuses_a_word_naming_it_a_float() -> None:
    assert _refusal("-q", "high") == "-q takes a float, got 'high'"


def test_an_int_option_refuses_a_float_naming_it_an_integer() -> None:
    assert _refusal("-m", "4.5") == "-m takes an integer, got '4.5'"


def test_a_hex_option_takes_a_hexadecimal_colour_and_refuses_anything_else() -> None:
    assert check_values(BY_NAME["-blend_alpha"], ["0xc0e0d0"]) == [0xC0E0D0]
    assert _refusal("-blend_alpha", "white") == (
        "-blend_alpha takes a hexadecimal colour like 0xc0e0d0, got 'white'"
    )


def test_one_under_or_one_over_a_range_is_refused_with_both_ends_and_the_value() -> None:
    assert _refusal("-m", "7") == "-m must be between 0 and 6, got 7"
    assert _refusal("-segments", "0") == "-segments must be between 1 and 4, got 0"
    assert _refusal("-q", "100.5") == "-q must be between 0 and 100, got 100.5"
    assert check_values(BY_NAME["-segments"], ["1"]) == [1]
    assert check_values(BY_NAME["-segments"], ["4"]) == [4]


def test_every_value_of_a_multi_value_option_is_checked() -> None:
    assert check_values(BY_NAME["-crop"], ["0", "1", "2", "3"]) == [0, 1, 2, 3]
    assert _refusal("-resize", "10", "-1") == "-resize must be between 0 and 16383, got -1"


def test_qrange_takes_min_equal_to_max_and_refuses_min_above_max() -> None:
    assert check_values(BY_NAME["-qrange"], ["40", "40"]) == [40, 40]
    assert _refusal("-qrange", "50", "40") == "-qrange: min 50 is above max 40"


def test_a_choice_option_takes_its_choices_and_refuses_others_listing_them() -> None:
    assert check_values(BY_NAME["-preset"], ["photo"]) == ["photo"]
    assert _refusal("-preset", "film") == (
        "unknown -preset 'film'; choose from default, photo, picture, drawing, icon, text"
    )


def test_a_file_option_takes_its_name_as_given() -> None:
    assert check_values(BY_NAME["-d"], ["out.pgm"]) == ["out.pgm"]


def test_an_option_without_values_has_none() -> None:
    assert check_values(BY_NAME["-lossless"], []) == []


def test_metadata_takes_its_kinds_and_refuses_another_listing_them() -> None:
    assert check_values(BY_NAME["-metadata"], ["exif,icc"]) == ["exif,icc"]
    assert _refusal("-metadata", "exif,gps") == (
        "unknown -metadata 'gps'; choose from all, none, exif, icc, xmp"
    )
    with pytest.raises(UsageError, match=r"^unknown -metadata 'x'; "):
        check_metadata(("all", "x"))


def test_metadata_is_a_comma_list_blanks_ignored_and_empty_means_none() -> None:
    assert parse_metadata(" exif , icc,,xmp ") == ("exif", "icc", "xmp")
    assert parse_metadata("all") == ("all",)
    assert parse_metadata("") == ("none",) and parse_metadata(" , ") == ("none",)


def test_the_values_after_an_option_are_taken_from_the_command_line_in_order() -> None:
    args = iter(["1", "2", "3", "4", "next.png"])
    assert take_values(BY_NAME["-crop"], args) == ["1", "2", "3", "4"]
    assert next(args) == "next.png"
    assert take_values(BY_NAME["-lossless"], iter(["x"])) == []


def test_a_missing_value_is_refused_naming_how_many_and_which() -> None:
    with pytest.raises(UsageError) as raised:
        take_values(BY_NAME["-crop"], iter(["1", "2"]))
    assert str(raised.value) == "-crop needs 4 value(s): x y w h"
    with pytest.raises(UsageError) as raised:
        take_values(BY_NAME["-q"], iter([]))
    assert str(raised.value) == "-q needs 1 value(s): float"
