"""compress's keep/reuse/transparency rules exactly at their boundaries, where a bug would hide.

The sample photographs' WebPs are 3-4x smaller than their originals, so a rule that kept WebPs up
to twice as large, or a transparency test at alpha < 129, passed every other test. Here the inputs
are crafted so the WebP is exactly as large as the original, or one byte smaller, and the alpha or
tRNS key sits one step from the threshold.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import RunLltd, digest
from PIL import Image

from lltd.codecs import EncodeOptions, get_codec

QUALITY = 60


def outcomes(report: Path) -> dict[str, str]:
    return {Path(r["input"]).name: r["outcome"] for r in json.loads(report.read_text())["files"]}


def webp_size_of(png: bytes) -> int:
    """The size of the WebP that compress writes for these pixels (Pillow backend, -q 60)."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return len(get_codec("pillow").encode(image, EncodeOptions(quality=QUALITY)))


def png_padded_to(path: Path, size: int) -> Path:
    """A 1-bit noise PNG (whose WebP is much larger than it) padded after IEND to ``size`` bytes.

    Decoders stop at IEND, so the padding changes the file's size but not its pixels or its WebP.
    """
    pixels = np.random.default_rng(7).integers(0, 2, (64, 64)).astype(bool)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) < size, "the crafted PNG must start smaller than its WebP"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data + b"\0" * (size - len(data)))
    return path


def noise_webp_size() -> int:
    """The size of the WebP of :func:`png_padded_to`'s pixels."""
    pixels = np.random.default_rng(7).integers(0, 2, (64, 64)).astype(bool)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return webp_size_of(buffer.getvalue())


@pytest.fixture
def webp_size() -> int:
    return noise_webp_size()


def test_webp_as_large_as_its_original_is_not_kept_one_byte_smaller_is(
    tmp_path: Path, run_lltd: RunLltd, webp_size: int
) -> None:
    src = tmp_path / "in"
    equal = png_padded_to(src / "equal.png", webp_size)
    smaller = png_padded_to(src / "one byte larger original.png", webp_size + 1)
    out = tmp_path / "out"
    out.mkdir()
    # A leftover larger than the original is redone; the redo is not smaller either: it goes.
    (out / "equal.webp").write_bytes(b"left over" * webp_size)
    result = run_lltd("compress", src, "-q", QUALITY, "-o", out, "--json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert outcomes(tmp_path / "r.json") == {
        "equal.png": "larger",
        "one byte larger original.png": "converted",
    }
    assert not (out / "equal.webp").exists()
    assert digest(out / "origin" / "equal.png") == digest(equal)
    # The WebP kept is the one predicted: the boundary really is one byte.
    assert (out / "one byte larger original.webp").stat().st_size == webp_size
    assert smaller.stat().st_size == webp_size + 1


def test_replace_never_keeps_a_webp_as_large_as_its_original(
    tmp_path: Path, run_lltd: RunLltd, webp_size: int
) -> None:
    src = tmp_path / "in"
    equal = png_padded_to(src / "equal.png", webp_size)
    png_padded_to(src / "smaller.png", webp_size + 1)
    kept = digest(equal)
    result = run_lltd("compress", src, "--r", "-q", QUALITY, "--json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    records = {
        Path(r["input"]).name: r for r in json.loads((tmp_path / "r.json").read_text())["files"]
    }
    assert records["equal.png"]["outcome"] == "larger" and records["equal.png"]["output"] is None
    assert digest(equal) == kept and not (src / "equal.webp").exists()
    assert not (src / "smaller.png").exists()
    with Image.open(src / "smaller.webp") as image:
        assert image.size == (64, 64)


def test_leftovers_this_run_did_not_record_are_redone_whatever_their_size(
    tmp_path: Path, run_lltd: RunLltd, make_image
) -> None:
    src = tmp_path / "in"
    first = make_image(src / "first.png", size=(96, 80))
    second = make_image(src / "second.png", size=(96, 80))
    out = tmp_path / "out"
    out.mkdir()
    # Leftovers that are not WebPs at all: whatever their size, they are not an output this
    # tool recorded for these inputs (#11 items 1 and 10), so both are redone.
    (out / "first.webp").write_bytes(b"L" * first.stat().st_size)
    (out / "second.webp").write_bytes(b"S" * (second.stat().st_size - 1))
    result = run_lltd("compress", src, "-q", QUALITY, "-o", out, "--json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert outcomes(tmp_path / "r.json") == {"first.png": "converted", "second.png": "converted"}
    for name in ("first.webp", "second.webp"):
        with Image.open(out / name) as image:
            assert image.format == "WEBP"


# --- transparency ------------------------------------------------------------------------------


def rgba(alpha_of_one_pixel: int) -> Image.Image:
    image = Image.new("RGBA", (40, 30), (30, 120, 200, 255))
    image.putpixel((17, 9), (30, 120, 200, alpha_of_one_pixel))
    return image


def keyed(mode: str, key_present: bool) -> Image.Image:
    """An RGB or L image whose tRNS key colour is, or is not, one of its pixels."""
    fill = (90, 90, 90) if mode == "RGB" else 90
    key = (200, 10, 10) if mode == "RGB" else 200
    image = Image.new(mode, (40, 30), fill)
    if key_present:
        image.putpixel((5, 5), key)
    image.info["transparency"] = key
    return image


@pytest.fixture
def transparency_folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    rgba(254).save(src / "alpha 254.png")
    rgba(255).save(src / "alpha 255.png")
    rgba(0).save(src / "alpha 0.png")
    for mode in ("RGB", "L"):
        for present in (True, False):
            image = keyed(mode, present)
            name = f"{mode} key {'present' if present else 'absent'}.png"
            image.save(src / name, transparency=image.info["transparency"])
    return src


def test_one_pixel_of_alpha_254_or_a_present_trns_key_is_transparent(
    transparency_folder: Path, tmp_path: Path, run_lltd: RunLltd
) -> None:
    out = tmp_path / "out"
    result = run_lltd(
        "compress", transparency_folder, "-q", QUALITY, "-o", out,
        "--ignore-transparency-image", "--json", tmp_path / "r.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = outcomes(tmp_path / "r.json")
    # "converted" or "larger": either way the image was not set aside for transparency.
    not_transparent = {name for name, outcome in got.items() if outcome != "transparency"}
    assert {name for name, outcome in got.items() if outcome == "transparency"} == {
        "alpha 254.png",
        "alpha 0.png",
        "RGB key present.png",
        "L key present.png",
    }
    assert not_transparent == {"alpha 255.png", "RGB key absent.png", "L key absent.png"}
    for name in ("alpha 254.png", "RGB key present.png", "L key present.png"):
        assert digest(out / "transparency" / name) == digest(transparency_folder / name)
