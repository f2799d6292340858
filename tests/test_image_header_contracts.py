"""lltd/codecs/image_header.py: the header readers that decide whether the lean path of
``lltd cwebp`` may hand a PNG or JPEG to cwebp as it is. In-process, on real files in tmp_path:
files Pillow writes, and headers built byte by byte where Pillow cannot write them (a bad CRC,
a 12-bit JPEG, 65 segments). The reader's answer is a size only where Pillow would open the
same file in a mode cwebp reads as Pillow does; anything else is None (left to Pillow)."""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

from lltd.codecs.image_header import _MAX_CHUNKS, CWEBP_NATIVE, SIGNATURE, size_if_native

# The modes Pillow opens that cwebp reads with Pillow's meaning (lltd.codecs.cwebp._CWEBP_NATIVE).
PILLOW_NATIVE = {"RGB", "RGBA", "L", "P", "LA"}

# Width and height whose two bytes differ, and differ from each other: a reader that takes the
# wrong bytes, or swaps them, gives another number.
W, H = 0x0102, 0x0304


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# -- PNG, built by hand ---------------------------------------------------------------------


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")


def ihdr(w: int = W, h: int = H, depth: int = 8, colour: int = 2, rest: bytes = b"\0\0\0") -> bytes:
    return chunk(
        b"IHDR", w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([depth, colour]) + rest
    )


IDAT = chunk(b"IDAT", zlib.compress(b"\0" * 16))
IEND = chunk(b"IEND", b"")


def png(*before_idat: bytes, header: bytes | None = None) -> bytes:
    return SIGNATURE + (ihdr() if header is None else header) + b"".join(before_idat) + IDAT + IEND


# -- JPEG, built by hand ---------------------------------------------------------------------

SOI = b"\xff\xd8"


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def sof(marker: int = 0xC0, w: int = W, h: int = H, precision: int = 8, comps: int = 3) -> bytes:
    frame = bytes([precision]) + h.to_bytes(2, "big") + w.to_bytes(2, "big") + bytes([comps])
    return segment(marker, frame + b"\x01\x11\x00" * comps)


def jpeg(*before_sof: bytes, frame: bytes | None = None) -> bytes:
    return SOI + b"".join(before_sof) + (sof() if frame is None else frame) + b"\xff\xd9"


ALL_SOF = [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF]


# -- the file itself ---------------------------------------------------------------------------


def test_a_missing_file_is_left_to_pillow(tmp_path: Path) -> None:
    assert size_if_native(str(tmp_path / "absent.png")) is None


def test_a_directory_is_left_to_pillow(tmp_path: Path) -> None:
    assert size_if_native(str(tmp_path)) is None


def test_an_empty_file_and_a_bare_soi_are_left_to_pillow(tmp_path: Path) -> None:
    assert size_if_native(_write(tmp_path, "empty.png", b"")) is None
    assert size_if_native(_write(tmp_path, "soi.jpg", b"\xff\xd8\xff")) is None


def test_a_fifo_is_answered_without_waiting_for_a_writer(tmp_path: Path) -> None:
    # Opened without O_NONBLOCK, a FIFO with no writer blocks the open for ever; if it does,
    # the test opens the write end itself so the thread ends, and then fails.
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    answers: list[object] = []
    reader = threading.Thread(target=lambda: answers.append(size_if_native(str(fifo))))
    reader.start()
    reader.join(30)
    blocked = reader.is_alive()
    if blocked:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
    assert not blocked
    assert answers == [None]


# -- PNG ---------------------------------------------------------------------------------------


def test_a_plain_rgb_png_gives_width_then_height(tmp_path: Path) -> None:
    assert size_if_native(_write(tmp_path, "a.png", png())) == (W, H)


# Written out here, not taken from the module: a table missing an entry must fail a test.
NATIVE_TABLE = [
    (2, 0), (4, 0), (8, 0), (8, 2), (16, 2), (1, 3), (2, 3), (4, 3), (8, 3), (8, 4), (16, 4),
    (8, 6), (16, 6),
]  # fmt: skip


