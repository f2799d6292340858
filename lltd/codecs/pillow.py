"""In-process WebP codec: Pillow's binding of libwebp (it releases the GIL while encoding)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, WebPImagePlugin  # noqa: F401  (registers WebP saving without Image.init())

from lltd.codecs.options import EncodeOptions
from lltd.errors import CodecError
from lltd.imageio import to_8bit_rgb


class PillowCodec:
    name = "pillow"

    def check(self, options: EncodeOptions) -> None:
        # Pillow's WebP binding exposes neither presets nor sharp RGB->YUV conversion.
        if options.preset is not None:
            raise CodecError("the pillow backend cannot honour -preset; use --backend cwebp")
        if options.sharp_yuv:
            raise CodecError("the pillow backend cannot honour -sharp_yuv; use --backend cwebp")

    def encode(self, image: Image.Image, options: EncodeOptions) -> bytes:
        self.check(options)
        params: dict[str, object] = {
            "quality": options.quality,
            "method": options.method,
            "lossless": options.lossless,
            "alpha_quality": options.alpha_q,
            "exact": options.exact,
        }
        keeps = options.keeps
        info = image.info
        if "icc" in keeps and info.get("icc_profile"):
            params["icc_profile"] = info["icc_profile"]
        if "exif" in keeps and info.get("exif"):
            params["exif"] = info["exif"]
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        if "xmp" in keeps and xmp:
            params["xmp"] = xmp.encode() if isinstance(xmp, str) else xmp
        buffer = io.BytesIO()
        try:
            to_8bit_rgb(image).save(buffer, format="WEBP", **params)
        except (OSError, ValueError) as exc:
            raise CodecError(f"libwebp could not encode: {exc}") from None
        return buffer.getvalue()

    def encode_file(
        self, source: Path, target: Path, options: EncodeOptions, image: Image.Image
    ) -> None:
        target.write_bytes(self.encode(image, options))
