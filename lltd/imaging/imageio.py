"""Safe image reading: every image lltd decodes goes through :func:`open_image`."""

from __future__ import annotations

import io
import stat
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from lltd.common.errors import ImageError
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.imaging.transparency import has_transparency

# Modes libwebp can take directly (through Pillow) without losing information.
_DIRECT_MODES = {"RGB", "RGBA"}


def open_image(
    path: Path,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    *,
    load: bool = True,
    animated: bool = False,
    auto_orient: bool = False,
    data: bytes | None = None,
) -> Image.Image:
    """Open ``path`` and (unless ``load`` is false) decode it fully.

    ``data``: the file's bytes, already read by the caller from a regular file (the provenance
    record hashes them): decoded from memory rather than read a second time.

    ``auto_orient`` applies the EXIF orientation (a camera's "rotate me" tag) to the pixels and
    drops the tag; the image is then always decoded. An image that needs no turn is returned as
    opened (with its ``format``, so the cwebp backend can still read the file itself).

    Raises :class:`ImageError` with a one-line reason for anything that is not a readable image
    within the pixel limit. ``max_pixels`` is the only limit: Pillow's own bomb check (at
    178,956,970 pixels) is lifted, so a larger ``--max-pixels`` is honoured and every refusal
    quotes the user's number.
    """
    if data is None:
        try:
            st = path.stat()
        except OSError as exc:
            raise ImageError(f"cannot read: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            raise ImageError("not a regular file")  # a FIFO would block, a device never ends
        size = st.st_size
    else:
        size = len(data)
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # ours is checked below, before any pixel is decoded
            image = Image.open(path if data is None else io.BytesIO(data))
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageError(
                    f"{width}x{height} = {width * height} pixels exceeds the limit of "
                    f"{max_pixels} (--max-pixels)"
                )
            frames = getattr(image, "n_frames", 1)
            if not animated and getattr(image, "is_animated", False) and frames > 1:
                # lltd turns one picture into one picture (a classifier's input); keeping only
                # the first frame would drop the others without a word.
                raise ImageError(
                    f"animated image ({frames} frames): only single pictures are converted; "
                    "not converted (the original is kept)"
                )
            if auto_orient:
                image = apply_orientation(image)
            if load:
                image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError("not an image, or a format Pillow cannot read") from None
    except PermissionError as exc:
        raise ImageError(f"cannot read: {exc.strerror}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncated or corrupt data as OSError/SyntaxError/ValueError.
        raise ImageError(f"corrupt or truncated image: {exc}") from None
    return image


#: EXIF tag 0x0112: 1 is upright; 2-8 are the mirrorings and quarter turns.
_ORIENTATION = 0x0112


def apply_orientation(image: Image.Image) -> Image.Image:
    """``image`` turned upright by its EXIF orientation, the tag dropped; ``image`` itself when
    it has no turn to apply."""
    if image.getexif().get(_ORIENTATION, 1) in (1, None):
        return image
    from PIL import ImageOps

    image.load()
    turned = ImageOps.exif_transpose(image)
    return turned if turned is not None else image


def to_8bit_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB or RGBA with 8 bits per channel, scaling deep images.

    Pillow's own ``convert("RGB")`` clips 16-bit values at 255 (a 16-bit PNG becomes white), so
    integer modes are rescaled first.
    """
    mode = image.mode
    if mode in _DIRECT_MODES:
        return image
    if mode.startswith("I;16") or mode == "I":
        lo, hi = image.getextrema() if mode == "I" else (0, 65535)
        scale = 1 / 256 if (mode != "I" or hi > 255 or lo < 0) else 1
        return image.convert("I").point(lambda v: v * scale).convert("L").convert("RGB")
    if mode == "F":
        lo, hi = image.getextrema()
        scale = 255.0 if hi <= 1.0 else 1.0
        return image.point(lambda v: v * scale).convert("L").convert("RGB")
    if mode in ("LA", "PA", "La", "RGBa", "RGBX") or has_transparency(image):
        converted = image.convert("RGBA")
        return converted if mode != "RGBX" else converted.convert("RGB")
    return image.convert("RGB")