def test_the_native_table_is_every_png_mode_pillow_opens_as_rgb_rgba_l_p_or_la() -> None:
    from PIL.PngImagePlugin import _MODES

    pillow = {key for key, (mode, _raw) in _MODES.items() if mode in PILLOW_NATIVE}
    assert CWEBP_NATIVE == pillow == set(NATIVE_TABLE)


@pytest.mark.parametrize("depth_colour", NATIVE_TABLE)
def test_every_native_png_mode_gives_its_size_and_pillow_agrees(
    tmp_path: Path, depth_colour: tuple[int, int]
) -> None:
    depth, colour = depth_colour
    path = _write(tmp_path, "a.png", png(header=ihdr(depth=depth, colour=colour)))
    assert size_if_native(path) == (W, H)
    with Image.open(path) as image:
        assert image.mode in PILLOW_NATIVE
        assert image.size == (W, H)


# Pillow's meaning of these is not cwebp's ("1", "I;16"), or they are not PNG modes at all.
NOT_NATIVE = [(1, 0), (16, 0), (8, 1), (16, 3), (1, 2), (4, 6), (8, 5), (8, 7), (3, 0), (32, 2)]


@pytest.mark.parametrize("depth_colour", NOT_NATIVE)
def test_a_png_mode_outside_the_native_table_is_left_to_pillow(
    tmp_path: Path, depth_colour: tuple[int, int]
) -> None:
    depth, colour = depth_colour
    path = _write(tmp_path, "a.png", png(header=ihdr(depth=depth, colour=colour)))
    assert size_if_native(path) is None


def test_one_bit_and_sixteen_bit_grey_open_in_pillow_modes_cwebp_reads_otherwise(
    tmp_path: Path,
) -> None:
    for depth, mode in ((1, "1"), (16, "I;16")):
        path = _write(tmp_path, f"g{depth}.png", png(header=ihdr(depth=depth, colour=0)))
        with Image.open(path) as image:
            assert image.mode == mode
        assert size_if_native(path) is None


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (b"\0\0\0", (W, H)),
        (b"\0\0\1", (W, H)),  # Adam7 interlacing: cwebp reads it
        (b"\0\0\2", None),  # no such interlace method
        (b"\1\0\0", None),  # no such compression method
        (b"\0\1\0", None),  # no such filter method
    ],
)
def test_png_compression_filter_and_interlace_methods(
    tmp_path: Path, rest: bytes, expected: tuple[int, int] | None
) -> None:
    assert size_if_native(_write(tmp_path, "a.png", png(header=ihdr(rest=rest)))) == expected


@pytest.mark.parametrize(("w", "h"), [(0, 5), (5, 0), (0, 0)])
def test_a_png_with_no_pixels_is_left_to_pillow(tmp_path: Path, w: int, h: int) -> None:
    assert size_if_native(_write(tmp_path, "a.png", png(header=ihdr(w=w, h=h)))) is None


def test_png_widths_and_heights_are_read_with_all_four_bytes(tmp_path: Path) -> None:
    w, h = 0x01000002, 0x02000001  # past 2**24: the high byte matters
    assert size_if_native(_write(tmp_path, "a.png", png(header=ihdr(w=w, h=h)))) == (w, h)


def test_a_one_by_one_png_gives_one_by_one(tmp_path: Path) -> None:
    assert size_if_native(_write(tmp_path, "a.png", png(header=ihdr(w=1, h=1)))) == (1, 1)


def test_a_bad_ihdr_crc_is_left_to_pillow(tmp_path: Path) -> None:
    good = ihdr()
    bad = good[:-4] + ((int.from_bytes(good[-4:], "big") ^ 1).to_bytes(4, "big"))
    assert size_if_native(_write(tmp_path, "a.png", png(header=bad))) is None


