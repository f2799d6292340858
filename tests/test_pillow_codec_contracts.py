"""The Pillow backend's contracts, in-process on tiny generated images (issue 27).

Pins what lltd/codecs/pillow.py does with cwebp's picture options (-noalpha, -blend_alpha,
-crop, -resize: exact pixels, boxes, sizes and resampling filters) and how `encode` maps
-z presets and -metadata onto Pillow's WebP writer.
"""

from __future__ import annotations

import io
import subprocess

import pytest
from PIL import Image

from lltd.codecs.cwebp_locate import cwebp_on_path
from lltd.codecs.options import EncodeOptions
from lltd.codecs.pillow import PillowCodec, prepare_pixels
from lltd.common.errors import CodecError

W, H = 7, 5


def pixel(x: int, y: int) -> tuple[int, int, int]:
    # Each channel is a different function of (x, y), so crops, flips and channel swaps all show.
    return (30 * x + y, 40 * y + x, 255 - x - 7 * y)


def rgb(width: int = W, height: int = H) -> Image.Image:
    image = Image.new("RGB", (width, height))
    for y in range(height):
        for x in range(width):
            image.putpixel((x, y), pixel(x, y))
    return image


def rgba(alpha: int) -> Image.Image:
    image = rgb().convert("RGBA")
    image.putalpha(alpha)
    return image


def pixels(image: Image.Image) -> list[tuple[int, ...]]:
    return [image.getpixel((x, y)) for y in range(image.height) for x in range(image.width)]


def prepare(image: Image.Image, **options: object) -> Image.Image:
    return prepare_pixels(image, EncodeOptions(**options))  # type: ignore[arg-type]


# -noalpha ------------------------------------------------------------------------------------


def test_noalpha_drops_the_alpha_channel_and_keeps_the_colour_bytes_as_they_are():
    out = prepare(rgba(0), noalpha=True)
    assert out.mode == "RGB"
    assert pixels(out) == pixels(rgb())  # not composited over anything: alpha 0 keeps colours


def test_without_noalpha_an_rgba_picture_keeps_its_alpha():
    out = prepare(rgba(77))
    assert out.mode == "RGBA"
    assert {p[3] for p in pixels(out)} == {77}


def test_noalpha_leaves_an_rgb_picture_unchanged():
    out = prepare(rgb(), noalpha=True)
    assert out.mode == "RGB" and pixels(out) == pixels(rgb())


def test_noalpha_comes_before_blend_alpha_so_nothing_is_blended():
    out = prepare(rgba(0), noalpha=True, blend_alpha=0x102030)
    assert pixels(out) == pixels(rgb())


# -blend_alpha --------------------------------------------------------------------------------


def two_pixels() -> Image.Image:
    image = Image.new("RGBA", (4, 1))
    image.putpixel((0, 0), (200, 100, 50, 128))  # half transparent
    image.putpixel((1, 0), (0x90, 0xA0, 0xB0, 1))  # nearly transparent: rounds at .5
    image.putpixel((2, 0), (9, 8, 7, 0))  # fully transparent: the background colour exactly
    image.putpixel((3, 0), (9, 8, 7, 255))  # opaque: untouched
    return image


def test_blend_alpha_composites_each_channel_over_its_own_byte_of_the_colour():
    out = prepare(two_pixels(), blend_alpha=0x102030)
    assert out.mode == "RGB"
    # channel = (src * a + bg * (255 - a)) / 255, rounded to nearest; bg = 0x10, 0x20, 0x30.
    assert pixels(out) == [(108, 66, 49), (17, 33, 49), (0x10, 0x20, 0x30), (9, 8, 7)]


def test_blend_alpha_reads_red_from_the_high_byte_and_blue_from_the_low_byte():
    out = prepare(rgba(0), blend_alpha=0xFE0103)  # odd bytes: every bit of each is read
    assert set(pixels(out)) == {(0xFE, 0x01, 0x03)}


