"""The CPU work of one request: decode the body, defend it, encode the answer.

Plain functions of bytes and settings, run in a worker thread: Pillow releases the GIL in its
decoders, in zlib and in libwebp, so threads of one process scale across cores without pickling
the images (``bench/bench_serve.py`` measures threads against processes).
"""

from __future__ import annotations

import hashlib
import io
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from lltd.common.errors import ImageError
from lltd.defense.kernel import apply
from lltd.defense.settings import DefenseSettings, Draw

#: What ``POST /v1/defend`` accepts (Pillow's names); anything else is refused before decoding.
INPUT_FORMATS = ("PNG", "JPEG", "WEBP")


@dataclass(frozen=True)
class Defended:
    data: bytes
    media_type: str
    headers: dict[str, str]
    decode_s: float
    defend_s: float
    encode_s: float
    size: tuple[int, int]  # width, height


def draw_for(data: bytes, settings: DefenseSettings) -> Draw:
    """The random steps for one request. Seeded, they are keyed by the body's SHA-256, so the same
    image gets the same defense from any worker at any time; unseeded, fresh entropy each time."""
    if not settings.randomised:
        return settings.draw()
    key = hashlib.sha256(data).hexdigest() if settings.seed is not None else None
    return settings.draw(settings.rng(key))


def draw_headers(settings: DefenseSettings, draw: Draw) -> dict[str, str]:
    """The settings used for this image, drawn values included, as response headers."""
    headers = {
        "X-Lltd-Quality": "off" if draw.quality is None else f"{draw.quality:g}",
        "X-Lltd-Flip": draw.flip or "off",
        "X-Lltd-Order": settings.order,
        "X-Lltd-Method": str(settings.method),
    }
    if settings.randomised:
        headers["X-Lltd-Defense"] = settings.label()
    if settings.resize_pad is not None:
        # repr(): exact floats, so a client can recompute the same pixels.
        headers["X-Lltd-Resize-Pad"] = (
            f"scale={draw.scale!r}; offset={draw.offset[0]!r},{draw.offset[1]!r}"
        )
    return headers


@contextmanager
def _image_errors() -> Iterator[None]:
    """Pillow's ways of failing on bad bytes, as the one-line errors the service answers with."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("not a PNG, JPEG or WebP image") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from None


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise ImageError("empty body (0 bytes)")
    image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{width}x{height} = {width * height} pixels exceeds the limit of "
            f"{max_pixels} (--max-pixels)"
        )
    return image


def pixels(data: bytes, max_pixels: int) -> int:
    """How many pixels the body decodes to, from its header alone (no pixel is decoded): the
    cost admission charges, known before a thread is taken."""
    with _image_errors():
        width, height = _open(data, max_pixels).size
    return width * height


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """Decode an uploaded image fully, with the limits ``lltd defend`` applies to files."""
    with _image_errors():
        image = _open(data, max_pixels)
        image.load()
    return image


class ImageTooLarge(ImageError):
    """More pixels than ``--max-pixels``."""


def encode(image: Image.Image, webp: bool) -> bytes:
    """PNG (level 1), or lossless WebP; the same settings as ``lltd defend --format``."""
    buffer = io.BytesIO()
    if webp:
        image.save(
            buffer,
            format="WEBP",
            lossless=True,
            exact=True,  # the colour under transparent pixels kept
            quality=25,  # pragma: no mutate (lossless effort: the same pixels, a larger file)
            method=1,  # pragma: no mutate (lossless effort: the same pixels, a larger file)
        )
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def defend_bytes(
    data: bytes, settings: DefenseSettings, max_pixels: int, webp: bool, rgb: bool = False
) -> Defended:
    """Decode, defend, encode; raises :class:`ImageError` (bad input) or :class:`CodecError`.

    ``rgb``: the defended pixels as RGB bytes, row by row, instead of an encoded image (for a
    model server that takes a tensor); alpha, if any, is dropped."""
    start = time.perf_counter()
    image = decode(data, max_pixels)
    decoded = time.perf_counter()
    draw = draw_for(data, settings)
    defended = apply(image, settings, draw)
    done = time.perf_counter()
    if rgb:
        out, media_type = defended.convert("RGB").tobytes(), "application/octet-stream"
    else:
        out, media_type = encode(defended, webp), "image/webp" if webp else "image/png"
    end = time.perf_counter()
    return Defended(
        out,
        media_type,
        draw_headers(settings, draw),
        decoded - start,
        done - decoded,
        end - done,
        defended.size,
    )
