"""The codec interface and the backend registry (see :mod:`lltd.codecs`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

from PIL import Image

from lltd.codecs.options import EncodeOptions
from lltd.common.errors import UsageError

BACKENDS = ("pillow", "cwebp")


class Codec(Protocol):
    name: str

    def check(self, options: EncodeOptions) -> None: ...

    def encode(self, image: Image.Image, options: EncodeOptions) -> bytes: ...

    def encode_file(
        self, source: Path, target: Path, options: EncodeOptions, image: Image.Image
    ) -> None: ...


@functools.cache
def get_codec(backend: str = "pillow", cwebp: str | None = None) -> Codec:
    """The codec for ``backend``; cached so a worker process locates cwebp once."""
    if backend == "pillow":
        from lltd.codecs.pillow import PillowCodec

        return PillowCodec()
    if backend == "cwebp":
        from lltd.codecs.cwebp import CwebpCodec

        return CwebpCodec(cwebp)
    raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
