"""The CPU work of one request: decode the body, defend it, encode the answer.

Plain functions of bytes and settings, run in a worker thread: Pillow releases the GIL in its
decoders, in zlib and in libwebp, so threads of one process scale across cores without pickling
the images (``bench/bench_serve.py`` measures threads against processes).
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from lltd.errors import ImageError
from lltd.serve.settings import Defense
from lltd.transforms import defend_image

#: What ``POST /v1/defend`` accepts (Pillow's names); anything else is refused before decoding.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True)
class Defended:
    data: bytes
    media_type: str
    decode_s: float
    defend_s: float
    encode_s: float


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """Decode an uploaded image fully, with the limits ``lltd defend`` applies to files."""
    if not data:
        raise ImageError("empty body (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"{width}x{height} = {width * height} pixels exceeds the limit of "
                    f"{max_pixels} (--max-pixels)"
                )
            image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("not a PNG, JPEG or WebP image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from None
    return image


class ImageTooLarge(ImageError):
    """More pixels than ``--max-pixels``."""


def encode(image: Image.Image, webp: bool) -> bytes:
    """PNG (level 1), or lossless WebP; the same settings as ``lltd defend --format``."""
    buffer = io.BytesIO()
    if webp:
        image.save(buffer, format="WEBP", lossless=True, exact=True, quality=25, method=1)
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def defend_bytes(data: bytes, defense: Defense, max_pixels: int, webp: bool) -> Defended:
    """Decode, defend, encode; raises :class:`ImageError` (bad input) or :class:`CodecError`."""
    start = time.perf_counter()
    image = decode(data, max_pixels)
    decoded = time.perf_counter()
    defended = defend_image(
        image,
        defense.quality,
        defense.direction,  # type: ignore[arg-type]
        defense.order,  # type: ignore[arg-type]
        method=defense.method,
    )
    done = time.perf_counter()
    out = encode(defended, webp)
    end = time.perf_counter()
    return Defended(
        out, "image/webp" if webp else "image/png", decoded - start, done - decoded, end - done
    )
