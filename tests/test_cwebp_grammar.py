"""`lltd cwebp`: cwebp's own command-line grammar, one file per call."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from PIL import Image
from webp_helpers import APOSTROPHE, CWEBP, needs_cwebp


@needs_cwebp
def test_lltd_cwebp_single_file_matches_cwebp(sample_dir, run_lltd, tmp_path):
    source = sample_dir / APOSTROPHE
    ours, theirs = tmp_path / "ours.webp", tmp_path / "theirs.webp"
    args = ["-q", "42", "-m", "5", "-alpha_q", "80", "-metadata", "none"]
    result = run_lltd("cwebp", "--backend", "cwebp", *args, source, "-o", ours)
    assert result.returncode == 0, result.stderr
    subprocess.run([CWEBP, *args, str(source), "-o", str(theirs)], check=True, capture_output=True)
    assert ours.read_bytes() == theirs.read_bytes()
    pillow = tmp_path / "pillow.webp"
    assert run_lltd("cwebp", "-q", "42", source, "-o", pillow).returncode == 0
    assert Image.open(pillow).size == Image.open(source).size


def test_lltd_cwebp_refuses_unknown_options_and_bad_files(tmp_path, run_lltd, make_image):
    source = make_image(tmp_path / "a.png")
    result = run_lltd("cwebp", "-af", source, "-o", tmp_path / "o.webp")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "-af is not supported")
    (tmp_path / "bad.png").write_text("nope")
    result = run_lltd("cwebp", "-q", "50", tmp_path / "bad.png", "-o", tmp_path / "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "bad.png", "not an image")
    assert not (tmp_path / "o.webp").exists()


def test_cwebp_grammar_parser():
    from lltd.codecs.grammar import parse_cwebp_args
    from lltd.errors import UsageError

    call = parse_cwebp_args(
        [
            "-q",
            "61.5",
            "-lossless",
            "-preset",
            "text",
            "-metadata",
            "exif,icc",
            "in file.png",
            "-o",
            "out.webp",
            "-quiet",
        ]
    )
    assert call.source == Path("in file.png") and call.output == Path("out.webp")
    assert call.options.quality == 61.5 and call.options.lossless
    assert call.options.preset == "text" and call.options.metadata == ("exif", "icc")
    with pytest.raises(UsageError, match="-q takes a float"):
        parse_cwebp_args(["-q", "high", "a.png"])
    with pytest.raises(UsageError, match="exactly one input"):
        parse_cwebp_args(["a.png", "b.png"])
