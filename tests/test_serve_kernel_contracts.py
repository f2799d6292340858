"""The contracts of lltd/serve/kernel.py (issue 27), in-process on real image bytes: which bodies
are taken, the one-line refusals, the draw keyed by the body, the response headers, the
encodings and what ``defend_bytes`` returns."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
import warnings

import pytest
from PIL import Image

from lltd.common.errors import ImageError
from lltd.defense.kernel import apply
from lltd.defense.settings import DefenseSettings, Draw
from lltd.serve import kernel
from lltd.serve.kernel import ImageTooLarge


def _picture(size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size)
    image.putdata(
        [
            tuple((x * 20 + y * 3 + c * 50) % 256 for c in range(len(mode)))
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    return image


def _encoded(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


PNG = _encoded(_picture(), "PNG")


def test_png_jpeg_and_webp_are_taken_and_nothing_else() -> None:
    assert kernel.INPUT_FORMATS == ("PNG", "JPEG", "WEBP")
    for format in kernel.INPUT_FORMATS:
        assert kernel.decode(_encoded(_picture(), format), 120).size == (12, 10)
    for format in ("GIF", "BMP", "TIFF"):
        with pytest.raises(ImageError) as refused:
            kernel.pixels(_encoded(_picture(), format), 10**6)
        assert str(refused.value) == "not a PNG, JPEG or WebP image"


def test_an_empty_body_is_refused_in_one_line() -> None:
    for read in (kernel.pixels, kernel.decode):
        with pytest.raises(ImageError) as refused:
            read(b"", 10**6)
        assert str(refused.value) == "empty body (0 bytes)"
        assert not isinstance(refused.value, ImageTooLarge)


def test_the_pixel_limit_takes_exactly_the_limit_and_refuses_one_more() -> None:
    assert kernel.pixels(PNG, 120) == 120
    assert kernel.decode(PNG, 120).size == (12, 10)
    for read in (kernel.pixels, kernel.decode):
        with pytest.raises(ImageTooLarge) as refused:
            read(PNG, 119)
        assert str(refused.value) == "12x10 = 120 pixels exceeds the limit of 119 (--max-pixels)"


def test_pixels_reads_the_header_only_and_decode_reads_every_pixel() -> None:
    truncated = PNG[: PNG.index(b"IDAT") + 8]  # the header whole, the pixel data cut
    assert kernel.pixels(truncated, 10**6) == 120
    with pytest.raises(ImageError) as refused:
        kernel.decode(truncated, 10**6)
    assert str(refused.value).startswith("corrupt or truncated image: ")
    assert "\n" not in str(refused.value)


def test_pillows_bomb_limit_is_a_too_large_refusal_and_its_warning_is_silenced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernel.decode(PNG, 10**6).size == (12, 10)  # 120: warned, not refused
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
        with pytest.raises(ImageTooLarge) as refused:
            kernel.pixels(PNG, 10**6)
    assert str(refused.value).startswith("decompression bomb refused: Image size (120 pixels)")


def test_an_unrandomised_defense_draws_its_fixed_steps() -> None:
    settings = DefenseSettings(quality=40, flip="vertical")
    assert kernel.draw_for(PNG, settings) == Draw(40, "vertical")


def test_a_seeded_draw_is_keyed_by_the_bodys_sha256() -> None:
    settings = DefenseSettings(quality_range=(1, 100), flip="random", resize_pad=0.2, seed=5)
    other = _encoded(_picture(), "WEBP", lossless=True)
    draws = {body: kernel.draw_for(body, settings) for body in (PNG, other)}
    for body, draw in draws.items():
        assert draw == settings.draw(settings.rng(hashlib.sha256(body).hexdigest()))
        assert kernel.draw_for(body, settings) == draw  # any worker, any time
    assert draws[PNG] != draws[other]


def test_an_unseeded_draw_is_fresh_each_time() -> None:
    settings = DefenseSettings(quality_range=(1, 100), resize_pad=0.2)
    assert len({kernel.draw_for(PNG, settings) for _ in range(5)}) > 1


def test_the_headers_name_the_steps_applied() -> None:
    assert kernel.draw_headers(DefenseSettings(), Draw(60, "horizontal")) == {
        "X-Lltd-Quality": "60",
        "X-Lltd-Flip": "horizontal",
        "X-Lltd-Order": "webp-flip",
        "X-Lltd-Method": "4",
    }
    plain = DefenseSettings(quality=None, order="flip-webp", method=6)
    assert kernel.draw_headers(plain, Draw(None, None)) == {
        "X-Lltd-Quality": "off",
        "X-Lltd-Flip": "off",
        "X-Lltd-Order": "flip-webp",
        "X-Lltd-Method": "6",
    }


def test_a_randomised_defense_adds_its_label_and_the_exact_resize_pad_draw() -> None:
    settings = DefenseSettings(quality_range=(40, 80), flip="random", resize_pad=0.1, seed=1)
    draw = Draw(57.0, "vertical", 0.9123456789012345, (0.1, 0.30000000000000004))
    assert kernel.draw_headers(settings, draw) == {
        "X-Lltd-Quality": "57",
        "X-Lltd-Flip": "vertical",
        "X-Lltd-Order": "webp-flip",
        "X-Lltd-Method": "4",
        "X-Lltd-Defense": "webp q40-80 + flip random + resize-pad 0.1",
        "X-Lltd-Resize-Pad": "scale=0.9123456789012345; offset=0.1,0.30000000000000004",
    }


def _idat(png: bytes) -> bytes:
    at = png.index(b"IDAT")
    return png[at + 4 : at + 6]


def test_png_answers_are_lossless_at_zlib_level_1() -> None:
    image = _picture(mode="RGBA")
    data = kernel.encode(image, webp=False)
    again = Image.open(io.BytesIO(data))
    assert again.format == "PNG"
    assert again.tobytes() == image.tobytes()
    assert _idat(data) == b"\x78\x01"  # the zlib header of level 1: the fastest, as lltd defend


def test_webp_answers_are_lossless_and_keep_the_colour_under_transparent_pixels() -> None:
    image = _picture(mode="RGBA")
    alpha = Image.new("L", image.size)
    alpha.putdata([0 if i % 3 else 255 for i in range(image.width * image.height)])
    image.putalpha(alpha)  # two in three pixels transparent, their colours kept
    data = kernel.encode(image, webp=True)
    again = Image.open(io.BytesIO(data))
    assert again.format == "WEBP"
    assert again.tobytes() == image.tobytes()


@pytest.mark.parametrize(
    ("webp", "rgb", "media_type"),
    [
        (False, False, "image/png"),
        (True, False, "image/webp"),
        (False, True, "application/octet-stream"),
        (True, True, "application/octet-stream"),
    ],
)
def test_defend_bytes_answers_the_defended_pixels_in_the_form_asked(
    webp: bool, rgb: bool, media_type: str
) -> None:
    settings = DefenseSettings(quality=50, flip="vertical")
    body = _encoded(_picture((9, 7), "RGBA"), "PNG")
    expected = apply(Image.open(io.BytesIO(body)), settings, settings.draw())
    before = time.perf_counter()
    answer = kernel.defend_bytes(body, settings, 63, webp, rgb)
    took = time.perf_counter() - before
    assert answer.media_type == media_type
    assert answer.size == (9, 7)
    assert answer.headers == kernel.draw_headers(settings, Draw(50, "vertical"))
    if rgb:
        assert answer.data == expected.convert("RGB").tobytes()
    else:
        assert Image.open(io.BytesIO(answer.data)).tobytes() == expected.tobytes()
    # Three phases of the one call, each measured from where the last ended.
    phases = (answer.decode_s, answer.defend_s, answer.encode_s)
    assert all(phase >= 0 for phase in phases)
    assert sum(phases) <= took


def test_defend_bytes_refuses_before_defending() -> None:
    with pytest.raises(ImageTooLarge):
        kernel.defend_bytes(PNG, DefenseSettings(), 119, webp=False)


def test_defend_bytes_answers_an_encoded_image_unless_rgb_is_asked() -> None:
    answer = kernel.defend_bytes(PNG, DefenseSettings(), 120, webp=False)
    assert answer.media_type == "image/png"
    assert Image.open(io.BytesIO(answer.data)).size == (12, 10)


def test_an_answer_is_frozen() -> None:
    answer = kernel.defend_bytes(PNG, DefenseSettings(), 120, webp=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.data = b""  # type: ignore[misc]