def test_a_bad_signature_or_a_first_chunk_other_than_ihdr_is_left_to_pillow(
    tmp_path: Path,
) -> None:
    assert size_if_native(_write(tmp_path, "a.png", b"\x89PNG\r\n\x1a\x0b" + png()[8:])) is None
    other = chunk(b"IHDX", ihdr()[8:-4])
    assert size_if_native(_write(tmp_path, "b.png", png(header=other))) is None
    longer = chunk(b"IHDR", ihdr()[8:-4] + b"\0")  # 14 bytes: not the 13 of the standard
    assert size_if_native(_write(tmp_path, "c.png", png(header=longer))) is None


def test_a_png_cut_inside_its_header_is_left_to_pillow(tmp_path: Path) -> None:
    whole = png()
    for cut in (8, 20, 32):
        assert size_if_native(_write(tmp_path, f"a{cut}.png", whole[:cut])) is None


def test_ancillary_chunks_with_good_crcs_before_idat_are_skipped(tmp_path: Path) -> None:
    text = chunk(b"tEXt", b"Comment\0made by hand")
    gamma = chunk(b"gAMA", (45455).to_bytes(4, "big"))
    empty = chunk(b"sRGB", b"")
    assert size_if_native(_write(tmp_path, "a.png", png(text, gamma, empty))) == (W, H)


def test_a_bad_crc_on_a_chunk_before_idat_is_left_to_pillow(tmp_path: Path) -> None:
    bad = chunk(b"tEXt", b"Comment\0x", crc=zlib.crc32(b"tEXtComment\0y"))
    assert size_if_native(_write(tmp_path, "a.png", png(bad))) is None


def test_a_png_cut_inside_a_chunk_before_idat_is_left_to_pillow(tmp_path: Path) -> None:
    head = SIGNATURE + ihdr() + chunk(b"tEXt", b"Comment\0abc")
    assert size_if_native(_write(tmp_path, "a.png", head[:-2])) is None
    assert size_if_native(_write(tmp_path, "b.png", head + IDAT[:5])) is None
    assert size_if_native(_write(tmp_path, "c.png", head)) is None  # no IDAT at all


def test_an_apng_or_an_iend_before_idat_is_left_to_pillow(tmp_path: Path) -> None:
    actl = chunk(b"acTL", (2).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    assert size_if_native(_write(tmp_path, "a.png", png(actl))) is None
    assert size_if_native(_write(tmp_path, "b.png", png(IEND))) is None


def test_a_chunk_of_sixteen_mebibytes_is_read_one_byte_more_is_left_to_pillow(
    tmp_path: Path,
) -> None:
    # Real bodies with good CRCs: only the length bound decides.
    limit = 1 << 24
    exact = chunk(b"zTXt", b"\0" * limit)
    assert size_if_native(_write(tmp_path, "a.png", png(exact))) == (W, H)
    over = chunk(b"zTXt", b"\0" * (limit + 1))
    assert size_if_native(_write(tmp_path, "b.png", png(over))) is None


def test_up_to_max_chunks_minus_one_before_idat_then_left_to_pillow(tmp_path: Path) -> None:
    # The IHDR is read on its own; the loop sees _MAX_CHUNKS chunks, the IDAT included.
    assert _MAX_CHUNKS == 64
    text = chunk(b"tEXt", b"k\0v")
    fits = png(*[text] * (_MAX_CHUNKS - 1))
    assert size_if_native(_write(tmp_path, "a.png", fits)) == (W, H)
    one_more = png(*[text] * _MAX_CHUNKS)
    assert size_if_native(_write(tmp_path, "b.png", one_more)) is None


# -- JPEG --------------------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ALL_SOF, ids=hex)
def test_every_start_of_frame_marker_gives_width_then_height(tmp_path: Path, marker: int) -> None:
    path = _write(tmp_path, "a.jpg", jpeg(frame=sof(marker)))
    assert size_if_native(path) == (W, H)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC, 0xDB, 0xDD, 0xE0, 0xEF, 0xFE], ids=hex)
