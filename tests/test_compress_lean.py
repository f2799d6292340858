"""``lltd compress`` reads plain command lines without typer (lltd.cli.lean.compress_argv), into the
very request the typer command builds; anything else falls back to typer and its messages."""

from __future__ import annotations

import string
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lltd.cli import _app, normalize_argv
from lltd.cli.lean import compress_work
from lltd.cli.lean.compress_argv import KIND, parse
from lltd.cli.lean.compress_request import NAMES, RANGES, CompressRequest
from lltd.codecs.cwebp_options import BY_NAME, NATIVE_IN_COMPRESS


def typer_request(argv: list[str]) -> CompressRequest:
    """What the typer command hands the work function for ``lltd compress ARGV``."""
    captured: list[CompressRequest] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compress_work, "run_compress", lambda r: captured.append(r) or 0)
        patch.delenv("LLTD_SCHEDULER", raising=False)
        app = _app("compress")
        app(args=normalize_argv(["compress", *argv]), prog_name="lltd", standalone_mode=False)
    assert len(captured) == 1
    return captured[0]


# Text a user might give: any character, but not a leading dash (the lean parser leaves those
# to typer) nor a directory name typer would take for an option.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12)
PLAIN = TEXT.filter(lambda t: not t.startswith("-"))


def _number(field: str) -> st.SearchStrategy[str]:
    low, high = RANGES.get(field, (0, None))
    ints = st.integers(low, high if high is not None else 10**9)
    if KIND[field] == "int":
        return ints.map(str) | ints.map(lambda n: f"00{n}")
    decimals = st.decimals(low, high, places=3, allow_nan=False, allow_infinity=False)
    return ints.map(str) | decimals.map(str).filter(lambda t: "E" not in t)


def _value(field: str) -> st.SearchStrategy[str]:
    if KIND[field] in ("int", "float"):
        return _number(field)
    if KIND[field] == "Path":  # names that do not exist where the test runs
        return st.text(string.ascii_lowercase, min_size=6, max_size=10).map(
            lambda t: f"no-such-{t}.json"
        )
    return PLAIN


@st.composite
def option(draw: st.DrawFn, field: str) -> list[str]:
    name = draw(st.sampled_from(NAMES[field]))
    if KIND[field] == "bool":
        return [name]
    value = draw(_value(field))
    joined = name.startswith("--") or (len(name) == 2 and "\n" not in value)
    if joined and draw(st.booleans()):
        return [f"{name}={value}"]
    return [name, value]


PASS_THROUGH = sorted(name for name in BY_NAME if name not in NATIVE_IN_COMPRESS)


@st.composite
def cwebp_option(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(PASS_THROUGH))
    values = st.integers(0, 99).map(str) | st.sampled_from(["a", "1.5", "x y"])
    return [name, *(draw(values) for _ in BY_NAME[name].args)]


@st.composite
def supported_argv(draw: st.DrawFn) -> list[str]:
    """A command line the lean parser must read: each option at most once, valid values."""
    fields = draw(st.lists(st.sampled_from(sorted(NAMES)), unique=True, max_size=8))
    groups = [draw(option(field)) for field in fields]
    groups += draw(st.lists(cwebp_option(), max_size=3))
    if draw(st.booleans()):
        groups.append([draw(PLAIN)])
    order = draw(st.permutations(groups))
    return [token for group in order for token in group]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(supported_argv())
def test_the_lean_parser_builds_what_typer_builds(argv):
    lean = parse(argv, environ={})
    assert lean is not None, argv
    assert lean == typer_request(argv)


TOKENS = st.sampled_from(
    [
        *(name for names in NAMES.values() for name in names),
        *("-q=60", "--quality=7", "-j=2", "--", "-", "--help", "-h", "--bogus", "-x", "-q60"),
        *("-alpha_q=5", "-sns", "-crop", "--scheduler", "--cwebp-arg=-v", "60", "101", "-1"),
        *("1e2", "nan", "a", "", "x=1", "-f=3"),
    ]
)


BAD_VALUES = st.sampled_from(["101", "-1", "1e2", "nan", "abc", "", "0", "7", "1.5", "-q", "--"])


