"""The one defense kernel: every front end (``lltd defend``, ``lltd watch``, ``lltd.defend()``,
``WebPFlip``, ``lltd evaluate``) computes its pixels here, as torchvision's ``functional`` layer
does for its transforms.

:func:`apply` works on PIL images, :func:`apply_array` on H x W (x C) uint8 arrays (the gray-channel
fix lives there, once); :func:`lltd.transforms.defend`, one layer up, dispatches PIL / NumPy /
torch tensors to them (and to :mod:`lltd.torch`, which builds on this module: the kernel imports
nothing above it). The WebP step goes through the codec layer, so ``backend="cwebp"`` means the
same everywhere.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from PIL import Image

from lltd.codecs import EncodeOptions, get_codec
from lltd.defense.settings import DIRECTIONS, DefenseSettings, Draw
from lltd.imaging.imageio import to_8bit_rgb

if TYPE_CHECKING:
    import numpy as np


_TRANSPOSE = {
    "horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
}


def flip(image: Image.Image, direction: str = "horizontal") -> Image.Image:
    """Flip once along one side: exactly ``Image.transpose(FLIP_LEFT_RIGHT)`` by default."""
    try:
        return image.transpose(_TRANSPOSE[direction])
    except KeyError:
        raise ValueError(
            f"flip direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}"
        ) from None


def webp_roundtrip(
    image: Image.Image,
    quality: float = 60,
    *,
    method: int = 4,
    backend: str = "pillow",
    cwebp: str | None = None,
) -> Image.Image:
    """Encode to lossy WebP at ``quality`` and decode again (the paper's denoising step)."""
    data = get_codec(backend, cwebp).encode(image, EncodeOptions(quality=quality, method=method))
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    return decoded


def resize_pad(image: Image.Image, scale: float, offset: tuple[float, float]) -> Image.Image:
    """Shrink to ``scale`` of each side and pad back to the same size with zeros, the smaller
    image placed at ``offset`` (shares of the free space) — Xie et al.'s step, size-preserving."""
    width, height = image.size
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new == (width, height):
        return image
    canvas = Image.new(image.mode, (width, height))
    left = round(offset[0] * (width - new[0]))
    top = round(offset[1] * (height - new[1]))
    canvas.paste(image.resize(new, Image.Resampling.BILINEAR), (left, top))
    return canvas


def steps(settings: DefenseSettings, draw: Draw) -> list[tuple[str, Any]]:
    """The steps of one draw in the order the kernel applies them: ``("webp", quality)``,
    ``("flip", direction)``, ``("resize-pad", (scale, offset))``; skipped steps are left out.

    The one statement of the order, for callers that treat steps apart (BPDA differentiates
    ``flip`` and ``resize-pad`` exactly and passes gradients straight through ``webp``).
    """
    webp = [("webp", draw.quality)] if draw.quality is not None else []
    mirror = [("flip", draw.flip)] if draw.flip is not None else []
    ordered = webp + mirror if settings.order == "webp-flip" else mirror + webp
    if draw.scale != 1.0:
        # Last, on the defended pixel grid: WebP's blocks stay aligned with the attacker's
        # pixels, and the random shift is what the classifier sees.
        ordered.append(("resize-pad", (draw.scale, draw.offset)))
    return ordered


def apply(image: Image.Image, settings: DefenseSettings, draw: Draw | None = None) -> Image.Image:
    """The defense on one PIL image (any mode; computed on 8-bit RGB or RGBA).

    ``draw`` fixes the random steps (``settings.draw(rng)``); without it one is drawn.
    """
    result = to_8bit_rgb(image)
    for kind, parameter in steps(settings, draw or settings.draw()):
        if kind == "webp":
            result = webp_roundtrip(
                result,
                parameter,
                method=settings.method,
                backend=settings.backend,
                cwebp=settings.cwebp,
            )
        elif kind == "flip":
            result = flip(result, parameter)
        else:
            result = resize_pad(result, *parameter)
    return result


def apply_array(
    array: np.ndarray, settings: DefenseSettings, draw: Draw | None = None
) -> np.ndarray:
    """The defense on one H x W or H x W x C uint8 array (C = 1, 3 or 4): same shape back."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise TypeError("defend() takes a PIL image, an HxW / HxWxC uint8 array or a tensor")
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels not in (1, 3, 4):
        raise TypeError(f"defend() takes 1, 3 or 4 channels, got {channels}")
    gray = array.ndim == 2 or channels == 1
    defended = apply(
        Image.fromarray(array.reshape(array.shape[:2]) if gray else array), settings, draw
    )
    if gray:
        # WebP decodes gray to RGB with slightly unequal channels; take the luma, as convert("L").
        luma = np.asarray(defended.convert("L"))
        return luma if array.ndim == 2 else luma[..., None]
    # An opaque RGBA image may come back from WebP as RGB: keep the caller's channel count.
    return np.asarray(defended.convert("RGBA" if channels == 4 else "RGB"))


def apply_step(
    array: np.ndarray, kind: str, parameter: Any, settings: DefenseSettings | None = None
) -> np.ndarray:
    """One ``(kind, parameter)`` of :func:`steps` alone on an H x W (x C) uint8 array, with the
    codec options (method, backend) of ``settings``."""
    base = (settings or DefenseSettings()).with_(
        quality=None, flip=None, quality_range=None, resize_pad=None
    )
    if kind == "webp":
        return apply_array(array, base, Draw(parameter, None))
    if kind == "flip":
        return apply_array(array, base, Draw(None, parameter))
    if kind == "resize-pad":
        return apply_array(array, base, Draw(None, None, *parameter))
    raise ValueError(f"unknown defense step {kind!r}; the steps are webp, flip and resize-pad")


def resolve(settings: DefenseSettings | None, changes: dict[str, Any]) -> DefenseSettings:
    """``settings`` (default: the paper's) with keyword ``changes``, validated."""
    base = settings if settings is not None else DefenseSettings()
    if not isinstance(base, DefenseSettings):
        raise TypeError(f"settings must be a DefenseSettings, got {type(base).__name__}")
    return base.with_(**changes) if changes else base