def test_tables_and_app_segments_before_the_frame_are_skipped(tmp_path: Path, marker: int) -> None:
    # DHT, JPG, DAC, DQT, DRI, APP0, APP15, COM: none is a frame header.
    path = _write(tmp_path, "a.jpg", jpeg(segment(marker, b"\x10\x20\x30"), frame=sof(w=9, h=7)))
    assert size_if_native(path) == (9, 7)


@pytest.mark.parametrize(("precision", "comps"), [(8, 1), (8, 3)])
def test_eight_bit_grey_or_three_components_give_the_size(
    tmp_path: Path, precision: int, comps: int
) -> None:
    path = _write(tmp_path, "a.jpg", jpeg(frame=sof(precision=precision, comps=comps)))
    assert size_if_native(path) == (W, H)


@pytest.mark.parametrize(("precision", "comps"), [(12, 3), (16, 1), (7, 3), (8, 2), (8, 4), (8, 0)])
def test_other_precisions_or_component_counts_are_left_to_pillow(
    tmp_path: Path, precision: int, comps: int
) -> None:
    path = _write(tmp_path, "a.jpg", jpeg(frame=sof(precision=precision, comps=comps)))
    assert size_if_native(path) is None


@pytest.mark.parametrize(("w", "h"), [(0, 5), (5, 0), (0, 0)])
def test_a_jpeg_frame_with_no_pixels_is_left_to_pillow(tmp_path: Path, w: int, h: int) -> None:
    assert size_if_native(_write(tmp_path, "a.jpg", jpeg(frame=sof(w=w, h=h)))) is None


def test_a_jpeg_cut_inside_its_frame_header_is_left_to_pillow(tmp_path: Path) -> None:
    whole = SOI + sof()
    for cut in (3, 5, 6, 11):  # inside the marker, the length, the six bytes that matter
        assert size_if_native(_write(tmp_path, f"a{cut}.jpg", whole[:cut])) is None
    assert size_if_native(_write(tmp_path, "whole.jpg", whole[:12])) == (W, H)


# Where a reader that missed the check would land next: a frame header that gives a size.
def _bait(tmp_path: Path, name: str, data: bytes) -> str:
    return _write(tmp_path, name, data + sof() + b"\xff\xd9")


@pytest.mark.parametrize("marker", [0xD8, 0xD9, 0xDA, 0xD0, 0xD3, 0xD7], ids=hex)
def test_soi_eoi_sos_or_restart_before_any_frame_is_left_to_pillow(
    tmp_path: Path, marker: int
) -> None:
    # Each is followed by a length a skipping reader would trust, and a frame header there.
    path = _bait(tmp_path, "a.jpg", SOI + segment(marker, b"\0" * 4))
    assert size_if_native(path) is None


def test_an_empty_segment_is_skipped_a_length_under_two_is_left_to_pillow(tmp_path: Path) -> None:
    assert size_if_native(_bait(tmp_path, "a.jpg", SOI + segment(0xE0, b""))) == (W, H)
    for length in (0, 1):
        bad = SOI + b"\xff\xe0" + length.to_bytes(2, "big")
        assert size_if_native(_bait(tmp_path, f"l{length}.jpg", bad)) is None


def test_a_segment_not_starting_with_ff_is_left_to_pillow(tmp_path: Path) -> None:
    # After the APP0, the bytes of a frame header without its 0xFF: read as one, they'd give a size.
    data = SOI + segment(0xE0, b"JFIF\0") + b"\x00" + sof()[1:]
    assert size_if_native(_write(tmp_path, "a.jpg", data)) is None


