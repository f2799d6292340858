"""lltd/cli/voice.py: click's usage errors as lltd's one line, exit statuses, and help texts in
the help's own words. In-process, on a small app built with the module's own classes (real
typer and click objects), so each line is pinned word for word; test_voice.py checks the real
``lltd`` commands in subprocesses."""

from __future__ import annotations

from typing import Any

import pytest
import typer
import typer.main
from typer.core import TyperArgument, TyperCommand, TyperOption

from lltd.cli.voice import (
    LltdCommand,
    LltdGroup,
    LltdTyper,
    _reason,
    click,
    summary,
    tidy_help,
    usage_line,
)

try:  # typer 0.28 carries its own click
    from typer._click import types
except ImportError:  # pragma: no cover (earlier typer)
    from click import types  # type: ignore[no-redef]


app = LltdTyper(
    cls=LltdGroup,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.command()
def convert(
    directory: str = typer.Argument(...),
    output_directory: str = typer.Option(..., "-o", "--output-directory"),
    mode: str = typer.Option(..., "-m", "--mode", "--the-mode"),
    quality: float = typer.Option(75.0, "-q", "--quality", min=0, max=100),
    jobs: int = typer.Option(1, "-j", "--jobs", envvar="VOICE_TEST_JOBS"),
    quiet: bool = typer.Option(False, "--quiet"),
    verbose: bool = typer.Option(False, "--verbose"),
) -> int:
    """Convert   images
    to WebP (see the guide). More words here."""
    return 3


@app.command(short_help="Short words, kept... whole")
def fail(kind: str = typer.Argument(...)) -> None:
    """Fail in the way asked. Never reached in the summary."""
    if kind == "abort":
        raise typer.Abort()
    if kind == "usage":
        raise click.UsageError("Bad combination.")
    raise click.ClickException("Disk is full.")


@app.command(hidden=True)
def secret() -> str:
    """Hidden. Not listed."""
    return "not a status"


@app.command(cls=TyperCommand)
def plain(directory: str = typer.Argument(...)) -> None:
    """Plain typer command! Its usage keeps typer's braces."""


GROUP = typer.main.get_command(app)


def _run(args: list[str], capsys: pytest.CaptureFixture, **kwargs: Any) -> tuple[Any, str, str]:
    with pytest.raises(SystemExit) as stopped:
        GROUP.main(args=args, prog_name="lltd", **kwargs)
    out, err = capsys.readouterr()
    return stopped.value.code, out, err


# -- usage errors, one line each ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["convert"], "lltd: error: DIR: missing; lltd convert needs this argument"),
        (["convert", "in", "-m", "x"],
         "lltd: error: -o/--output-directory: missing; lltd convert needs this option"),
        (["convert", "in", "-o", "out"],
         "lltd: error: --the-mode: missing; lltd convert needs this option"),
        (["convert", "in", "-o", "o", "-m", "x", "-q", "120"],
         "lltd: error: -q: 120.0 is not in the range 0<=x<=100"),
        (["convert", "in", "-o", "o", "-m", "x", "--quality=abc"],
         "lltd: error: --quality: 'abc' is not a number"),
        (["convert", "in", "-o", "o", "-m", "x", "--jobs", "2.5"],
         "lltd: error: --jobs: '2.5' is not a whole number"),
        (["convert", "in", "--xyzzy"], "lltd: error: --xyzzy: no such option of lltd convert"),
        (["convert", "in", "--bogus"], "lltd: error: --bogus: no such option of lltd convert "
         "(did you mean --jobs or --verbose?)"),
        (["convert", "in", "--verbosee"],
         "lltd: error: --verbosee: no such option of lltd convert (did you mean --verbose?)"),
        (["convert", "in", "--bo\ngus"],
         "lltd: error: --bo\\ngus: no such option of lltd convert"),
        (["convert", "in", "-o"], "lltd: error: -o: option '-o' requires an argument"),
        (["convert", "in", "x", "-o", "o", "-m", "x"],
         "lltd: error: got unexpected extra argument(s) (x) (see lltd convert --help)"),
        (["frobnicate"], "lltd: error: no such command 'frobnicate' (see lltd --help)"),
        (["fail", "usage"], "lltd: error: bad combination (see lltd fail --help)"),
    ],
)  # fmt: skip
def test_each_usage_error_is_one_line_and_status_2(
    args: list[str], line: str, capsys: pytest.CaptureFixture
) -> None:
    assert _run(args, capsys) == (2, "", line + "\n")


