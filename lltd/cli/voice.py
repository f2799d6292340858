"""One voice for the typer commands: click's usage errors become lltd's one line
(``lltd: error: OPTION: reason``, exit status 2) and ``--help`` names values as the help text
does (DIR, OUT, choices) instead of click's ``<str>``.

The lean paths (``lltd cwebp``, plain ``lltd compress``) print the same lines without typer;
this module is imported only where typer already is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer 0.28 carries its own copy of click; its exceptions are that copy's
    from typer._click import exceptions as click
except ImportError:  # earlier typer: click itself
    from click import exceptions as click  # type: ignore[no-redef]

if TYPE_CHECKING:
    from typer._click.core import Command, Parameter

from lltd.common.text import one_line, printable

#: Argument metavars as the help texts write them.
ARGUMENT_NAMES = {"directory": "DIR", "in_dir": "IN_DIR", "inputs": "IN[:OUT]..."}
#: Options whose value the help texts name (where a declaration does not set its own).
OPTION_NAMES = {"--output-directory": "OUT", "--json": "FILE", "--scheduler": "ADDR"}
#: click's type names, as click printed them before 8.2 (``<int range>`` reads as an error).
TYPE_NAMES = {
    "str": "TEXT",
    "text": "TEXT",
    "int": "INTEGER",
    "integer": "INTEGER",
    "int range": "INTEGER",
    "integer range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "file": "FILE",
    "filename": "FILE",
    "boolean": "BOOLEAN",
}


def tidy_help(command: Command) -> None:
    """Give every parameter of ``command`` a metavar in the help text's words."""
    for param in command.params:
        if param.metavar is not None:
            continue
        if param.param_type_name == "argument":
            param.metavar = ARGUMENT_NAMES.get(param.name or "")
        elif not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            named = next((OPTION_NAMES[o] for o in param.opts if o in OPTION_NAMES), None)
            kind = param.type.name
            param.metavar = named or TYPE_NAMES.get(kind, kind.upper())


def _option_as_given(param: Parameter, args: Sequence[str]) -> str:
    """The name the user wrote for ``param`` (``-q`` or ``--quality``), else its longest."""
    names = list(param.opts) + list(param.secondary_opts)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in names:
            return name
    if param.param_type_name == "argument":
        return param.metavar or (param.name or "").upper()
    return "/".join(names) if len(names) <= 2 else max(names, key=len)


#: click's names of number types, in a user's words.
_NUMBER_WORDS = (
    (re.compile(r"is not a valid float( range)?$"), "is not a number"),
    (re.compile(r"is not a valid int(eger)?( range)?$"), "is not a whole number"),
)


def _reason(message: str) -> str:
    """click's sentence as the tail of lltd's line: no full stop, lower-case first word."""
    message = one_line(message).strip().rstrip(".")
    for pattern, words in _NUMBER_WORDS:
        message = pattern.sub(words, message)
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def usage_line(exc: click.UsageError, args: Sequence[str]) -> str:
    """One ``lltd: error: ...`` line for a click usage error, naming the option and value."""
    command = exc.ctx.command_path if exc.ctx is not None else "lltd"
    if isinstance(exc, click.MissingParameter) and exc.param is not None:
        what = _option_as_given(exc.param, ())
        kind = exc.param.param_type_name
        return f"lltd: error: {what}: missing; {command} needs this {kind}"
    if isinstance(exc, click.BadParameter) and exc.param is not None:
        return f"lltd: error: {_option_as_given(exc.param, args)}: {_reason(exc.message)}"
    if isinstance(exc, click.NoSuchOption):
        hint = ""
        if exc.possibilities:
            hint = f" (did you mean {' or '.join(sorted(exc.possibilities))}?)"
        name = printable(exc.option_name)
        return f"lltd: error: {name}: no such option of {command}{hint}"
    if isinstance(exc, click.BadOptionUsage):
        return f"lltd: error: {printable(exc.option_name)}: {_reason(exc.message)}"
    return f"lltd: error: {_reason(exc.message)} (see {command} --help)"


class LltdCommand(TyperCommand):
    """A command whose parameters are named as its help text names them: ``lltd defend
    [OPTIONS] DIR``, not ``{directory}``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy_help(self)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # typer writes a required argument as {DIR}; the help text and man pages write DIR.
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p[:1] == "{" and p[-1:] == "}" else p for p in pieces]


class LltdTyper(typer.Typer):
    """typer's app, whose commands are :class:`LltdCommand` unless they name their own class."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or LltdCommand, **kwargs)


def summary(command: Command) -> str:
    """A command's whole first sentence (click cuts it to the terminal's width with "...")."""
    if command.short_help:
        return command.short_help
    text = " ".join((command.help or "").split())
    return _SENTENCE_END.split(text, maxsplit=1)[0]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


class LltdGroup(TyperGroup):
    """The ``lltd`` group: usage errors in lltd's one line instead of click's usage block
    (every command, whoever calls the app), and whole summaries in ``lltd --help``."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [
            (name, summary(command))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        given = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(
                args=given,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click.NoArgsIsHelpError as exc:  # plain ``lltd``: the help, status 2
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            if not standalone_mode:
                raise
            print(usage_line(exc, given), file=sys.stderr)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            print(f"lltd: error: {_reason(exc.format_message())}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            print("lltd: interrupted", file=sys.stderr)
            sys.exit(130)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)
