"""lltd/cli/lean/compress_argv.py: the lean parser of ``lltd compress``, in-process. What it
reads it reads exactly (the request, field by field); everything else is None, left to typer
(test_compress_lean.py checks against typer itself, in subprocesses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lltd.cli.lean.compress_argv import KIND, parse
from lltd.cli.lean.compress_request import CompressRequest

NO_ENV: dict[str, str] = {}


def _parse(*argv: str) -> CompressRequest | None:
    return parse(list(argv), NO_ENV)


def test_a_folder_alone_is_the_default_request() -> None:
    assert _parse("in") == CompressRequest(directory="in")
    assert _parse() == CompressRequest()


def test_the_field_kinds_are_read_from_the_dataclass() -> None:
    assert KIND["quality"] == "float"
    assert KIND["method"] == "int"
    assert KIND["quiet"] == "bool"
    assert KIND["output_directory"] == "str"
    assert KIND["json_report"] == "Path"


def test_every_shape_of_a_value_reads_the_same() -> None:
    expected = CompressRequest(directory="in", quality=60.0)
    for argv in (["-q", "60"], ["-q=60"], ["--quality=60"], ["--q", "60"], ["in", "-q", "60"]):
        assert _parse(*argv, *([] if "in" in argv else ["in"])) == expected


def test_each_kind_of_value_is_typed() -> None:
    request = _parse(
        "in", "-o", "out", "-m", "6", "--jobs", "3", "-q", "60.5", "--quiet", "--backend",
        "cwebp", "--max-pixels", "1", "--ignore-filename-match", "x*",
    )  # fmt: skip
    assert request == CompressRequest(
        directory="in", output_directory="out", method=6, jobs=3, quality=60.5, quiet=True,
        backend="cwebp", max_pixels=1, ignore_filename_match="x*",
    )  # fmt: skip
    assert request is not None and type(request.method) is int and type(request.quality) is float


def test_flags_are_true_when_given() -> None:
    request = _parse("--r", "--dry-run", "-lossless", "--debug", "in")
    assert request == CompressRequest(
        directory="in", replace=True, dry_run=True, lossless=True, debug=True
    )


def test_cwebp_options_pass_through_in_order_with_their_values() -> None:
    request = _parse("-resize", "10", "20", "in", "-mt", "-crop", "1", "2", "3", "4", "-q", "7")
    assert request == CompressRequest(
        directory="in",
        quality=7.0,
        cwebp_args=("-resize", "10", "20", "-mt", "-crop", "1", "2", "3", "4"),
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["-resize", "10"],  # a value short
        ["-resize", "10", "-x=1"],  # a -x=1 that normalize_argv would split
        ["-resize", "--", "1"],  # -- means more to click
        ["-resize", "1", "--"],
    ],
)
def test_cwebp_options_typer_must_read_are_left_to_it(argv: list[str]) -> None:
    assert _parse("in", *argv) is None


def test_a_cwebp_value_with_a_dash_but_no_equals_is_passed_on() -> None:
    assert _parse("-resize", "-1", "2", "in") == CompressRequest(
        directory="in", cwebp_args=("-resize", "-1", "2")
    )
    assert _parse("-resize", "1", "x=-2") == CompressRequest(cwebp_args=("-resize", "1", "x=-2"))


@pytest.mark.parametrize(
    "argv",
    [
        ["in", "in2"],  # a second folder
        ["--bogus"],
        ["-q", "60", "-q", "70"],  # repeated
        ["-q", "60", "--quality", "70"],  # repeated under another name
        ["-alpha_q=60"],  # only a two-letter or a -- name takes =
        ["-m=\n3"],  # a newline after -q=: normalize_argv's regex reads it its own way
        ["-o=\nout"],
        ["-o=out\nx"],
        ["--quiet=1"],  # a flag with a value
        ["-q"],  # no value
        ["-o"],
        ["--"],
        ["--scheduler", "tcp://x:1"],
        ["--help"],
    ],
)
def test_what_typer_must_judge_is_left_to_it(argv: list[str]) -> None:
    assert _parse(*argv) is None


def test_two_letter_and_long_names_take_equals() -> None:
    assert _parse("-m=3") == CompressRequest(method=3)
    assert _parse("--method=3") == CompressRequest(method=3)
    assert _parse("-j=2") == CompressRequest(jobs=2)
    assert _parse("-o=x=y") == CompressRequest(output_directory="x=y")


def test_the_scheduler_variable_leaves_the_command_line_to_typer() -> None:
    assert parse(["in"], {"LLTD_SCHEDULER": "tcp://x:1"}) is None
    assert parse(["in"], {"LLTD_SCHEDULER": ""}) == CompressRequest(directory="in")
    assert parse(["in"], {"OTHER": "1"}) == CompressRequest(directory="in")


@pytest.mark.parametrize(
    ("field", "option", "low", "high"),
    [("quality", "-q", 0, 100), ("alpha_q", "--alpha-q", 0, 100), ("method", "-m", 0, 6)],
)
def test_bounded_numbers_are_read_at_both_ends_and_left_to_typer_past_them(
    field: str, option: str, low: int, high: int
) -> None:
    kind = float if KIND[field] == "float" else int
    assert _parse(option, str(low)) == CompressRequest(**{field: kind(low)})
    assert _parse(option, str(high)) == CompressRequest(**{field: kind(high)})
    assert _parse(option, str(high + 1)) is None
    assert _parse(option, f"-{low + 1}") is None


@pytest.mark.parametrize(("option", "field", "low"), [
    ("-j", "jobs", 0), ("--max-pixels", "max_pixels", 1), ("--max-bytes", "max_bytes", 1),
])  # fmt: skip
def test_open_ended_numbers_have_a_lower_bound_only(option: str, field: str, low: int) -> None:
    assert _parse(option, str(low)) == CompressRequest(**{field: low})
    assert _parse(option, "9" * 15) == CompressRequest(**{field: int("9" * 15)})
    if low:
        assert _parse(option, str(low - 1)) is None


@pytest.mark.parametrize(
    ("text", "value"), [("60", 60.0), ("60.", 60.0), ("60.25", 60.25), ("007", 7.0), ("0.5", 0.5)]
)
def test_plain_decimal_qualities_are_read(text: str, value: float) -> None:
    assert _parse("-q", text) == CompressRequest(quality=value)


@pytest.mark.parametrize(
    "text", ["1e2", "+5", ".5", "5,0", " 5", "5 ", "٥", "inf", "nan", "0x10", "1_0", "", "1.2.3"]
)
def test_numbers_click_might_read_otherwise_are_left_to_it(text: str) -> None:
    assert _parse("-q", text) is None
    assert _parse("-m", text) is None


def test_whole_numbers_take_no_decimal_point_and_at_most_15_digits() -> None:
    assert _parse("-m", "3.0") is None
    assert _parse("-j", "1" * 16) is None
    assert _parse("-q", "1" * 16) is None
    assert _parse("-q", "1." + "0" * 16) is None
    assert _parse("-q", "1." + "0" * 15) == CompressRequest(quality=1.0)


def test_a_value_starting_with_a_dash_is_left_to_typer() -> None:
    assert _parse("-o", "-out") is None
    assert _parse("--ignore-filename-match", "-x") is None


def test_json_takes_a_new_or_a_readable_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _parse("--json", "r.json") == CompressRequest(json_report=Path("r.json"))
    (tmp_path / "old.json").write_text("{}")
    assert _parse("--json", "old.json") == CompressRequest(json_report=Path("old.json"))
    assert _parse("--json", "gone/r.json") == CompressRequest(json_report=Path("gone/r.json"))


@pytest.mark.parametrize("text", ["", "s3://b/r.json", "c:r.json", ".", "folder"])
def test_json_at_a_folder_or_a_url_is_left_to_typer(text: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    assert _parse("--json", text) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_json_at_an_unreadable_file_is_left_to_typer(tmp_path: Path) -> None:
    locked = tmp_path / "r.json"
    locked.write_text("{}")
    locked.chmod(0)
    assert _parse("--json", str(locked)) is None


def test_json_in_a_folder_named_like_a_url_part_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _parse("--json", "a/b:c.json") == CompressRequest(json_report=Path("a/b:c.json"))
