"""The typer application object, shared by the command modules, with ``--version`` and the
one-line answer for a feature whose optional extra is not installed."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from lltd.cli.voice import LltdGroup, LltdTyper
from lltd.common.extras import extra_for, missing_extra_message

app = LltdTyper(
    name="lltd",
    cls=LltdGroup,  # lltd's one-line usage errors and the help's own value names
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from lltd.common.version import version

        typer.echo(f"lltd {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print lltd's version and exit.",
        ),
    ] = False,
) -> None:
    """Low-level transformation defense: WebP compression and flips against adversarial
    examples, for folders, drop folders and clusters."""


def missing_extra(exc: ModuleNotFoundError, args: list[str]) -> str | None:
    """The one-line message for ``exc`` when an optional extra provides the missing module."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    extra = extra_for(exc.name, command)
    if extra is None:
        return None
    feature = f"lltd {command}" if command else "lltd"
    if extra == "dask":
        uses_scheduler = any(a.startswith("--scheduler") for a in args) or os.environ.get(
            "LLTD_SCHEDULER"
        )
        feature += " --scheduler" if uses_scheduler else " with a scheme:// URL"
    return missing_extra_message(exc.name or "", extra, feature)
