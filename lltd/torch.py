"""``WebPFlip``: the paper's defense as a torchvision-style transform on tensors.

The only module of the light path that imports torch; ``import lltd`` does not import it. The
pixels come from the one kernel (:mod:`lltd.defense.kernel`), one uint8 image at a time.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lltd.common.extras import missing_extra_message

try:
    import numpy as np
    import torch
except ModuleNotFoundError as exc:  # a light install: say which extra brings torch
    raise ImportError(
        missing_extra_message(exc.name or "torch", "attack", "lltd.torch"), name=exc.name
    ) from exc

from lltd.defense.kernel import apply_array
from lltd.defense.settings import DefenseSettings


def defend_tensor(
    x: torch.Tensor,
    settings: DefenseSettings,
    rng: random.Random | None = None,
    *,
    workers: int = 1,
) -> torch.Tensor:
    """The defense on a CHW or NCHW tensor (uint8, or float in [0, 1]); same dtype, shape and
    device back. Each image of a batch gets its own draw from ``rng``, made in batch order."""
    if x.ndim not in (3, 4):
        raise ValueError(f"WebPFlip takes CHW or NCHW tensors, got shape {tuple(x.shape)}")
    if x.shape[-3] not in (1, 3, 4):
        raise ValueError(f"WebPFlip takes 1, 3 or 4 channels, got {x.shape[-3]}")
    dtype, device = x.dtype, x.device
    batch = x.unsqueeze(0) if x.ndim == 3 else x
    if dtype == torch.uint8:
        pixels = batch.cpu()
    elif dtype.is_floating_point:
        pixels = (batch.detach().cpu().float().clamp(0, 1) * 255).round().to(torch.uint8)
    else:
        raise TypeError(f"WebPFlip takes uint8 or float tensors, got {dtype}")
    arrays = list(pixels.permute(0, 2, 3, 1).contiguous().numpy())
    # Drawn here, in order, so threads cannot reorder a seeded sequence.
    if rng is None and settings.randomised:
        rng = settings.rng()
    draws = [settings.draw(rng) for _ in arrays]
    same = [settings] * len(arrays)
    if workers > 1 and len(arrays) > 1:
        # A pool per call: starting threads costs microseconds, and callers stay stateless
        # (picklable, copyable, safe in DataLoader workers).
        with ThreadPoolExecutor(min(workers, len(arrays))) as pool:
            outs = list(pool.map(apply_array, arrays, same, draws))
    else:
        outs = list(map(apply_array, arrays, same, draws))
    out = torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)
    out = (out if dtype == torch.uint8 else out.to(dtype) / 255).to(device)
    return out.squeeze(0) if x.ndim == 3 else out


class WebPFlip(torch.nn.Module):
    """WebP round trip at ``quality`` and one flip, on CHW or NCHW tensors (uint8, or float in
    [0, 1]), on any device; returns the same dtype, shape and device.

    Takes the :class:`~lltd.defense.DefenseSettings` fields as keywords, or ``settings=`` whole
    (``webp=False`` is ``quality=None``). Randomised settings draw per image; with a ``seed`` the
    module replays the same sequence of draws from construction on (copies made by DataLoader
    workers replay it too: give each worker its own seed), without one each call draws afresh.

    The WebP step quantises to 8 bits (float inputs come back as multiples of 1/255) and is not
    differentiable. Images of a batch are encoded in ``workers`` threads: Pillow releases the GIL
    around libwebp's encode and decode (measured on a quiet 2-core machine: 1.8x with 2 threads),
    and threads start instantly, need no ``__main__`` guard and work inside DataLoader workers.
    """

    def __init__(
        self,
        quality: float | None = 60,
        flip: str | None = "horizontal",
        order: str = "webp-flip",
        *,
        method: int = 4,
        webp: bool = True,
        workers: int | None = None,
        settings: DefenseSettings | None = None,
        **randomised: Any,
    ) -> None:
        super().__init__()
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1 (or None for all cores), got {workers!r}")
        if settings is None:
            fields = {"quality": quality if webp else None, "flip": flip, "order": order}
            settings = DefenseSettings(**fields, method=method, **randomised)
        elif randomised:
            settings = settings.with_(**randomised)
        if not isinstance(settings, DefenseSettings):
            raise TypeError(f"settings must be a DefenseSettings, got {type(settings).__name__}")
        self.settings = settings
        self.workers = workers or len(os.sched_getaffinity(0))
        self._rng = settings.rng() if settings.seed is not None else None

    # Read-only views kept for callers of the earlier attributes.
    quality = property(lambda self: self.settings.quality)
    flip = property(lambda self: self.settings.flip)
    order = property(lambda self: self.settings.order)
    method = property(lambda self: self.settings.method)
    webp = property(lambda self: self.settings.quality is not None)

    def extra_repr(self) -> str:
        return f"settings={self.settings!r}"

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return defend_tensor(x, self.settings, self._rng, workers=self.workers)
