"""The ``lltd`` command line: a thin typer layer over the library.

Each command lives in its own module and imports heavy dependencies (torch, foolbox, dask,
matplotlib) inside the command body only, so ``lltd --help`` and the light commands start fast.
"""

from __future__ import annotations

import re
import sys

from lltd.cli import attack, compress, cwebp, defend, evaluate, flip, watch  # noqa: F401
from lltd.cli.app import app, missing_extra
from lltd.errors import LltdError

# webp-converter accepted ``-q=60``; click would read that as the value "=60".
_SHORT_WITH_EQUALS = re.compile(r"^(-[a-zA-Z])=(.*)$")


_CWEBP_OWN_OPTIONS = ("--backend", "--cwebp", "--max-pixels")


def _shield_cwebp_grammar(argv: list[str]) -> list[str]:
    """``lltd cwebp`` takes cwebp's single-dash options (``-alpha_q``), which click would read
    as bundles of short flags (``-a -l -p -h``): hand everything after lltd's own options to the
    command untouched, behind ``--``."""
    head, rest = argv[:1], argv[1:]
    while rest and rest[0].split("=")[0] in _CWEBP_OWN_OPTIONS:
        take = 1 if "=" in rest[0] else 2
        head, rest = head + rest[:take], rest[take:]
    if not rest or rest[0] in ("-h", "--help"):
        return head + rest
    return [*head, "--", *rest]


def normalize_argv(argv: list[str]) -> list[str]:
    """Split ``-q=60`` into ``-q 60`` (arguments after ``--`` are left alone)."""
    if argv[:1] == ["cwebp"]:
        return _shield_cwebp_grammar(argv)
    out: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            return out + argv[index:]
        match = _SHORT_WITH_EQUALS.match(arg)
        out.extend(match.groups() if match else (arg,))
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors (LltdError) become one line on stderr and exit status 2."""
    args = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="lltd")
    except LltdError as exc:
        print(f"lltd: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ModuleNotFoundError as exc:  # a light install running a feature of an extra
        message = missing_extra(exc, args)
        if message is None:
            raise
        print(f"lltd: error: {message}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:  # e.g. an output folder that cannot be created
        print(f"lltd: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("lltd: interrupted", file=sys.stderr)
        sys.exit(130)


__all__ = ["app", "main", "normalize_argv"]