def test_blend_alpha_leaves_an_rgb_picture_unchanged():
    out = prepare(rgb(), blend_alpha=0x102030)
    assert out.mode == "RGB" and pixels(out) == pixels(rgb())


# -crop ---------------------------------------------------------------------------------------


def crop_error(box: tuple[int, int, int, int]) -> str:
    with pytest.raises(CodecError) as caught:
        prepare(rgb(), crop=box)
    return str(caught.value)


def test_crop_keeps_exactly_the_box_x_y_w_h():
    out = prepare(rgb(), crop=(1, 2, 3, 2))
    assert out.size == (3, 2)
    assert pixels(out) == [
        pixel(1, 2),
        pixel(2, 2),
        pixel(3, 2),
        pixel(1, 3),
        pixel(2, 3),
        pixel(3, 3),
    ]


@pytest.mark.parametrize(
    "box", [(0, 0, W, H), (W - 1, H - 1, 1, 1), (2, 0, W - 2, H), (0, 3, 1, H - 3)]
)
def test_crop_reaching_the_right_and_bottom_edges_is_allowed(box):
    x, y, w, h = box
    out = prepare(rgb(), crop=box)
    assert out.size == (w, h)
    assert out.getpixel((0, 0)) == pixel(x, y)
    assert out.getpixel((w - 1, h - 1)) == pixel(x + w - 1, y + h - 1)


@pytest.mark.parametrize(
    "box",
    [(0, 0, W + 1, H), (1, 0, W, H), (0, 0, W, H + 1), (0, 1, W, H), (W, 0, 1, 1), (0, H, 1, 1)],
)
def test_crop_one_past_the_right_or_bottom_edge_is_refused_with_one_line(box):
    x, y, w, h = box
    assert crop_error(box) == f"cannot crop a {W}x{H} picture to {w}x{h} at ({x}, {y})"


@pytest.mark.parametrize("box", [(0, 0, 0, 1), (0, 0, 1, 0), (2, 3, 0, 0)])
def test_crop_of_zero_width_or_height_is_refused(box):
    x, y, w, h = box
    assert crop_error(box) == f"cannot crop a {W}x{H} picture to {w}x{h} at ({x}, {y})"


def test_crop_of_one_by_one_is_allowed():
    out = prepare(rgb(), crop=(3, 2, 1, 1))
    assert pixels(out) == [pixel(3, 2)]


def test_crop_comes_before_resize_and_blend_alpha_before_crop():
    image = two_pixels()
    out = prepare(image, blend_alpha=0x102030, crop=(2, 0, 2, 1), resize=(4, 0))
    # Cropped to the transparent and the opaque pixel, then enlarged 2x (height 1 * 4 / 2 = 2).
    assert out.size == (4, 2)
    assert out.getpixel((0, 0)) == (0x10, 0x20, 0x30) and out.getpixel((3, 1)) == (9, 8, 7)


# -resize -------------------------------------------------------------------------------------


def test_resize_0_0_keeps_the_picture_as_it_is():
    image = rgb()
    out = prepare(image, resize=(0, 0))
    assert out.size == (W, H) and pixels(out) == pixels(image)


# cwebp 1.2.4 (libwebp's WebPRescalerGetScaledDimensions) rounds the missing side up.
RESIZES = [
    ((0, 4), (6, 4)),  # 7 * 4 / 5 = 5.6
    ((0, 3), (5, 3)),  # 7 * 3 / 5 = 4.2: up, not to nearest
    ((4, 0), (4, 3)),  # 5 * 4 / 7 = 2.86
    ((3, 0), (3, 3)),  # 5 * 3 / 7 = 2.14: up
    ((5, 0), (5, 4)),  # 5 * 5 / 7 = 3.57
    ((0, 10), (14, 10)),  # exact: not one more
    ((14, 0), (14, 10)),
    ((5, 9), (5, 9)),  # both given: the aspect ratio is not kept
]


