"""Read what a PNG's or JPEG's header says (size, mode) without Pillow: os and zlib only.

The lean path of ``lltd cwebp`` hands a file to cwebp itself only when Pillow would have done
the same (:data:`lltd.codecs.cwebp._CWEBP_NATIVE`): a single picture in a mode cwebp reads with
Pillow's meaning. These readers answer that question from the headers before the image data,
and answer None (leave it to Pillow) for anything they are not sure of.
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

_MAX_CHUNKS = 64  # chunks or segments before the image data; more: left to Pillow


def size_if_native(path: str) -> tuple[int, int] | None:
    """``(width, height)`` of the PNG or JPEG at ``path`` if cwebp may read it as it is."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        head = os.pread(fd, 3, 0)
        if head == b"\xff\xd8\xff":
            return _jpeg_size(fd)
        return _png_size(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


#: Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(fd: int) -> tuple[int, int] | None:
    """8-bit grey or colour (Pillow's L and RGB), and no MPF index (Pillow opens a file with one
    as an MPO, which the full path converts first)."""
    position = 2
    for _ in range(_MAX_CHUNKS):
        header = os.pread(fd, 4, position)
        if len(header) != 4 or header[0] != 0xFF:
            return None
        marker, length = header[1], int.from_bytes(header[2:], "big")
        if marker in _SOF:
            frame = os.pread(fd, 6, position + 4)
            if len(frame) != 6:
                return None
            precision, components = frame[0], frame[5]
            height, width = int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:5], "big")
            if precision != 8 or components not in (1, 3) or not (width and height):
                return None
            return width, height
        if marker in (0xD8, 0xD9, 0xDA) or 0xD0 <= marker <= 0xD7 or length < 2:
            return None  # a second SOI, the end, or scan data before any frame header
        if marker == 0xE2 and os.pread(fd, 4, position + 4) == b"MPF\0":
            return None
        position += 2 + length
    return None


def _png_size(fd: int) -> tuple[int, int] | None:
    """A valid signature and header, chunks with good CRCs up to the first IDAT, a native mode,
    and no animation control (APNG)."""
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
