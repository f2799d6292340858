"""The lean path of ``lltd cwebp``: cwebp itself, spawned, writing a temporary beside the
destination that is renamed into place once whole.

Shell jobs call the encoder once per file, so everything here is paid per file. This module
imports os, sys, stat and zlib and lltd's option table: no Pillow, pathlib, subprocess or
tempfile. It takes the common call (a PNG or JPEG that cwebp reads as Pillow would, an output
file or ``-o -``, cwebp found) and returns None for anything else: another input format, any
usage error (so the wording stays the full path's), ``-version``, ``--backend pillow``,
``--auto-orient``. :mod:`lltd.cli.lean.cwebp_command` then runs exactly as without this path.
"""

from __future__ import annotations

import os
import stat
import sys

from lltd.common.errors import LltdError, UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


class Own:
    """lltd's own options, which go before cwebp's. ``backend`` None: cwebp when found, else
    Pillow."""

    def __init__(self) -> None:
        self.backend: str | None = None
        self.cwebp: str | None = None
        self.max_pixels = DEFAULT_MAX_PIXELS
        self.auto_orient = False


_OWN_VALUED = ("--backend", "--cwebp", "--max-pixels")


def split_own(argv: list[str]) -> tuple[Own, list[str]]:
    """lltd's options from the front of ``argv``, and the cwebp arguments after them."""
    own, rest = Own(), list(argv)
    while rest:
        head = rest[0]
        name, _, inline = head.partition("=")
        if head == "--auto-orient":
            own.auto_orient, rest = True, rest[1:]
            continue
        if name not in _OWN_VALUED:
            break
        if not inline:
            if len(rest) < 2:
                raise UsageError(f"{name} needs a value")
            inline, rest = rest[1], rest[2:]
        else:
            rest = rest[1:]
        if name == "--backend":
            if inline not in ("pillow", "cwebp"):
                raise UsageError(f"--backend must be one of pillow, cwebp, got {inline!r}")
            own.backend = inline
        elif name == "--cwebp":
            own.cwebp = inline
        else:
            try:
                own.max_pixels = int(inline)
            except ValueError:
                raise UsageError(f"--max-pixels takes an integer, got {inline!r}") from None
    return own, rest


class _Call:
    def __init__(self) -> None:
        self.options: list[str] = []  # cwebp's encoding options, passed on as given
        self.printing: list[str] = []  # -v, -print_psnr, -d f.pgm ...
        self.quiet = False
        self.inputs: list[str] = []
        self.output: str | None = None


def _scan(args: Iterator[str]) -> _Call | None:
    """The call, its values checked as the grammar checks them; None where the full path must
    speak (a bad or unknown option, -h, -version, raw YUV input)."""
    from lltd.codecs.cwebp_options import BY_NAME, INFO, INPUT, OUTPUT
    from lltd.codecs.cwebp_values import check_values, take_values

    call = _Call()
    for arg in args:
        if arg == "--":
            call.inputs.extend(args)
            break
        if arg == "-o":
            call.output = next(args, None)
            if call.output is None:
                return None
            continue
        spec = BY_NAME.get(arg)
        if spec is None:
            if arg.startswith("-") and arg != "-":
                return None
            call.inputs.append(arg)
            continue
        if spec.kind in (INFO, INPUT):
            return None
        raw = take_values(spec, args)
        check_values(spec, raw)
        if arg == "-quiet":
            call.quiet = True
        elif spec.kind == OUTPUT:
            call.printing += [arg, *raw]
        else:
            call.options += [arg, *raw]
    return call


def _cwebp(own: Own) -> str | None:
    from lltd.codecs.cwebp_locate import cwebp_on_path, explicit_cwebp

    return explicit_cwebp(own.cwebp) or cwebp_on_path()


def _source_ok(source: str, max_pixels: int) -> bool:
    from lltd.codecs.image_header import size_if_native

    try:
        st = os.stat(source)
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return False
    size = size_if_native(source)
    return size is not None and size[0] * size[1] <= max_pixels


def try_spawn(argv: list[str]) -> int | None:
    """Run ``lltd cwebp ARGV`` through cwebp; the exit status, or None: not taken, nothing
    written, nothing printed."""
    try:
        own, rest = split_own(argv)
        if own.backend == "pillow" or own.auto_orient:
            return None
        call = _scan(iter(rest))
        if call is None or len(call.inputs) != 1 or call.output is None:
            return None
        binary = _cwebp(own)
    except LltdError:
        return None
    source = call.inputs[0]
    if binary is None or not _source_ok(source, own.max_pixels):
        return None
    from lltd.cli.lean.cwebp_run import run_cwebp

    printing = call.printing
    extra = ["-quiet"] if call.quiet or not printing else printing
    return run_cwebp(binary, [*call.options, *extra], source, call.output, capture=not printing)


def main(argv: list[str]) -> int | None:
    """:func:`try_spawn` with lltd's error convention: one line on stderr, exit 2 for usage
    errors; None: left to :mod:`lltd.cli.lean.cwebp_command`."""
    try:
        return try_spawn(argv)
    except LltdError as exc:
        from lltd.common.text import one_line

        print(f"lltd: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        from lltd.cli import os_error_line  # the package's own __init__: imported already

        print(f"lltd: error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lltd: interrupted", file=sys.stderr)
        return 130
