"""``lltd cwebp``: one file, with cwebp's own grammar, so scripts that call cwebp can call lltd."""

from __future__ import annotations

import typer

from lltd.cli import options as opt
from lltd.cli.app import app
from lltd.limits import DEFAULT_MAX_PIXELS


@app.command(
    "cwebp",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="cwebp [options] INPUT -o OUTPUT.webp: -q, -m, -lossless, -alpha_q, -exact, -metadata, "
    "-sharp_yuv, -preset, with cwebp's meaning. Options for lltd itself go before them.",
)
def cwebp_command(
    ctx: typer.Context,
    backend: opt.Backend = "pillow",
    cwebp: opt.CwebpPath = None,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
) -> None:
    import sys

    from lltd.atomic import atomic_output
    from lltd.codecs import get_codec
    from lltd.codecs.grammar import parse_cwebp_args
    from lltd.errors import CodecError, ImageError
    from lltd.imageio import open_image

    opt.check_backend(backend)
    call = parse_cwebp_args(list(ctx.args))
    codec = get_codec(backend, cwebp)
    try:
        codec.check(call.options)
        image = open_image(call.source, max_pixels, load=backend == "pillow")
        if call.output is None or str(call.output) == "-":
            data = codec.encode(image, call.options)
            if call.output is not None:
                sys.stdout.buffer.write(data)
            return
        with atomic_output(call.output) as target:
            codec.encode_file(call.source, target.path, call.options, image)
    except (CodecError, ImageError) as exc:
        opt.fail(f"{call.source}: {exc}", code=1)
