"""``lltd cwebp`` in the typer app, for ``lltd --help``; the console entry (:func:`lltd.cli.main`)
runs :mod:`lltd.cli.lean.cwebp_command` directly, without importing typer."""

from __future__ import annotations

import typer

from lltd.cli.root import app


@app.command(
    "cwebp",
    short_help="cwebp INPUT -o OUTPUT.webp, with cwebp's options and their meaning.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
    help="cwebp [options] INPUT -o OUTPUT.webp, with cwebp 1.2.4's options and their meaning "
    "(lltd cwebp -longhelp lists them, and what each backend does). lltd's own options "
    "(--backend, --cwebp, --max-pixels, --auto-orient) go first.",
)
def cwebp_command(ctx: typer.Context) -> None:
    from lltd.cli.lean.cwebp_command import main

    raise typer.Exit(main(list(ctx.args)))