@st.composite
def near_miss_argv(draw: st.DrawFn) -> list[str]:
    """A supported command line with odd tokens put in: a bad value, a repeat, an unknown."""
    argv = draw(supported_argv())
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([n for names in NAMES.values() for n in names]))
        odd = draw(st.lists(BAD_VALUES | TOKENS | PLAIN, min_size=1, max_size=2))
        insert = draw(st.sampled_from([[name, *odd], odd]))
        at = draw(st.integers(0, len(argv)))
        argv[at:at] = insert
    return argv


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS | PLAIN, max_size=8) | near_miss_argv())
def test_whatever_the_lean_parser_accepts_typer_reads_the_same(argv):
    lean = parse(argv, environ={})
    if lean is not None:
        assert lean == typer_request(argv)


def test_the_defaults_are_the_typer_commands():
    assert parse([], environ={}) == typer_request([]) == CompressRequest()


@pytest.mark.parametrize(
    "argv",
    [
        ["-q", "101"],
        ["-q", "abc"],
        ["--quality=1e2"],
        ["-q", "60", "-q", "70"],
        ["--bogus"],
        ["--help"],
        ["--", "-q"],
        ["-q"],
        ["-alpha_q=50"],
        ["-j", "-1"],
        ["--max-pixels", "0"],
        ["--scheduler", "local"],
        ["a", "b"],
        ["-o=out\n"],  # normalize_argv's regex would drop that newline
        ["-crop", "1", "-x=2", "3", "4"],  # and split that -x=2
        ["-resize", "1"],  # a cwebp option short of its arguments
    ],
)
def test_what_the_lean_parser_refuses_goes_to_typer(argv):
    assert parse(argv, environ={}) is None
    assert parse(["-q", "60"], environ={"LLTD_SCHEDULER": "tcp://x:1"}) is None


def imports(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def run(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lltd", "compress", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )


def test_a_plain_run_imports_no_typer_and_converts(make_image, tmp_path):
    make_image(tmp_path / "in" / "a.png")
    result = run(tmp_path, "in", "-q", "60", "-o", "out", "--json", "r.json")
    assert result.returncode == 0, result.stderr[-2000:]
    names = imports(result)
    assert "lltd.cli.lean.compress_work" in names
    assert not {name for name in names if name.split(".")[0] in ("typer", "click")}
    assert "lltd.cli.compress" not in names
    assert (tmp_path / "out" / "a.webp").stat().st_size > 0
    assert "Converted files count: 1" in result.stdout
    assert '"quality": 60' in (tmp_path / "r.json").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["in", "-q", "101"], "101.0 is not in the range 0<=x<=100"),
        (["in", "--bogus"], "lltd: error: --bogus: no such option of lltd compress"),
        (["in", "in2"], "unexpected extra argument(s) (in2)"),
    ],
)
def test_refused_command_lines_get_the_typer_paths_errors(make_image, tmp_path, argv, message):
    make_image(tmp_path / "in" / "a.png")
    result = run(tmp_path, *argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert "typer" in imports(result)
    assert not (tmp_path / "webp-converted").exists()


def test_help_is_typers(tmp_path):
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    assert "Usage: lltd compress" in result.stdout and "--ignore-filename-match" in result.stdout


def test_a_lean_run_reports_user_errors_in_one_line(tmp_path):
    result = run(tmp_path, "missing", "-q", "60")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "lltd: error: input directory missing does not exist"
    assert "typer" not in imports(result)


def test_the_lean_table_is_the_typer_commands_option_list():
    """Every option typer declares for compress is in NAMES with the same names (or left to
    typer on purpose), so a new option or alias cannot be missed by the lean parser unnoticed."""
    import typer.main

    command = typer.main.get_command(_app("compress")).commands["compress"]  # type: ignore[attr-defined]
    declared = {p.name: tuple(p.opts) for p in command.params if p.param_type_name == "option"}
    left_to_typer = {"scheduler", "cwebp_args", "help"}
    assert {k: set(v) for k, v in declared.items() if k not in left_to_typer} == {
        k: set(v) for k, v in NAMES.items()
    }
    assert set(KIND[field] for field in NAMES) <= {"bool", "int", "float", "str", "Path"}