def test_an_mpf_index_in_app2_is_left_to_pillow_an_icc_profile_is_not(tmp_path: Path) -> None:
    mpf = segment(0xE2, b"MPF\0II*\0\x08\0\0\0")
    assert size_if_native(_write(tmp_path, "mpf.jpg", jpeg(mpf))) is None
    icc = segment(0xE2, b"ICC_PROFILE\0\x01\x01")
    assert size_if_native(_write(tmp_path, "icc.jpg", jpeg(icc))) == (W, H)
    in_app1 = segment(0xE1, b"MPF\0II*\0")  # the MPF marker means nothing outside APP2
    assert size_if_native(_write(tmp_path, "app1.jpg", jpeg(in_app1))) == (W, H)
    shifted = segment(0xE2, b"xMPF\0")  # "MPF\0" one byte late is not an MPF index
    assert size_if_native(_write(tmp_path, "late.jpg", jpeg(shifted))) == (W, H)


def test_up_to_max_chunks_minus_one_segments_before_the_frame_then_left_to_pillow(
    tmp_path: Path,
) -> None:
    app = segment(0xE5, b"abc")
    fits = jpeg(*[app] * (_MAX_CHUNKS - 1))
    assert size_if_native(_write(tmp_path, "a.jpg", fits)) == (W, H)
    one_more = jpeg(*[app] * _MAX_CHUNKS)
    assert size_if_native(_write(tmp_path, "b.jpg", one_more)) is None


# -- files Pillow writes, cross-checked against Pillow ------------------------------------------


def _pillow_files(tmp_path: Path) -> dict[str, tuple[int, int] | None]:
    """Files Pillow writes, and the answer each must get: a size where Pillow opens it in a
    native mode as one picture, None where it does not."""
    expected: dict[str, tuple[int, int] | None] = {}
    size = (37, 23)

    def save(name: str, image: Image.Image, answer: bool, **params: object) -> None:
        image.save(tmp_path / name, **params)
        expected[name] = image.size if answer else None

    for mode in ("RGB", "RGBA", "L", "LA", "P"):
        save(f"{mode}.png", Image.new(mode, size), True)
    save("P-2bit.png", Image.new("P", size), True, bits=2)
    save("P-1bit.png", Image.new("P", size), True, bits=1)
    save("P-trns.png", Image.new("P", size), True, transparency=0)
    save("text.png", Image.new("RGB", size), True, pnginfo=_text_info())
    save("1.png", Image.new("1", size), False)
    save("I16.png", Image.new("I;16", size), False)
    frames = [Image.new("RGB", size, c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    expected["anim.png"] = None

    for mode in ("RGB", "L"):
        save(f"{mode}.jpg", Image.new(mode, size), True)
        save(f"{mode}-progressive.jpg", Image.new(mode, size), True, progressive=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the lean path is not taken with -auto_orient (the caller)
    save("exif.jpg", Image.new("RGB", size), True, exif=exif)
    save("icc.jpg", Image.new("RGB", size), True, icc_profile=b"\0" * 3000)
    save("comment.jpg", Image.new("RGB", size), True, comment=b"made by hand")
    save("cmyk.jpg", Image.new("CMYK", size), False)
    frames[0].save(tmp_path / "two.mpo", format="MPO", save_all=True, append_images=frames[1:])
    expected["two.mpo"] = None
    return expected


def _text_info() -> object:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "x" * 200)
    return info


def test_files_pillow_writes_get_their_size_exactly_where_pillow_opens_them_natively(
    tmp_path: Path,
) -> None:
    expected = _pillow_files(tmp_path)
    answers = {name: size_if_native(str(tmp_path / name)) for name in expected}
    assert answers == expected
    for name, answer in answers.items():
        with Image.open(tmp_path / name) as image:
            one_picture = getattr(image, "n_frames", 1) == 1 and image.format in ("PNG", "JPEG")
            if answer is not None:
                assert (image.size, image.mode in PILLOW_NATIVE, one_picture) == (
                    answer,
                    True,
                    True,
                ), name