@pytest.mark.parametrize(("resize", "size"), RESIZES)
def test_resize_with_a_zero_keeps_the_aspect_ratio_rounding_up_as_cwebp(resize, size):
    assert prepare(rgb(), resize=resize).size == size


def test_resize_with_a_zero_rounds_any_fraction_up_and_an_exact_ratio_not():
    assert prepare(rgb(10, 5), resize=(0, 7)).size == (14, 7)  # 14.0
    assert prepare(rgb(10, 4), resize=(5, 0)).size == (5, 2)  # 2.0
    assert prepare(rgb(10, 4), resize=(6, 0)).size == (6, 3)  # 2.4
    assert prepare(rgb(4, 10), resize=(0, 9)).size == (4, 9)  # 3.6
    assert prepare(rgb(100, 3), resize=(0, 1)).size == (34, 1)  # 33.33


@pytest.mark.skipif(cwebp_on_path() is None, reason="no cwebp on PATH to compare with")
@pytest.mark.parametrize(("resize", "size"), RESIZES[:5])
def test_resize_sizes_equal_cwebps_own(tmp_path, resize, size):
    source, target = tmp_path / "in.png", tmp_path / "out.webp"
    rgb().save(source)
    width, height = (str(side) for side in resize)
    command = [cwebp_on_path(), "-quiet", "-resize", width, height, source, "-o", target]
    subprocess.run(command, check=True)
    assert decode(target.read_bytes()).size == size


def test_resize_with_a_zero_never_gives_a_side_below_one_pixel():
    assert prepare(rgb(7, 1), resize=(3, 0)).size == (3, 1)  # 1 * 3 / 7 = 0.43
    assert prepare(rgb(1, 7), resize=(0, 3)).size == (1, 3)


def filters_differ(size: tuple[int, int]) -> bool:
    image = rgb()
    box = image.resize(size, Image.Resampling.BOX)
    return pixels(box) != pixels(image.resize(size, Image.Resampling.BILINEAR))


@pytest.mark.parametrize("size", [(3, 2), (3, H), (W, 2), (6, 4)])
def test_shrinking_averages_areas_with_the_box_filter(size):
    assert filters_differ(size)  # else this test could not tell the filters apart
    out = prepare(rgb(), resize=size)
    assert pixels(out) == pixels(rgb().resize(size, Image.Resampling.BOX))


@pytest.mark.parametrize("size", [(14, 10), (W, 9), (9, H), (9, 3), (3, 9)])
def test_enlarging_either_side_interpolates_with_the_bilinear_filter(size):
    assert filters_differ(size)
    out = prepare(rgb(), resize=size)
    assert pixels(out) == pixels(rgb().resize(size, Image.Resampling.BILINEAR))


# encode: the whole path ----------------------------------------------------------------------


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_encode_writes_the_prepared_pixels_losslessly():
    options = EncodeOptions(lossless=True, exact=True, crop=(1, 1, 4, 3), noalpha=True)
    out = decode(PillowCodec().encode(rgba(0), options))
    assert out.size == (4, 3) and out.mode == "RGB"
    assert pixels(out) == pixels(rgb().crop((1, 1, 5, 4)))


def test_encode_keeps_alpha_unless_told_not_to():
    assert decode(PillowCodec().encode(rgba(90), EncodeOptions(lossless=True))).mode == "RGBA"
    assert (
        decode(PillowCodec().encode(rgba(90), EncodeOptions(lossless=True, noalpha=True))).mode
        == "RGB"
    )