def test_a_bad_value_from_the_environment_names_every_spelling(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICE_TEST_JOBS", "x")
    line = "lltd: error: -j/--jobs: 'x' is not a whole number\n"
    assert _run(["convert", "in", "-o", "o", "-m", "x"], capsys) == (2, "", line)


def test_the_spelling_named_is_the_first_the_user_wrote(capsys: pytest.CaptureFixture) -> None:
    args = ["convert", "in", "-o", "o", "-m", "x", "--jobs=1", "-j", "x"]
    assert _run(args, capsys) == (2, "", "lltd: error: --jobs: 'x' is not a whole number\n")


def test_usage_line_without_a_context_names_lltd() -> None:
    assert usage_line(click.UsageError("Something odd."), []) == (
        "lltd: error: something odd (see lltd --help)"
    )


def test_a_missing_argument_without_a_help_name_is_its_name_in_capitals() -> None:
    command = LltdCommand("cmd", params=[TyperArgument(param_decls=["thing"], required=True)])
    tidy_help(command)
    with pytest.raises(click.MissingParameter) as caught:
        command.main(args=[], prog_name="x", standalone_mode=False)
    assert usage_line(caught.value, []) == "lltd: error: THING: missing; x needs this argument"


# -- other outcomes -------------------------------------------------------------------------


def test_a_click_exception_is_one_line_with_its_status(capsys: pytest.CaptureFixture) -> None:
    assert _run(["fail", "full"], capsys) == (1, "", "lltd: error: disk is full\n")


def test_abort_is_interrupted_and_status_130(capsys: pytest.CaptureFixture) -> None:
    assert _run(["fail", "abort"], capsys) == (130, "", "lltd: interrupted\n")


def test_a_commands_int_result_is_the_status_and_anything_else_is_0(
    capsys: pytest.CaptureFixture,
) -> None:
    assert _run(["convert", "in", "-o", "o", "-m", "x"], capsys) == (3, "", "")
    assert _run(["secret"], capsys) == (0, "", "")


def test_no_arguments_is_the_help_with_status_2(capsys: pytest.CaptureFixture) -> None:
    code, out, err = _run([], capsys)
    assert code == 2
    assert "Usage: lltd [OPTIONS] COMMAND [ARGS]..." in out + err
    assert "lltd: error" not in out + err


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["convert"], click.MissingParameter),
        (["frobnicate"], click.UsageError),
        (["fail", "full"], click.ClickException),
        (["fail", "abort"], typer.Abort),
        ([], click.NoArgsIsHelpError),
    ],
)
def test_a_caller_that_keeps_control_gets_the_exception(
    args: list[str], kind: type[BaseException], capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(kind):
        GROUP.main(args=args, prog_name="lltd", standalone_mode=False)
    assert "lltd: error" not in capsys.readouterr().err


def test_a_caller_that_keeps_control_gets_the_result(capsys: pytest.CaptureFixture) -> None:
    result = GROUP.main(
        args=["convert", "in", "-o", "o", "-m", "x"], prog_name="lltd", standalone_mode=False
    )
    assert result == 3
    assert GROUP.main(args=["secret"], prog_name="lltd", standalone_mode=False) == "not a status"


# -- help -----------------------------------------------------------------------------------


def test_the_app_makes_lltd_commands_unless_told_otherwise() -> None:
    assert type(GROUP.commands["convert"]) is LltdCommand
    assert type(GROUP.commands["plain"]) is TyperCommand


def test_a_required_argument_is_named_without_braces(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(["convert", "--help"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "Usage: lltd convert [OPTIONS] DIR"
    code, out, _ = _run(["plain", "--help"], capsys)
    assert out.splitlines()[0] == "Usage: lltd plain [OPTIONS] {directory}"


def test_root_help_lists_visible_commands_with_whole_first_sentences(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    commands = out.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in commands if line.strip()] == ["convert", "fail", "plain"]
    rows = {line.split()[0]: " ".join(line.split()[1:]) for line in commands if line.strip()}
    assert rows == {
        "convert": "Convert images to WebP (see the guide).",
        "fail": "Short words, kept... whole",
        "plain": "Plain typer command!",
    }


def test_a_group_with_no_visible_command_has_no_commands_section(
    capsys: pytest.CaptureFixture,
) -> None:
    hidden = LltdTyper(cls=LltdGroup, add_completion=False, rich_markup_mode=None)

    @hidden.command(hidden=True)
    def one() -> None:
        """One."""

    @hidden.command(hidden=True)
    def two() -> None:
        """Two."""

    with pytest.raises(SystemExit):
        typer.main.get_command(hidden).main(args=["--help"], prog_name="lltd")
    assert "Commands" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("Flip images (see x). Keep (the rest).", "Flip images (see x)."),
        ("Flip e.g. this. More", "Flip e.g. this."),
        ("Flip. (More)", "Flip."),
        ("Run it!  Now", "Run it!"),
        ("Why? Because", "Why?"),
        ("One.two. Three", "One.two."),
        ("all   one\n   sentence", "all one sentence"),
        (None, ""),
    ],
)
def test_summary_is_the_whole_first_sentence(text: str | None, first: str) -> None:
    assert summary(TyperCommand("x", help=text)) == first


def test_summary_prefers_the_short_help() -> None:
    assert summary(TyperCommand("x", help="Long. Text", short_help="Short")) == "Short"


# -- value names ----------------------------------------------------------------------------


class _Named(types.ParamType):
    def __init__(self, name: str) -> None:
        self.name = name


TYPE_WORDS = {
    "str": "TEXT", "text": "TEXT", "int": "INTEGER", "integer": "INTEGER",
    "int range": "INTEGER", "integer range": "INTEGER", "float": "NUMBER",
    "float range": "NUMBER", "path": "PATH", "file": "FILE", "filename": "FILE",
    "boolean": "BOOLEAN", "choice": "CHOICE", "odd kind": "ODD KIND",
}  # fmt: skip


def test_each_type_is_named_in_the_helps_words() -> None:
    params = [
        TyperOption(param_decls=[f"--o{i}"], type=_Named(name)) for i, name in enumerate(TYPE_WORDS)
    ]
    command = TyperCommand("x", params=params)  # type: ignore[arg-type]
    tidy_help(command)
    assert [p.metavar for p in command.params] == list(TYPE_WORDS.values())


def test_named_options_arguments_flags_and_given_metavars() -> None:
    command = TyperCommand(
        "x",
        params=[
            TyperOption(param_decls=["--given"], metavar="MINE", type=_Named("text")),
            TyperArgument(param_decls=["directory"]),
            TyperArgument(param_decls=["in_dir"]),
            TyperArgument(param_decls=["inputs"], nargs=-1),
            TyperArgument(param_decls=["other"]),
            TyperOption(param_decls=["-o", "--output-directory"], type=_Named("path")),
            TyperOption(param_decls=["--json"], type=_Named("path")),
            TyperOption(param_decls=["--scheduler"], type=_Named("text")),
            TyperOption(param_decls=["--quiet"], is_flag=True),
            TyperOption(param_decls=["-v"], count=True),
        ],
    )
    tidy_help(command)
    assert [p.metavar for p in command.params] == [
        "MINE", "DIR", "IN_DIR", "IN[:OUT]...", None, "OUT", "FILE", "ADDR", None, None,
    ]  # fmt: skip


def test_a_command_made_with_lltd_command_is_tidied() -> None:
    command = LltdCommand("x", params=[TyperOption(param_decls=["--n"], type=_Named("int"))])
    assert command.params[0].metavar == "INTEGER"


# -- click's sentence as lltd's tail ----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("'x' is not a valid float.", "'x' is not a number"),
        ("'x' is not a valid float range.", "'x' is not a number"),
        ("'x' is not a valid int.", "'x' is not a whole number"),
        ("'x' is not a valid integer.", "'x' is not a whole number"),
        ("'x' is not a valid integer range.", "'x' is not a whole number"),
        ("'x' is not a valid int range", "'x' is not a whole number"),
        ("'x' is not a valid float here.", "'x' is not a valid float here"),
        ("Got it.", "got it"),
        ("Got X.", "got X"),  # only full stops are taken off the end
        ("I am here.", "I am here"),  # a first word of one capital letter stays
        ("I1 is odd", "I1 is odd"),
        ("JSON is bad.", "JSON is bad"),
        ("A", "A"),
        ("  Padded.  ", "padded"),
        ("Two\nlines...", "two\\nlines"),
        ("", ""),
    ],
)
def test_reason_words(message: str, reason: str) -> None:
    assert _reason(message) == reason


def test_only_a_piece_wrapped_whole_in_braces_loses_them() -> None:
    many = LltdTyper(cls=LltdGroup, add_completion=False, rich_markup_mode=None)

    @many.command()
    def take(
        files: list[str] = typer.Argument(...),
        last: str = typer.Argument(..., metavar="Y}"),
        extra: str = typer.Argument(None, metavar="{Z"),
    ) -> None:
        """Take them."""

    @many.command()
    def other() -> None:
        """Other."""

    command = typer.main.get_command(many).commands["take"]  # type: ignore[attr-defined]
    ctx = command.make_context("take", ["a", "b"], resilient_parsing=True)
    assert command.collect_usage_pieces(ctx) == ["[OPTIONS]", "{files}...", "Y}", "[{Z]"]


def test_without_arguments_the_command_line_is_read_past_the_program_name(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["lltd", "convert", "in", "--bogus"])
    with pytest.raises(SystemExit) as stopped:
        GROUP.main(prog_name="lltd")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "lltd: error: --bogus: no such option of lltd convert (did you mean --jobs or --verbose?)\n"
    )
