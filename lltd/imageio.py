"""Safe image reading and atomic file writing: every read and write in lltd goes through here."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from lltd.errors import ImageError
from lltd.limits import DEFAULT_MAX_PIXELS


#: Suffix of every temporary file lltd writes (always a dotfile beside its destination).
TEMP_SUFFIX = ".lltd-tmp"

# Modes libwebp can take directly (through Pillow) without losing information.
_DIRECT_MODES = {"RGB", "RGBA"}


def open_image(
    path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, load: bool = True
) -> Image.Image:
    """Open ``path`` and (unless ``load`` is false) decode it fully.

    Raises :class:`ImageError` with a one-line reason for anything that is not a readable image
    within the pixel limit.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageError(
                    f"{width}x{height} = {width * height} pixels exceeds the limit of "
                    f"{max_pixels} (--max-pixels)"
                )
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


def has_transparency(image: Image.Image) -> bool:
    """True when any pixel has alpha < 255 (a fully opaque RGBA image is not transparent)."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return image.getchannel("A").getextrema()[0] < 255
    if image.mode == "P" and "transparency" in image.info:
        return image.convert("RGBA").getchannel("A").getextrema()[0] < 255
    if image.mode in ("RGB", "L") and "transparency" in image.info:
        return image.convert("RGBA").getchannel("A").getextrema()[0] < 255
    return False


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


class AtomicTarget:
    """A temporary path beside ``destination``; see :func:`atomic_output`."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        fd, name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=TEMP_SUFFIX, dir=destination.parent
        )
        os.close(fd)
        self.path = Path(name)
        self.discarded = False

    def discard(self) -> None:
        """Do not publish: the temporary file is removed and ``destination`` is left untouched."""
        self.discarded = True


@contextlib.contextmanager
def atomic_output(destination: Path) -> Iterator[AtomicTarget]:
    """Yield a temporary file beside ``destination``; rename it into place only on success.

    Readers never see a partial file, and an interrupted writer leaves only a dot-temp file that
    :func:`remove_stale_temporaries` can clear.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    target = AtomicTarget(destination)
    try:
        yield target
        if not target.discarded:
            os.chmod(target.path, 0o666 & ~_umask())
            os.replace(target.path, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            target.path.unlink()


def write_atomic(destination: Path, write: Callable[[BinaryIO], object]) -> int:
    """Write through ``write(fileobj)`` atomically; return the number of bytes written."""
    with atomic_output(destination) as target:
        with open(target.path, "wb") as handle:
            write(handle)
        return target.path.stat().st_size


def write_bytes_atomic(destination: Path, data: bytes) -> int:
    return write_atomic(destination, lambda handle: handle.write(data))


def copy_atomic(source: Path, destination: Path) -> None:
    """Copy ``source`` to ``destination`` through a temporary file, keeping timestamps."""
    with atomic_output(destination) as target:
        shutil.copyfile(source, target.path)
        shutil.copystat(source, target.path)


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left by an interrupted run under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for tmp in folder.rglob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


@functools.cache
def _umask() -> int:
    # os.umask can only be read by setting it; read it once per process.
    current = os.umask(0)
    os.umask(current)
    return current
