"""WebP codecs: the pillow and cwebp backends, byte-equality with cwebp, cwebp discovery."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image, ImageCms
from webp_helpers import APOSTROPHE, CWEBP, decode, needs_cwebp


def test_unusual_modes_convert_faithfully(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "sixteen.png", "I;16")
    make_image(src / "cmyk.jpg", "CMYK")
    make_image(src / "gray.png", "L")
    make_image(src / "palette.png", "P")
    make_image(src / "bw.png", "1")
    for backend in ("pillow", "cwebp") if CWEBP else ("pillow",):
        out = tmp_path / backend
        result = run_lltd("compress", src, "-q", "90", "-o", out, "--backend", backend)
        assert result.returncode == 0, (backend, result.stderr)
        assert sorted(p.name for p in out.glob("*.webp")) == [
            "cmyk.webp",
            "gray.webp",
            "palette.webp",
            "sixteen.webp",
        ]
        assert (out / "origin" / "bw.png").exists()  # 1-bit PNG: its WebP is not smaller
        # 16-bit values are scaled to 8 bits, not clipped to white.
        sixteen = np.asarray(Image.open(src / "sixteen.png")).astype(np.float64) / 257
        webp = decode(out / "sixteen.webp")[..., 0].astype(np.float64)
        assert np.abs(webp - sixteen).mean() < 4, backend


@needs_cwebp
@pytest.mark.parametrize("name", [APOSTROPHE, "coffee.jpg", "more photos/rocket launch.JPEG"])
def test_cwebp_backend_bytes_equal_cwebp(sample_dir, run_lltd, tmp_path, name):
    out = tmp_path / "out"
    result = run_lltd(
        "compress", sample_dir, "-q", "60", "-o", out, "--backend", "cwebp", "--cwebp", CWEBP
    )
    assert result.returncode == 0, result.stderr
    direct = tmp_path / "direct.webp"
    subprocess.run(
        [CWEBP, "-q", "60", str(sample_dir / name), "-o", str(direct)],
        check=True,
        capture_output=True,
    )
    assert (out / name).with_suffix(".webp").read_bytes() == direct.read_bytes()


@needs_cwebp
@pytest.mark.parametrize(
    "flags",
    [
        ["-m", "6"],
        ["-lossless"],
        ["-alpha_q", "50"],
        ["-exact"],
        ["-metadata", "icc"],
        ["-sharp_yuv"],
        ["-preset", "photo"],
    ],
)
def test_cwebp_options_with_cwebp_backend_match_cwebp(tmp_path, run_lltd, make_image, flags):
    src = tmp_path / "in"
    make_image(src / "a b's.png", "RGBA", size=(64, 48))
    out = tmp_path / "out"
    result = run_lltd("compress", src, "-q", "70", "-o", out, "--backend", "cwebp", *flags)
    assert result.returncode == 0, result.stderr
    direct = tmp_path / "direct.webp"
    subprocess.run(
        [CWEBP, *flags, "-q", "70", str(src / "a b's.png"), "-o", str(direct)],
        check=True,
        capture_output=True,
    )
    assert (out / "a b's.webp").read_bytes() == direct.read_bytes()


@pytest.mark.parametrize("flags", [["-preset", "photo"], ["-sharp_yuv"]])
def test_pillow_backend_refuses_what_it_cannot_honour(sample_dir, run_lltd, tmp_path, flags):
    result = run_lltd("compress", sample_dir, "-q", "60", "-o", tmp_path / "o", *flags)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "pillow backend cannot honour", flags[0])
    assert not (tmp_path / "o").exists()


def test_pillow_backend_honours_method_alpha_exact_and_metadata(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    image = make_image(src / "x.png", "RGBA", size=(64, 64))
    with Image.open(image) as loaded:
        rgba = np.asarray(loaded).copy()
    rgba[..., 3] = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(image)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.open(image).save(src / "icc.png", icc_profile=icc)

    def run(*flags: str) -> Path:
        out = tmp_path / ("o" + "".join(flags).replace("-", "_"))
        assert run_lltd("compress", src, "-q", "70", "-o", out, *flags).returncode == 0
        return out

    plain, m0 = run(), run("-m", "0")
    assert (plain / "x.webp").read_bytes() != (m0 / "x.webp").read_bytes()
    alpha = run("-alpha_q", "10")
    assert (alpha / "x.webp").stat().st_size < (plain / "x.webp").stat().st_size
    assert "icc_profile" not in Image.open(plain / "icc.webp").info
    assert Image.open(run("-metadata", "icc") / "icc.webp").info["icc_profile"] == icc
    # -exact keeps the RGB of fully transparent pixels in lossless mode.
    clear = Image.open(image).copy()
    clear.putalpha(0)
    clear.save(src / "x.png")
    exact, loose = run("-lossless", "-exact"), run("-lossless")
    original = np.asarray(clear)[..., :3]
    assert np.array_equal(decode(exact / "x.webp")[..., :3], original)
    assert not np.array_equal(decode(loose / "x.webp")[..., :3], original)


def test_bundled_cwebp_is_found_and_runs(tmp_path, monkeypatch, make_image):
    from lltd.codecs.cwebp import CwebpCodec, find_cwebp

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("LLTD_CWEBP", raising=False)
    monkeypatch.setenv("LLTD_CACHE_DIR", str(tmp_path / "cache"))
    binary = find_cwebp()
    assert binary.is_relative_to(tmp_path / "cache") and os.access(binary, os.X_OK)
    source = make_image(tmp_path / "in put's.png")
    codec = CwebpCodec()
    target = tmp_path / "o.webp"
    from lltd.codecs import EncodeOptions

    codec.encode_file(source, target, EncodeOptions(quality=60), Image.open(source))
    assert Image.open(target).size == (48, 40)


def test_cwebp_discovery_order(tmp_path, monkeypatch):
    from lltd.codecs.cwebp import find_cwebp
    from lltd.common.errors import UsageError

    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for path in (explicit, env):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    monkeypatch.setenv("LLTD_CWEBP", str(env))
    assert find_cwebp(explicit) == explicit
    assert find_cwebp() == env
    monkeypatch.delenv("LLTD_CWEBP")
    if CWEBP:
        assert find_cwebp() == Path(CWEBP)
    with pytest.raises(UsageError, match="not an executable"):
        find_cwebp(tmp_path / "missing")


def test_webp_bytes_roundtrip_in_memory():
    from lltd.codecs import EncodeOptions, get_codec

    image = Image.new("RGB", (32, 32), (200, 10, 10))
    data = get_codec("pillow").encode(image, EncodeOptions(quality=50))
    assert Image.open(io.BytesIO(data)).format == "WEBP"
