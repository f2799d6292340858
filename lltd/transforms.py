"""The paper's low-level transformations on PIL images and H x W (x C) uint8 arrays, as functions
and as small callables that compose like torchvision transforms.

Thin names over the one kernel (:mod:`lltd.defense.kernel`); the settings are one value,
:class:`lltd.defense.DefenseSettings`. :func:`defend` is the front end that dispatches on the
input's type (tensors to :mod:`lltd.torch`, imported only then).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from PIL import Image

from lltd.defense.kernel import apply, apply_array, flip, resolve, webp_roundtrip
from lltd.defense.settings import DIRECTIONS, ORDERS, DefenseSettings

Direction = Literal["horizontal", "vertical"]
Order = Literal["webp-flip", "flip-webp"]
T = TypeVar("T")

__all__ = [
    "DIRECTIONS",
    "ORDERS",
    "Defend",
    "DefenseSettings",
    "Flip",
    "WebPRoundTrip",
    "defend",
    "defend_image",
    "flip",
    "webp_roundtrip",
]


def is_tensor(value: object) -> bool:
    # Checked by name so that NumPy and PIL callers never import torch.
    return any(c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(value).__mro__)


def defend(
    image: T,
    settings: DefenseSettings | None = None,
    *,
    key: str | None = None,
    rng: random.Random | None = None,
    **changes: Any,
) -> T:
    """The defense on a PIL image, an HxW / HxWxC uint8 array, or a CHW / NCHW tensor (uint8, or
    float in [0, 1]); the same type, shape and (for tensors) dtype and device back.

    ``settings`` is a :class:`DefenseSettings`; keywords change single fields
    (``defend(x, quality=50, flip="vertical")``). Randomised steps draw from ``rng`` when given,
    else from ``settings.rng(key)``: with a ``seed`` the same image and ``key`` always get the
    same draw (``lltd defend`` uses the file's relative path as the key).
    """
    settings = resolve(settings, changes)
    if is_tensor(image):
        from lltd.torch import defend_tensor

        source = rng or settings.rng(key)
        return defend_tensor(image, settings, source)  # type: ignore[arg-type, return-value]
    draw = settings.draw(rng) if rng is not None else settings.draw_for(key)
    if isinstance(image, Image.Image):
        return apply(image, settings, draw)  # type: ignore[return-value]
    return apply_array(image, settings, draw)  # type: ignore[arg-type, return-value]


def defend_image(
    image: Image.Image,
    quality: float | None = 60,
    flip_direction: str | None = "horizontal",
    order: str = "webp-flip",
    *,
    method: int = 4,
    backend: str = "pillow",
    cwebp: str | None = None,
) -> Image.Image:
    """``flip(decode(webp_encode(image)))`` (or the other order) on a PIL image, positionally."""
    settings = DefenseSettings(quality, flip_direction, order, method, backend, cwebp)
    return apply(image, settings)


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


class Defend:
    """Callable form of :func:`defend` (``Defend(quality=50)`` or ``Defend(settings)``).

    Randomised settings draw per call; with a ``seed`` the callable replays the same sequence of
    draws from construction on, without one every call draws afresh.
    """

    def __init__(self, settings: DefenseSettings | None = None, **changes: Any) -> None:
        self.settings = resolve(settings, changes)
        self._rng: random.Random | None = (
            self.settings.rng() if self.settings.seed is not None else None
        )

    def __repr__(self) -> str:
        return f"Defend({self.settings!r})"

    def __call__(self, image: T) -> T:
        return defend(image, self.settings, rng=self._rng)
