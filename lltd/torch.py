"""``WebPFlip``: the paper's defense as a torchvision-style transform on tensors.

The only module of the light path that imports torch; ``import lltd`` does not import it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from lltd.extras import missing_extra_message

try:
    import numpy as np
    import torch
except ModuleNotFoundError as exc:  # a light install: say which extra brings torch
    raise ImportError(
        missing_extra_message(exc.name or "torch", "attack", "lltd.torch"), name=exc.name
    ) from exc

from lltd.arrays import webp_roundtrip_array
from lltd.transforms import DIRECTIONS, ORDERS, Direction, Order

_FLIP_DIM = {"horizontal": -1, "vertical": -2}


class WebPFlip(torch.nn.Module):
    """WebP round trip at ``quality`` and one flip, on CHW or NCHW tensors (uint8, or float in
    [0, 1]), on any device; returns the same dtype, shape and device.

    The WebP step quantises to 8 bits (float inputs come back as multiples of 1/255) and is not
    differentiable. Images of a batch are encoded in ``workers`` threads: Pillow releases the GIL
    around libwebp's encode and decode (measured on a quiet 2-core machine: 1.8x with 2 threads),
    and threads start instantly, need no ``__main__`` guard and work inside DataLoader workers.
    """

    def __init__(
        self,
        quality: float = 60,
        flip: Direction | None = "horizontal",
        order: Order = "webp-flip",
        *,
        method: int = 4,
        webp: bool = True,
        workers: int | None = None,
    ) -> None:
        super().__init__()
        if flip is not None and flip not in DIRECTIONS:
            raise ValueError(f"flip must be one of {DIRECTIONS} or None, got {flip!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        if not 0 <= quality <= 100:
            raise ValueError(f"quality must be between 0 and 100, got {quality!r}")
        if not 0 <= method <= 6:
            raise ValueError(f"method must be between 0 and 6, got {method!r}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1 (or None for all cores), got {workers!r}")
        self.quality, self.flip, self.order = quality, flip, order
        self.method, self.webp = method, webp
        self.workers = workers or len(os.sched_getaffinity(0))

    def extra_repr(self) -> str:
        return f"quality={self.quality}, flip={self.flip!r}, order={self.order!r}, webp={self.webp}"

    def _flip(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.flip is None else torch.flip(x, dims=(_FLIP_DIM[self.flip],))

    def _webp(self, batch: torch.Tensor) -> torch.Tensor:
        """NCHW uint8 on the CPU -> NCHW uint8 on the CPU."""
        arrays = list(batch.permute(0, 2, 3, 1).contiguous().numpy())
        qualities, methods = [self.quality] * len(arrays), [self.method] * len(arrays)
        if self.workers > 1 and len(arrays) > 1:
            # A pool per call: starting threads costs microseconds, and the module stays
            # stateless (picklable, copyable, safe in DataLoader workers).
            with ThreadPoolExecutor(min(self.workers, len(arrays))) as pool:
                outs = list(pool.map(webp_roundtrip_array, arrays, qualities, methods))
        else:
            outs = list(map(webp_roundtrip_array, arrays, qualities, methods))
        return torch.from_numpy(np.stack(outs)).permute(0, 3, 1, 2)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        # (Bound methods are new objects on each access, so steps are chosen up front, not by `is`.)
        compress = [self._webp] if self.webp else []
        steps = [*compress, self._flip] if self.order == "webp-flip" else [self._flip, *compress]
        for step in steps:
            pixels = step(pixels)
        out = pixels if dtype == torch.uint8 else pixels.to(dtype) / 255
        out = out.to(device)
        return out.squeeze(0) if x.ndim == 3 else out
