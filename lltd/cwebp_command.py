"""``lltd cwebp``: one file, with cwebp's own grammar, so scripts that call cwebp can call lltd.

Shell jobs call the encoder once per file, so this path is kept lean: :func:`lltd.cli.main`
dispatches it before typer and the other commands are imported; it imports the option table,
Pillow's image core with the PNG/JPEG readers and the WebP plugin, and nothing else of size.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lltd.errors import CodecError, ImageError, LltdError, UsageError
from lltd.limits import DEFAULT_MAX_PIXELS
from lltd.text import one_line, printable

USAGE = (
    "usage: lltd cwebp [--backend pillow|cwebp] [--cwebp PATH] [--max-pixels N] [--auto-orient]\n"
    "                  [cwebp options] INPUT [-o OUTPUT.webp | -o -]\n"
)


class _Own:
    """lltd's own options, which go before cwebp's."""

    def __init__(self) -> None:
        self.backend = "pillow"
        self.cwebp: str | None = None
        self.max_pixels = DEFAULT_MAX_PIXELS
        self.auto_orient = False


_OWN_VALUED = ("--backend", "--cwebp", "--max-pixels")


def _split_own(argv: list[str]) -> tuple[_Own, list[str]]:
    own, rest = _Own(), list(argv)
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
    own, rest = _split_own(argv)
    from lltd.codecs.grammar import parse_cwebp_args

    call = parse_cwebp_args(rest)
    if call.info is not None:
        return _info(call.info, own)
    assert call.source is not None
    codec = _codec(own)
    try:
        codec.check(call.options)
    except CodecError as exc:  # an option this backend cannot honour: a usage error, as compress
        raise UsageError(str(exc)) from None
    if own.backend == "pillow":
        refused = [tokens[0] for tokens in call.printing if tokens[0] not in _PILLOW_PRINTS]
        if refused or call.yuv_size:
            name = refused[0] if refused else "-s"
            raise UsageError(f"the pillow backend cannot honour {name}; use --backend cwebp")
    try:
        _encode(call, own, codec)
    except (CodecError, ImageError) as exc:
        print(f"lltd: error: {printable(call.source)}: {exc}", file=sys.stderr)
        return 1
    return 0


_PILLOW_PRINTS = frozenset({"-v", "-short", "-progress"})


def _codec(own: _Own):  # type: ignore[no-untyped-def]
    from lltd.codecs import get_codec

    return get_codec(own.backend, own.cwebp)


def _info(which: str, own: _Own) -> int:
    if which == "-version":
        if own.backend == "cwebp":
            print(_codec(own).version())
        else:
            from PIL import features

            print(features.version("webp"))
        return 0
    sys.stdout.write(help_text(long=which == "-H"))
    return 0


def _encode(call, own: _Own, codec) -> None:  # type: ignore[no-untyped-def]
    from lltd.atomic import atomic_output

    source: Path = call.source
    image = None
    if call.yuv_size is None:
        from lltd.imageio import open_image

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


def _encode_to(call, own: _Own, codec, image, target: Path) -> None:  # type: ignore[no-untyped-def]
    if own.backend == "cwebp":
        printing = [token for tokens in call.printing for token in tokens]
        extra = ["-quiet"] if call.quiet or not printing else printing
        if call.yuv_size is not None:
            extra += ["-s", *map(str, call.yuv_size)]
        codec.encode_file(call.source, target, call.options, image, extra, capture=not printing)
    else:
        codec.encode_file(call.source, target, call.options, image)


def _encode_bytes(call, own: _Own, codec, image) -> bytes:  # type: ignore[no-untyped-def]
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
        print(f"lltd: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lltd: interrupted", file=sys.stderr)
        return 130
