"""``lltd compress`` without typer, for the command lines batch jobs use.

Importing typer and building the command cost every run 20-28 ms of wall time (an empty folder:
88-96 ms with typer, 68 ms without, side by side; bench/README.md), where a 200-image run takes
about 1 s. :func:`parse` reads the plain
shapes (a folder, the declared options as ``-q 60``, ``-q=60``, ``--quality=60``, cwebp options
passed through) into the same :class:`CompressRequest` the typer command builds, and answers None
for anything else (``--help``, an unknown or repeated option, a value out of range or not plainly
a number, ``--``, ``--scheduler``...), so typer reads those and every message stays typer's.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path

from lltd.cli.lean.compress_request import NAMES, RANGES, CompressRequest
from lltd.codecs.cwebp_options import BY_NAME, NATIVE_IN_COMPRESS

FIELD_BY_NAME = {name: field for field, names in NAMES.items() for name in names}
#: Each field's type, as written in the dataclass: bool, int, float, str or Path (or "... | None").
KIND = {f.name: str(f.type).split(" ")[0] for f in fields(CompressRequest)}
# Only what click's int() and float() read the same way: ASCII digits, no sign, no exponent.
NUMBER = {"int": re.compile(r"[0-9]{1,15}"), "float": re.compile(r"[0-9]{1,15}(\.[0-9]{0,15})?")}


def parse(argv: list[str], environ: Mapping[str, str] = os.environ) -> CompressRequest | None:
    """The request ``lltd compress ARGV`` makes, or None where typer must read ``argv``."""
    if environ.get("LLTD_SCHEDULER"):  # typer reads --scheduler's environment variable
        return None
    given: dict[str, object] = {}
    cwebp_args: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            if "directory" in given:
                return None
            given["directory"] = arg
            continue
        spec = BY_NAME.get(arg)
        if spec is not None and arg not in NATIVE_IN_COMPRESS:  # handed to cwebp's grammar
            taken = rest[: len(spec.args)]
            # normalize_argv would have split a -x=1 among them, and -- means more to click.
            if len(taken) < len(spec.args) or any(t[:1] == "-" and "=" in t for t in taken):
                return None
            if "--" in taken:
                return None
            cwebp_args += [arg, *taken]
            del rest[: len(spec.args)]
            continue
        name, equals, attached = arg.partition("=")
        # -q=60 (webp-converter's form) and --quality=60; -alpha_q=60 is left to typer, and so is
        # a newline after -q=, which normalize_argv's regex treats in its own way.
        if equals and not (name.startswith("--") or (len(name) == 2 and "\n" not in arg)):
            return None
        field = FIELD_BY_NAME.get(name)
        if field is None or field in given:
            return None
        if KIND[field] == "bool":
            if equals:
                return None
            given[field] = True
            continue
        if not equals:
            if not rest:
                return None
            attached = rest.pop(0)
        value = _value(field, attached)
        if value is None:
            return None
        given[field] = value
    return CompressRequest(**given, cwebp_args=tuple(cwebp_args))  # type: ignore[arg-type]


def _value(field: str, text: str) -> object | None:
    """``text`` as ``field``'s value, or None where typer should judge it."""
    if text.startswith("-"):  # a value or a forgotten one: click's reading is subtle
        return None
    kind = KIND[field]
    if kind in NUMBER:
        if not NUMBER[kind].fullmatch(text):
            return None
        number = int(text) if kind == "int" else float(text)
        low, high = RANGES.get(field, (None, None))
        if (low is not None and number < low) or (high is not None and number > high):
            return None
        return number
    if kind == "Path":
        return _json_path(text)
    return text


def _json_path(text: str) -> Path | None:
    """--json: click refuses an existing folder or unreadable file, and lltd a URL."""
    path = Path(text)
    if not path.parts or ":" in path.parts[0]:  # "" and "." have no parts
        return None
    try:
        found = os.stat(text)
    except OSError:
        return path
    if stat.S_ISDIR(found.st_mode) or not os.access(text, os.R_OK):
        return None
    return path
