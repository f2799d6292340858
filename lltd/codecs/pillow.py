"""In-process WebP codec: Pillow's binding of libwebp (it releases the GIL while encoding)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, WebPImagePlugin  # noqa: F401  (registers WebP saving without Image.init())

from lltd.codecs.cwebp_options import LOSSLESS_PRESETS
from lltd.codecs.options import EncodeOptions
from lltd.common.errors import CodecError
from lltd.imaging.imageio import to_8bit_rgb


def prepare_pixels(image: Image.Image, options: EncodeOptions) -> Image.Image:
    """cwebp's picture options in cwebp's order: -noalpha at reading, -blend_alpha, -crop, then
    -resize."""
    image = to_8bit_rgb(image)
    if options.noalpha and image.mode == "RGBA":
        image = image.convert("RGB")
    if options.blend_alpha is not None and image.mode == "RGBA":
        colour = options.blend_alpha
        background = Image.new(
            "RGBA", image.size, ((colour >> 16) & 255, (colour >> 8) & 255, colour & 255, 255)
        )
        image = Image.alpha_composite(background, image).convert("RGB")
    if options.crop is not None:
        x, y, w, h = options.crop
        if w < 1 or h < 1 or x + w > image.width or y + h > image.height:
            raise CodecError(
                f"cannot crop a {image.width}x{image.height} picture to {w}x{h} at ({x}, {y})"
            )
        image = image.crop((x, y, x + w, y + h))
    if options.resize is not None:
        image = _resize(image, *options.resize)
    return image


def _resize(image: Image.Image, width: int, height: int) -> Image.Image:
    if width == 0 and height == 0:
        return image  # cwebp: nothing to do
    # 0 keeps the aspect ratio, rounded up as libwebp's WebPRescalerGetScaledDimensions does
    # (cwebp 1.2.4: 7x5 -resize 0 3 gives 5x3); sides are at least 1, so never 0.
    if width == 0:
        width = (image.width * height + image.height - 1) // image.height
    if height == 0:
        height = (image.height * width + image.width - 1) // image.width
    shrinking = width <= image.width and height <= image.height
    # libwebp averages areas when shrinking and interpolates when enlarging; these are Pillow's
    # closest filters (see the option table in docs/reference/cwebp.md).
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return image.resize((width, height), resample)


class PillowCodec:
    name = "pillow"

    def check(self, options: EncodeOptions) -> None:
        # Pillow's WebP binding exposes quality, method, lossless, alpha quality and exact only.
        refused = options.cwebp_only()
        if refused is not None:
            raise CodecError(f"the pillow backend cannot honour {refused}; use --backend cwebp")

    def encode(self, image: Image.Image, options: EncodeOptions) -> bytes:
        self.check(options)
        lossless, method, quality = options.lossless, options.method, options.quality
        if options.lossless_preset is not None:  # cwebp applies -z after every other option
            lossless = True
            method, quality = LOSSLESS_PRESETS[options.lossless_preset]
        params: dict[str, object] = {
            "quality": quality,
            "method": method,
            "lossless": lossless,
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
            prepare_pixels(image, options).save(buffer, format="WEBP", **params)
        except (OSError, ValueError) as exc:
            raise CodecError(f"libwebp could not encode: {exc}") from None
        return buffer.getvalue()

    def encode_file(
        self, source: Path, target: Path, options: EncodeOptions, image: Image.Image
    ) -> None:
        target.write_bytes(self.encode(image, options))
