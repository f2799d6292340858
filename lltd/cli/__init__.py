"""The ``lltd`` command line: a thin typer layer over the library.

Each command lives in its own module and imports heavy dependencies (torch, foolbox, dask,
matplotlib) inside the command body only, so ``lltd --help`` and the light commands start fast.
Importing this package imports no typer: :func:`main` runs ``lltd cwebp`` (called once per file by
shell loops) before typer and the commands are loaded.
"""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: importing typing costs ``lltd cwebp`` a few ms per file.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    import typer


def _shield_cwebp_grammar(argv: list[str]) -> list[str]:
    """``lltd cwebp`` takes cwebp's single-dash options (``-alpha_q``), which click would read
    as bundles of short flags (``-a -l -p -h``): hand everything to the command untouched, behind
    ``--``. (The console entry runs ``lltd cwebp`` without typer; this serves ``main([...])``.)"""
    return [argv[0], "--", *argv[1:]] if argv[1:] else argv


def _route_cwebp_options(argv: list[str]) -> list[str]:
    """``compress`` takes every cwebp option; those it does not declare itself are handed over
    as ``--cwebp-arg`` tokens (click would split ``-sns`` into ``-s -n -s``)."""
    from lltd.codecs.cwebp_options import BY_NAME, NATIVE_IN_COMPRESS

    out: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            return out + argv[index:]
        spec = BY_NAME.get(arg)
        if spec is None or arg in NATIVE_IN_COMPRESS:
            out.append(arg)
            index += 1
            continue
        taken = argv[index : index + 1 + len(spec.args)]
        out.extend(f"--cwebp-arg={token}" for token in taken)
        index += len(taken)
    return out


def normalize_argv(argv: list[str]) -> list[str]:
    """Split ``-q=60`` into ``-q 60`` (arguments after ``--`` are left alone)."""
    if argv[:1] == ["cwebp"]:
        return _shield_cwebp_grammar(argv)
    import re

    # webp-converter accepted ``-q=60``; click would read that as the value "=60".
    short_with_equals = re.compile(r"^(-[a-zA-Z])=(.*)$")
    out: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":
            out += argv[index:]
            break
        match = short_with_equals.match(arg)
        out.extend(match.groups() if match else (arg,))
    return _route_cwebp_options(out) if argv[:1] == ["compress"] else out


#: Each command's module, named as the command.
COMMANDS = ("attack", "compress", "cwebp", "defend", "evaluate", "flip", "serve", "watch")


def _app(only: str | None = None) -> typer.Typer:
    """The typer app with every command, or with ``only`` that one: typer builds every
    registered command's parameters on each call (about 0.1 s of CPU for all eight), which a
    ``compress`` run over a folder of small images pays as part of its start-up."""
    for name in (only,) if only in COMMANDS else COMMANDS:
        # __import__, not importlib.import_module: only the former shows in -X importtime
        # (PYTHONPROFILEIMPORTTIME), which the heavy-import tests read.
        __import__(f"lltd.cli.{name}")
    from lltd.cli.root import app

    return app


def __getattr__(name: str) -> object:
    if name == "app":  # ``from lltd.cli import app``: the typer app with every command
        return _app()
    raise AttributeError(f"module 'lltd.cli' has no attribute {name!r}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors (LltdError) become one line on stderr and exit status 2."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["cwebp"]:  # the lean path: cwebp spawned, else no typer, no other command
        from lltd.cli.lean.cwebp_spawn import main as spawn_main

        status = spawn_main(raw[1:])
        if status is None:
            from lltd.cli.lean.cwebp_command import main as cwebp_main

            status = cwebp_main(raw[1:])
        sys.exit(status)
    if raw[:1] == ["compress"]:  # the lean path for the plain shapes batch jobs use: no typer
        from lltd.cli.lean.compress_argv import parse

        request = parse(raw[1:])
        if request is not None:
            from lltd.cli.lean.compress_work import run_compress

            status = _guarded(lambda: run_compress(request), raw)
            if argv is None and request.scheduler is None:
                _exit_now(status)
            sys.exit(status)
    # The command comes first (lltd's own options, --help and --version, stand alone).
    app = _app(raw[0] if raw else None)
    args = normalize_argv(raw)
    sys.exit(_guarded(lambda: app(args=args, prog_name="lltd"), args))


def _exit_now(status: int) -> None:
    """End a finished local batch without the interpreter's teardown, which frees every module
    and object one by one: about 8 ms of the 65 ms of an empty ``compress`` run. Nothing is
    left for it to do: outputs are in place, workers joined, the report written, and the
    kernel drops the folder locks. Only for ``lltd`` run as a program (a caller of
    :func:`main` gets its ``SystemExit``); a stream that cannot be flushed (a closed pipe)
    returns here, so that Python reports it as it always does."""
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # AttributeError: no stream at all
        return
    os._exit(status)


def os_error_line(exc: OSError) -> str:
    """``PATH: reason`` (``/out/x: not a directory``) rather than ``[Errno 20] ...: 'PATH'``."""
    from lltd.common.text import one_line, printable

    if exc.filename is None or not exc.strerror:
        return one_line(exc)
    reason = exc.strerror[:1].lower() + exc.strerror[1:]
    return f"{printable(exc.filename)}: {reason}"


def _guarded(call: Callable[[], int | None], args: list[str]) -> int:
    """Run ``call``; a user error (LltdError) becomes one line on stderr and status 2, an
    expected failure (permission, a full disk, unreachable storage) one line and status 1."""
    from lltd.common.errors import LltdError
    from lltd.common.text import one_line

    try:
        return call() or 0
    except LltdError as exc:
        print(f"lltd: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # a light install running a feature of an extra
        from lltd.cli.root import missing_extra

        message = missing_extra(exc, args)
        if message is None:
            raise
        print(f"lltd: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be created, a full disk
        print(f"lltd: error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # an unreachable s3:// store: one line, not botocore's traceback
        from lltd.cli.failures import storage_failure

        line = storage_failure(exc, args)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lltd: interrupted", file=sys.stderr)
        return 130


__all__ = ["app", "main", "normalize_argv"]
