"""``lltd cwebp``: one file, with cwebp's own grammar, so scripts that call cwebp can call lltd.

Shell jobs call the encoder once per file, so this path is kept lean: :func:`lltd.cli.main` first
tries :mod:`lltd.cli.lean.cwebp_spawn` (cwebp itself, no Pillow), then comes here, before typer and
the other commands are imported; this path imports the option table, Pillow's image core with the
PNG/JPEG readers and the WebP plugin, and nothing else of size.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lltd.cli.lean.cwebp_spawn import Own, split_own
from lltd.common.errors import CodecError, ImageError, LltdError, UsageError
from lltd.common.text import one_line, printable

USAGE = (
    "usage: lltd cwebp [--backend cwebp|pillow] [--cwebp PATH] [--max-pixels N] [--auto-orient]\n"
    "                  [cwebp options] INPUT [-o OUTPUT.webp | -o -]\n"
    "--backend: cwebp (the default where a cwebp binary is found) or pillow\n"
)


def help_text(long: bool) -> str:
    from lltd.codecs.cwebp_options import HONOURED, OPTIONS

    lines = [USAGE]
    if not long:
        import textwrap

        names = " ".join(spec.name for spec in OPTIONS)
        lines.append("cwebp's options, with cwebp's meaning (-longhelp: each, per backend):")
        lines += textwrap.wrap(names, 78, initial_indent="  ", subsequent_indent="  ")
        return "\n".join(lines) + "\n"
    lines.append("Options (--backend cwebp honours all; [pillow: ...] is the pillow backend):")
    for spec in OPTIONS:
        names = " / ".join(spec.names) + (" " + " ".join(f"<{a}>" for a in spec.args))
        pillow = "yes" if spec.pillow == HONOURED else spec.pillow.split(" (")[0]
        lines.append(f"  {names:28s} {spec.meaning} [pillow: {pillow}]")
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    """Run ``lltd cwebp ARGV``; returns the exit status."""
    if not argv or argv[0] in ("--help",):
        sys.stdout.write(help_text(long=bool(argv)))
        return 0 if argv else 2
    own, rest = split_own(argv)
    from lltd.codecs.grammar import parse_cwebp_args

    call = parse_cwebp_args(rest)
    # Pillow chosen only because no cwebp binary exists: a refusal says what would honour it.
    fallback = own.backend is None and not own.auto_orient
    if own.backend is None:
        own.backend = _default_backend(own)
    fallback = fallback and own.backend == "pillow"
    if call.info is not None:
        return _info(call.info, own)
    assert call.source is not None
    codec = _codec(own)
    try:
        codec.check(call.options)
    except CodecError as exc:  # an option this backend cannot honour: a usage error, as compress
        raise UsageError(_refusal(str(exc), fallback)) from None
    if own.backend == "pillow":
        refused = [tokens[0] for tokens in call.printing if tokens[0] not in _PILLOW_PRINTS]
        if refused or call.yuv_size:
            name = refused[0] if refused else "-s"
            message = f"the pillow backend cannot honour {name}; use --backend cwebp"
            raise UsageError(_refusal(message, fallback))
    try:
        _encode(call, own, codec)
    except (CodecError, ImageError) as exc:
        print(f"lltd: error: {printable(call.source)}: {exc}", file=sys.stderr)
        return 1
    return 0


def _default_backend(own: Own) -> str:
    """cwebp's grammar, so cwebp's encoder where there is one: byte-identical output, every
    option honoured. Pillow where no cwebp binary is found, and for ``--auto-orient``: the
    cwebp backend would get the turned pixels as a PNG, without the EXIF that ``-metadata exif``
    keeps."""
    if own.auto_orient:
        return "pillow"
    from lltd.codecs.cwebp import cwebp_available

    return "cwebp" if cwebp_available(own.cwebp) else "pillow"


def _refusal(message: str, fallback: bool) -> str:
    if not fallback:
        return message
    from lltd.codecs.cwebp import NOT_FOUND

    return f"{message} (Pillow was chosen because no cwebp binary was found: {NOT_FOUND})"


_PILLOW_PRINTS = frozenset({"-v", "-short", "-progress"})


def _codec(own: Own):  # type: ignore[no-untyped-def]
    from lltd.codecs import get_codec

    return get_codec(own.backend, own.cwebp)


def _info(which: str, own: Own) -> int:
    if which == "-version":
        if own.backend == "cwebp":
            print(_codec(own).version())
        else:
            from PIL import features

            print(features.version("webp"))
        return 0
    sys.stdout.write(help_text(long=which == "-H"))
    return 0


def _encode(call, own: Own, codec) -> None:  # type: ignore[no-untyped-def]
    from lltd.fs.atomic import atomic_output

    source: Path = call.source
    image = None
    if call.yuv_size is None:
        from lltd.imaging.imageio import open_image

        image = open_image(
            source, own.max_pixels, load=own.backend == "pillow", auto_orient=own.auto_orient
        )
    elif call.yuv_size[0] * call.yuv_size[1] > own.max_pixels:
        raise ImageError(f"-s {call.yuv_size[0]} {call.yuv_size[1]} exceeds --max-pixels")
    output = call.output
    if output is None or str(output) == "-":
        data = _encode_bytes(call, own, codec, image)
        if output is None:
            if not call.quiet:  # cwebp says so too
                print(
                    "lltd: no output file specified (no -o): encoded, and the result discarded",
                    file=sys.stderr,
                )
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    with atomic_output(output) as target:
        _encode_to(call, own, codec, image, target.path)


def _encode_to(call, own: Own, codec, image, target: Path) -> None:  # type: ignore[no-untyped-def]
    if own.backend == "cwebp":
        printing = [token for tokens in call.printing for token in tokens]
        extra = ["-quiet"] if call.quiet or not printing else printing
        if call.yuv_size is not None:
            extra += ["-s", *map(str, call.yuv_size)]
        shown = {str(target): str(call.output)}  # cwebp writes a temporary; say the destination
        codec.encode_file(
            call.source, target, call.options, image, extra, capture=not printing, names=shown
        )
    else:
        codec.encode_file(call.source, target, call.options, image)


def _encode_bytes(call, own: Own, codec, image) -> bytes:  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lltd-cwebp-") as scratch:
        target = Path(scratch) / "out.webp"
        _encode_to(call, own, codec, image, target)
        return target.read_bytes()


def main(argv: list[str]) -> int:
    """``run`` with lltd's error convention: one line on stderr, exit 2 for usage errors."""
    try:
        return run(argv)
    except LltdError as exc:
        print(f"lltd: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        from lltd.cli import os_error_line  # the package's own __init__: imported already

        print(f"lltd: error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lltd: interrupted", file=sys.stderr)
        return 130
