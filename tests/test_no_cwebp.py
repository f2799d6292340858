"""A machine with no cwebp binary at all: none on PATH, no LLTD_CWEBP, and webptools' bundled one
out of reach. ``lltd cwebp`` and ``compress`` still encode (with Pillow), and what needs a binary
says so in one line, exit 2.

The subprocess gets an empty PATH folder and, first on PYTHONPATH, a ``webptools`` package that
refuses to import: the locator (lltd/codecs/cwebp_locate.py, lltd/codecs/cwebp.py) then finds
nothing, exactly as on a machine without webp installed.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RunLltd, assert_one_line_error, digest
from PIL import Image


@pytest.fixture
def no_cwebp(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    shadow = tmp_path / "shadow" / "webptools"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("no webptools on this machine")\n')
    pythonpath = os.pathsep.join(
        p for p in (str(shadow.parent), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {"PATH": str(empty), "PYTHONPATH": pythonpath}
    env["LLTD_CWEBP"] = ""  # set-but-empty is "not given" to the locator
    return env


def test_the_fixture_really_hides_every_cwebp(run_lltd: RunLltd, no_cwebp, make_image, tmp_path):
    """Guard: with the environment above, asking for the cwebp backend finds nothing."""
    make_image(tmp_path / "in.png")
    result = run_lltd(
        "cwebp", "--backend", "cwebp", "-q", "60", "in.png", "-o", "out.webp", env=no_cwebp
    )
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, "lltd: error:", "cwebp not found", "LLTD_CWEBP")
    assert not (tmp_path / "out.webp").exists()


def test_lltd_cwebp_falls_back_to_pillow_and_writes_pillows_bytes(
    run_lltd: RunLltd, no_cwebp, make_image, tmp_path
):
    make_image(tmp_path / "in.png", size=(64, 48))
    result = run_lltd("cwebp", "-q", "60", "in.png", "-o", "out.webp", env=no_cwebp)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out.webp") as image:
        assert (image.format, image.size) == ("WEBP", (64, 48))
    # The same bytes as the pillow backend chosen by name on a machine that has cwebp.
    named = run_lltd("cwebp", "--backend", "pillow", "-q", "60", "in.png", "-o", "named.webp")
    assert named.returncode == 0, named.stderr
    assert digest(tmp_path / "out.webp") == digest(tmp_path / "named.webp")
    assert not list(tmp_path.glob(".*lltd-tmp"))


def test_lltd_cwebp_to_stdout_and_version_without_a_binary(
    run_lltd: RunLltd, no_cwebp, make_image, tmp_path
):
    make_image(tmp_path / "in.png")
    result = subprocess.run(
        [sys.executable, "-m", "lltd", "cwebp", "-q", "60", "in.png", "-o", "-"],
        cwd=tmp_path,
        env={**os.environ, **no_cwebp},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout)) as image:
        assert image.format == "WEBP"
    version = run_lltd("cwebp", "-version", env=no_cwebp)
    assert version.returncode == 0, version.stderr
    from PIL import features

    assert version.stdout.strip() == features.version("webp")  # libwebp's, through Pillow


def test_an_option_only_cwebp_honours_names_the_missing_binary(
    run_lltd: RunLltd, no_cwebp, make_image, tmp_path
):
    make_image(tmp_path / "in.png")
    result = run_lltd("cwebp", "-sns", "50", "in.png", "-o", "out.webp", env=no_cwebp)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "lltd: error:", "-sns", "no cwebp binary was found")
    assert not (tmp_path / "out.webp").exists()


def test_compress_works_with_pillow_and_refuses_the_cwebp_backend_in_one_line(
    run_lltd: RunLltd, no_cwebp, make_image, tmp_path
):
    src = tmp_path / "in"
    for name in ("a.png", "b.jpg"):
        make_image(src / name, size=(80, 60))
    result = run_lltd("compress", src, "-q", "60", "-o", tmp_path / "out", env=no_cwebp)
    assert result.returncode == 0, result.stderr
    for name in ("a.webp", "b.webp"):
        with Image.open(tmp_path / "out" / name) as image:
            assert image.size == (80, 60)

    refused = run_lltd("compress", src, "--backend", "cwebp", "-o", tmp_path / "out2", env=no_cwebp)
    assert refused.returncode == 2
    assert_one_line_error(refused.stderr, "lltd: error:", "cwebp not found")
    assert not (tmp_path / "out2").exists()
