"""`lltd cwebp`: cwebp's own command-line grammar, one file per call."""

from __future__ import annotations

import io
import subprocess
import sys
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
    assert (
        run_lltd("cwebp", "--backend", "pillow", "-q", "42", source, "-o", pillow).returncode == 0
    )
    assert Image.open(pillow).size == Image.open(source).size


def test_lltd_cwebp_refuses_unknown_options_and_bad_files(tmp_path, run_lltd, make_image):
    source = make_image(tmp_path / "a.png")
    result = run_lltd("cwebp", "-frobnicate", source, "-o", tmp_path / "o.webp")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "-frobnicate is not a cwebp option")
    # An option the pillow backend cannot honour is a usage error (exit 2), as in compress.
    for flag in ("-af", "-preset"):
        args = [flag, "photo"] if flag == "-preset" else [flag]
        result = run_lltd("cwebp", "--backend", "pillow", *args, source, "-o", tmp_path / "o.webp")
        assert result.returncode == 2, flag
        assert_one_line_error(result.stderr, "pillow backend cannot honour", flag)
    (tmp_path / "bad.png").write_text("nope")
    result = run_lltd("cwebp", "-q", "50", tmp_path / "bad.png", "-o", tmp_path / "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "bad.png", "not an image")
    assert not (tmp_path / "o.webp").exists()


def test_cwebp_grammar_parser():
    from lltd.codecs.grammar import parse_cwebp_args
    from lltd.common.errors import UsageError

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


def test_without_output_says_so_like_cwebp(tmp_path, run_lltd, make_image):
    source = make_image(tmp_path / "a.png")
    result = run_lltd("cwebp", "-q", "50", source)
    assert result.returncode == 0
    assert_one_line_error(result.stderr, "no output file specified")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["a.png"]
    quiet = run_lltd("cwebp", "-quiet", "-q", "50", source)
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.mark.parametrize("backend", ["pillow", "cwebp"])
def test_output_dash_writes_to_stdout(tmp_path, run_lltd, make_image, backend):
    if backend == "cwebp" and CWEBP is None:
        pytest.skip("cwebp not installed")
    source = make_image(tmp_path / "a.png")
    argv = [sys.executable, "-m", "lltd", "cwebp", "--backend", backend, "-q", "50"]
    result = subprocess.run(
        [*argv, str(source), "-o", "-"],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert Image.open(io.BytesIO(result.stdout)).size == (48, 40)
    if backend == "cwebp":
        direct = subprocess.run(
            [CWEBP, "-quiet", "-q", "50", str(source), "-o", "-"], capture_output=True, check=True
        )
        assert result.stdout == direct.stdout


@pytest.mark.parametrize("backend", ["pillow", "cwebp"])
def test_input_named_like_an_option(tmp_path, run_lltd, make_image, backend):
    if backend == "cwebp" and CWEBP is None:
        pytest.skip("cwebp not installed")
    make_image(tmp_path / "-q.png")
    result = run_lltd("cwebp", "--backend", backend, "-o", "out.webp", "--", "-q.png")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out.webp").size == (48, 40)


@pytest.mark.parametrize("backend", [[], ["--backend", "pillow"]])
def test_lean_entry_imports_neither_typer_nor_the_other_commands(tmp_path, make_image, backend):
    source = make_image(tmp_path / "a.png")
    argv = [sys.executable, "-X", "importtime", "-m", "lltd", "cwebp", *backend, "-q", "50"]
    result = subprocess.run(
        [*argv, str(source), "-o", str(tmp_path / "a.webp")],
        capture_output=True,
        text=True,
        check=True,
    )
    order = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    imported = set(order)
    assert not imported & {"typer", "click", "lltd.cli.root", "numpy", "rich", "lltd.batch.engine"}
    # What lltd imported: after site (which, in an editable install, imports pathlib itself).
    lltds = set(order[order.index("site") + 1 :])
    if backend or CWEBP is None:
        assert "lltd.cli.lean.cwebp_command" in imported and "PIL.WebPImagePlugin" in imported
    else:  # cwebp spawned: not even Pillow, pathlib, subprocess or the full command
        assert "lltd.cli.lean.cwebp_run" in imported
        assert "lltd.codecs.cwebp_options" in lltds
        assert not lltds & {
            "PIL",
            "pathlib",
            "subprocess",
            "tempfile",
            "lltd.cli.lean.cwebp_command",
        }


def test_output_symlink_is_refused(tmp_path, run_lltd, make_image):
    """cwebp would follow it; lltd never writes through a link (tests/test_data_safety.py has
    FIFOs and devices)."""
    source = make_image(tmp_path / "a.png")
    link = tmp_path / "link.webp"
    link.symlink_to(tmp_path / "elsewhere.webp")
    result = run_lltd("cwebp", "-q", "50", source, "-o", link)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "link.webp", "symbolic link")
    assert not (tmp_path / "elsewhere.webp").exists()
