"""Read what a PNG's header says (size, colour type, bit depth) without Pillow: os and zlib.

The lean path of ``lltd cwebp`` hands a PNG to cwebp itself only when Pillow would have done
the same (:data:`lltd.codecs.cwebp._CWEBP_NATIVE`): a single picture in a mode cwebp reads with
Pillow's meaning. This reader answers that question from the chunks before the image data.
"""

from __future__ import annotations

import os
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: (bit depth, colour type) that Pillow opens as RGB, RGBA, L, P or LA (PngImagePlugin._MODES):
#: the modes cwebp reads as Pillow does. 1-bit grey ("1") and 16-bit grey ("I;16") are not.
CWEBP_NATIVE = frozenset(
    {(2, 0), (4, 0), (8, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3), (8, 4), (16, 4)}
    | {(8, 6), (16, 6)}
)

_MAX_CHUNKS = 64  # ancillary chunks before the image data; more is not a PNG we take lightly


def png_size_if_native(path: str) -> tuple[int, int] | None:
    """``(width, height)`` of the PNG at ``path`` if cwebp may read it as it is: a valid
    signature and header, chunks with good CRCs up to the first IDAT, a native mode, and no
    animation control (APNG). None for anything else, which the caller leaves to Pillow."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        head = os.read(fd, 33)
        if len(head) != 33 or head[:8] != SIGNATURE or head[8:16] != b"\x00\x00\x00\rIHDR":
            return None
        if int.from_bytes(head[29:33], "big") != zlib.crc32(head[12:29]):
            return None
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        depth, colour, compression, filtering, interlace = head[24:29]
        if (depth, colour) not in CWEBP_NATIVE or compression or filtering or interlace > 1:
            return None
        if not (width and height):
            return None
        for _ in range(_MAX_CHUNKS):
            header = os.read(fd, 8)
            if len(header) != 8:
                return None
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"IDAT":
                return width, height
            if kind in (b"acTL", b"IEND") or length > 1 << 24:
                return None
            body = os.read(fd, length + 4)
            if len(body) != length + 4:
                return None
            if int.from_bytes(body[length:], "big") != zlib.crc32(kind + body[:length]):
                return None
        return None
    except OSError:
        return None
    finally:
        os.close(fd)