def pillow_bytes(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", **params)
    return buffer.getvalue()


@pytest.mark.parametrize("level", [0, 3, 9])
def test_lossless_preset_sets_lossless_method_and_quality_from_the_table(level):
    method, quality = ((0, 0), (3, 30), (6, 100))[(0, 3, 9).index(level)]
    got = PillowCodec().encode(rgb(), EncodeOptions(quality=50, method=2, lossless_preset=level))
    want = pillow_bytes(
        rgb(), quality=quality, method=method, lossless=True, alpha_quality=100, exact=False
    )
    assert got == want
    assert b"VP8L" in got


def test_encode_passes_quality_method_alpha_q_and_exact_to_libwebp():
    options = EncodeOptions(quality=31, method=1, alpha_q=40, exact=True)
    got = PillowCodec().encode(rgba(120), options)
    assert got == pillow_bytes(
        rgba(120), quality=31, method=1, lossless=False, alpha_quality=40, exact=True
    )


def with_metadata() -> Image.Image:
    image = rgb()
    exif = Image.Exif()
    exif[0x010E] = "lltd test"  # ImageDescription
    image.info["exif"] = exif.tobytes()
    image.info["icc_profile"] = b"not-really-an-icc-profile"
    image.info["xmp"] = "<x:xmpmeta>lltd</x:xmpmeta>"
    return image


@pytest.mark.parametrize(
    ("metadata", "kept"),
    [
        (("none",), set()),
        (("all",), {"exif", "icc_profile", "xmp"}),
        (("exif",), {"exif"}),
        (("icc",), {"icc_profile"}),
        (("xmp",), {"xmp"}),
        (("exif", "xmp"), {"exif", "xmp"}),
    ],
)
def test_metadata_copies_exactly_the_kinds_asked_for(metadata, kept):
    image = with_metadata()
    out = decode(PillowCodec().encode(image, EncodeOptions(metadata=metadata)))
    present = {key for key in ("exif", "icc_profile", "xmp") if out.info.get(key)}
    assert present == kept
    if "exif" in kept:
        assert out.info["exif"].endswith(image.info["exif"][-16:])
    if "icc_profile" in kept:
        assert out.info["icc_profile"] == image.info["icc_profile"]
    if "xmp" in kept:
        assert b"<x:xmpmeta>lltd</x:xmpmeta>" in bytes(out.info["xmp"])


def test_metadata_reads_xmp_under_pillows_png_key_and_as_bytes():
    image = rgb()
    image.info["XML:com.adobe.xmp"] = b"<x:xmpmeta>png</x:xmpmeta>"
    out = decode(PillowCodec().encode(image, EncodeOptions(metadata=("xmp",))))
    assert b"<x:xmpmeta>png</x:xmpmeta>" in bytes(out.info["xmp"])


def test_encode_refuses_a_cwebp_only_option_naming_it():
    with pytest.raises(CodecError) as caught:
        PillowCodec().encode(rgb(), EncodeOptions(sharp_yuv=True))
    assert str(caught.value) == "the pillow backend cannot honour -sharp_yuv; use --backend cwebp"


def test_a_libwebp_failure_is_one_codec_error_line():
    with pytest.raises(CodecError) as caught:
        PillowCodec().encode(Image.new("RGB", (16384, 1)), EncodeOptions())
    message = str(caught.value)
    assert message.startswith("libwebp could not encode: ") and "16383" in message
    assert "\n" not in message


def test_encode_file_writes_the_encoded_bytes(tmp_path):
    target = tmp_path / "out.webp"
    options = EncodeOptions(lossless=True, resize=(0, 10))
    PillowCodec().encode_file(tmp_path / "unused.png", target, options, rgb())
    assert target.read_bytes() == PillowCodec().encode(rgb(), options)
    assert decode(target.read_bytes()).size == (14, 10)


def test_exact_keeps_the_colour_under_fully_transparent_pixels():
    image = rgba(0)
    kept = decode(PillowCodec().encode(image, EncodeOptions(lossless=True, exact=True)))
    assert pixels(kept) == pixels(image)
    cleared = decode(PillowCodec().encode(image, EncodeOptions(lossless=True)))
    assert pixels(cleared) != pixels(image)  # libwebp is free to change invisible colours


def test_the_pillow_codec_is_named_by_its_backend() -> None:
    from lltd.codecs.registry import get_codec

    assert PillowCodec.name == "pillow" and get_codec("pillow").name == "pillow"
