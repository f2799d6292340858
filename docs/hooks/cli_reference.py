"""MkDocs hook: the command reference pages are generated from the command line itself.

A page line ``<!-- cli-reference: COMMAND -->`` becomes that command's summary, usage, arguments
and options (names, value, choices or range, default, help), read from the typer app that
``lltd`` runs; ``<!-- cwebp-options -->`` becomes the table of cwebp's options that
``lltd.codecs.option_table`` renders from the list tests/test_cwebp_options.py walks against
the installed cwebp. The reference can then never drift from what ``lltd --help`` says.

``python docs/hooks/cli_reference.py COMMAND`` prints one page's Markdown (for a quick look).
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

REFERENCE = re.compile(r"^<!--\s*cli-reference:\s*([a-z]+)\s*-->$", re.M)
CWEBP_OPTIONS = re.compile(r"^<!--\s*cwebp-options\s*-->$", re.M)


def _cell(text: object) -> str:
    """One table cell: no newlines, no pipes that would split it."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _command(name: str) -> Any:
    import typer

    from lltd.cli import _app

    group = typer.main.get_command(_app())
    try:
        return group.commands[name]
    except KeyError:
        raise ValueError(f"lltd has no command {name!r}: {sorted(group.commands)}") from None


def _value(param: Any) -> str:
    """What an option takes: its choices, its range, or its type's name; empty for a flag."""
    if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
        return ""
    if getattr(param, "is_flag", False):
        return ""
    kind = param.type
    choices = getattr(kind, "choices", None)
    if choices:
        return ", ".join(str(choice) for choice in choices)
    describe = getattr(kind, "_describe_range", None)
    name = param.metavar or (getattr(kind, "name", "") or "").upper()  # a metavar as written
    if describe is not None:
        return f"{name} ({describe()})"
    return name


def _default(param: Any) -> str:
    default = param.default
    if callable(default) or default is None or param.required:
        return ""
    if getattr(param, "is_flag", False):
        if not param.secondary_opts:
            return "" if default is False else "on"
        return f"`{(param.opts if default else param.secondary_opts)[0]}`"
    if isinstance(default, list | tuple):
        return ", ".join(f"`{item}`" for item in default) if default else ""
    if default == "":
        return ""
    return f"`{default}`"


def _usage(command: Any, name: str) -> str:
    import typer

    from lltd.cli import _app

    group = typer.main.get_command(_app())
    context = group.make_context("lltd", [name, "--help"], resilient_parsing=True)
    pieces = command.collect_usage_pieces(
        command.make_context(name, [], parent=context, resilient_parsing=True)
    )
    return " ".join(["lltd", name, *pieces])


def render(name: str) -> str:
    """The Markdown reference of ``lltd NAME``."""
    command = _command(name)
    lines = [_cell((command.help or "").strip().split("\n\n")[0]), ""]
    if name == "cwebp":  # cwebp's grammar is parsed by lltd itself, not by click: its own usage
        shown = subprocess.run(
            [sys.executable, "-m", "lltd", "cwebp", "-h"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return "\n".join([*lines, "```text", shown.rstrip(), "```", ""])
    lines += ["```text", _usage(command, name), "```", ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [
        p for p in command.params if p.param_type_name == "option" and not getattr(p, "hidden", 0)
    ]
    if arguments:
        lines += ["| argument | value | default | meaning |", "| --- | --- | --- | --- |"]
        for param in arguments:
            shown_name = (param.metavar or param.human_readable_name).upper()
            lines.append(
                f"| `{shown_name}` | {_cell(_value(param))} | {_cell(_default(param))} "
                f"| {_cell(getattr(param, 'help', '') or '')}"
                f"{' (required)' if param.required else ''} |"
            )
        lines.append("")
    lines += ["| option | value | default | meaning |", "| --- | --- | --- | --- |"]
    for param in options:
        names = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        meaning = _cell(param.help or "")
        if param.required:
            meaning += " (required)"
        if param.multiple:
            meaning += " (repeatable)"
        envvar = param.envvar if isinstance(param.envvar, str) else None
        if envvar:
            meaning += f" (environment: `{envvar}`)"
        lines.append(f"| {names} | {_cell(_value(param))} | {_cell(_default(param))} | {meaning} |")
    lines += ["| `-h`, `--help` | | | Show the help and exit. |", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs: fill in the generated parts of a page."""
    markdown = REFERENCE.sub(lambda match: render(match[1]), markdown)
    if CWEBP_OPTIONS.search(markdown):
        from lltd.codecs.option_table import render as option_table

        markdown = CWEBP_OPTIONS.sub(lambda _: option_table(), markdown)
    return markdown


if __name__ == "__main__":
    print(render(sys.argv[1]))
