"""WebP codecs behind one small interface.

A codec has ``name``, ``check(options)`` (raise :class:`~lltd.common.errors.CodecError` if it cannot
honour an option), ``encode(image, options) -> bytes`` and ``encode_file(source, target, options,
image)``, which writes the WebP for ``source`` (already opened as ``image``) to ``target``.

Importing this package imports nothing: the lean path of ``lltd cwebp`` reads the option table
(:mod:`lltd.codecs.cwebp_options`) and must not pay for Pillow; the names below load on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lltd.codecs.options import EncodeOptions, parse_metadata, webp_converter_options
    from lltd.codecs.registry import BACKENDS, Codec, get_codec

_WHERE = {
    "EncodeOptions": "lltd.codecs.options",
    "parse_metadata": "lltd.codecs.options",
    "webp_converter_options": "lltd.codecs.options",
    "BACKENDS": "lltd.codecs.registry",
    "Codec": "lltd.codecs.registry",
    "get_codec": "lltd.codecs.registry",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lltd.codecs' has no attribute {name!r}")
    # __import__, not importlib.import_module: only the former shows in -X importtime.
    return getattr(__import__(module, fromlist=[name]), name)


__all__ = [
    "BACKENDS",
    "Codec",
    "EncodeOptions",
    "get_codec",
    "parse_metadata",
    "webp_converter_options",
]
