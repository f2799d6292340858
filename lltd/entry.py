"""The ``lltd`` console entry: dispatches ``lltd cwebp`` before typer and the other commands are
imported (a shell loop calls it once per file; typer alone costs more than cwebp's whole run)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["cwebp"]:
        from lltd.cwebp_command import main as cwebp_main

        sys.exit(cwebp_main(args[1:]))
    from lltd.cli import main as cli_main

    cli_main(args)
