"""The paper's low-level transformations as pure functions on PIL images and HxWxC uint8 arrays.

Like torchvision transforms, each is also available as a small callable class that composes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from PIL import Image

from lltd.codecs import EncodeOptions, get_codec
from lltd.imageio import to_8bit_rgb

if TYPE_CHECKING:
    import numpy as np

Direction = Literal["horizontal", "vertical"]
Order = Literal["webp-flip", "flip-webp"]
DIRECTIONS: tuple[str, ...] = ("horizontal", "vertical")
ORDERS: tuple[str, ...] = ("webp-flip", "flip-webp")

_TRANSPOSE = {
    "horizontal": Image.Transpose.FLIP_LEFT_RIGHT,
    "vertical": Image.Transpose.FLIP_TOP_BOTTOM,
}

ImageLike = TypeVar("ImageLike", "Image.Image", "np.ndarray")


def flip(image: Image.Image, direction: Direction = "horizontal") -> Image.Image:
    """Flip once along one side: exactly ``Image.transpose(FLIP_LEFT_RIGHT)`` by default."""
    try:
        return image.transpose(_TRANSPOSE[direction])
    except KeyError:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}") from None


def webp_roundtrip(
    image: Image.Image,
    quality: float = 60,
    *,
    method: int = 4,
    backend: str = "pillow",
    cwebp: str | None = None,
) -> Image.Image:
    """Encode to lossy WebP at ``quality`` and decode again (the paper's denoising step)."""
    options = EncodeOptions(quality=quality, method=method)
    data = get_codec(backend, cwebp).encode(image, options)
    decoded = Image.open(io.BytesIO(data))
    decoded.load()
    return decoded


def defend_image(
    image: Image.Image,
    quality: float | None = 60,
    flip_direction: Direction | None = "horizontal",
    order: Order = "webp-flip",
    *,
    method: int = 4,
    backend: str = "pillow",
    cwebp: str | None = None,
) -> Image.Image:
    """``flip(decode(webp_encode(image)))`` (or the other order); ``None`` disables a step."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    result = to_8bit_rgb(image)

    def compress(img: Image.Image) -> Image.Image:
        if quality is None:
            return img
        return webp_roundtrip(img, quality, method=method, backend=backend, cwebp=cwebp)

    def mirror(img: Image.Image) -> Image.Image:
        return img if flip_direction is None else flip(img, flip_direction)

    steps = (compress, mirror) if order == "webp-flip" else (mirror, compress)
    for step in steps:
        result = step(result)
    return result


def defend(
    image: ImageLike,
    quality: float | None = 60,
    flip: Direction | None = "horizontal",
    order: Order = "webp-flip",
    *,
    method: int = 4,
    backend: str = "pillow",
) -> ImageLike:
    """The paper's defense on a PIL image or an HxWxC (or HxW) uint8 NumPy array; same type back."""
    if isinstance(image, Image.Image):
        return defend_image(image, quality, flip, order, method=method, backend=backend)
    import numpy as np

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise TypeError("defend() takes a PIL image or an HxW / HxWxC uint8 array")
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels not in (1, 3, 4):
        raise TypeError(f"defend() takes 1, 3 or 4 channels, got {channels}")
    pil = Image.fromarray(array.squeeze(-1) if array.ndim == 3 and channels == 1 else array)
    defended = defend_image(pil, quality, flip, order, method=method, backend=backend)
    if channels == 1:
        # WebP decodes gray to RGB with slightly unequal channels; take the luma, as convert("L").
        gray = np.asarray(defended.convert("L"))
        return gray if array.ndim == 2 else gray[..., None]  # type: ignore[return-value]
    # An opaque RGBA image may come back from WebP as RGB: keep the caller's channel count.
    return np.asarray(defended.convert("RGBA" if channels == 4 else "RGB"))  # type: ignore[return-value]


@dataclass(frozen=True)
class Flip:
    """Callable flip transform (composes with torchvision's ``Compose``)."""

    direction: Direction = "horizontal"

    def __call__(self, image: Image.Image) -> Image.Image:
        return flip(image, self.direction)


@dataclass(frozen=True)
class WebPRoundTrip:
    """Callable WebP compress-and-decode transform."""

    quality: float = 60
    method: int = 4

    def __call__(self, image: Image.Image) -> Image.Image:
        return webp_roundtrip(image, self.quality, method=self.method)


@dataclass(frozen=True)
class Defend:
    """Callable form of :func:`defend`."""

    quality: float | None = 60
    flip: Direction | None = "horizontal"
    order: Order = "webp-flip"
    method: int = 4

    def __call__(self, image: ImageLike) -> ImageLike:
        return defend(image, self.quality, self.flip, self.order, method=self.method)
