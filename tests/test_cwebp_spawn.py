"""`lltd cwebp`'s default path: cwebp itself, spawned by a lean entry
(lltd/cli/lean/cwebp_spawn.py), into a temporary beside the destination that is renamed into place.
Every call here goes through the real command line; the full path (Pillow opens the input first) is
reached with inputs the lean path leaves to it (a CMYK JPEG, an MPO, 16-bit grey)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from PIL import Image
from webp_helpers import CWEBP, needs_cwebp

pytestmark = needs_cwebp

OPTION_SETS = [
    ["-q", "60"],
    ["-q", "42", "-m", "6", "-alpha_q", "50", "-exact"],
    ["-preset", "photo", "-q", "70", "-sns", "20", "-f", "30", "-sharpness", "3", "-strong"],
    ["-lossless", "-z", "3", "-q", "80"],  # cwebp drops -z after -q, whatever the order
    ["-resize", "32", "0", "-crop", "2", "3", "40", "30", "-sharp_yuv", "-mt"],
    ["-metadata", "all", "-noalpha", "-size", "2000", "-pass", "3", "-qrange", "10", "90"],
]


def cwebp(*args: str | os.PathLike[str], cwd: Path | None = None) -> None:
    subprocess.run([CWEBP, *map(str, args)], check=True, capture_output=True, cwd=cwd)


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".lltd-tmp")]


def corrupt_png(path: Path) -> Path:
    """A valid signature and header, then image data that is not zlib: only a decoder finds out."""
    ihdr = b"IHDR" + (40).to_bytes(4, "big") + (30).to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    idat = b"IDAT" + b"not zlib data at all"

    def chunk(body: bytes) -> bytes:
        return (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(ihdr) + chunk(idat) + chunk(b"IEND"))
    return path


@pytest.mark.parametrize("args", OPTION_SETS, ids=lambda a: " ".join(a[:3]))
@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_default_output_is_cwebps_byte_for_byte(run_lltd, make_image, tmp_path, args, kind):
    mode, name = ("RGBA", "in put's.png") if kind == "png" else ("RGB", "in put's.jpg")
    source = make_image(tmp_path / name, mode, size=(64, 48))
    ours, theirs = tmp_path / "ours.webp", tmp_path / "theirs.webp"
    result = run_lltd("cwebp", *args, source, "-o", ours)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    cwebp("-quiet", *args, source, "-o", theirs)
    assert ours.read_bytes() == theirs.read_bytes()
    assert stat.S_IMODE(ours.stat().st_mode) == 0o666 & ~_umask()
    assert temporaries(tmp_path) == []


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_output_dash_is_cwebps_stream_and_nothing_else(make_image, tmp_path):
    source = make_image(tmp_path / "a.png", "RGB", size=(48, 40))
    argv = [sys.executable, "-m", "lltd", "cwebp", "-q", "50", "-v", str(source), "-o", "-"]
    result = subprocess.run(argv, capture_output=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    direct = subprocess.run(
        [CWEBP, "-quiet", "-q", "50", str(source), "-o", "-"], capture_output=True, check=True
    )
    assert result.stdout == direct.stdout  # -v's report went to stderr, not into the image
    assert b"Dimension: 48 x 40" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_printing_options_reach_stderr_and_the_file_is_the_same(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png", "RGB", size=(48, 40))
    result = run_lltd("cwebp", "-q", "50", "-print_psnr", "-short", source, "-o", "a.webp")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr.strip()
    cwebp("-quiet", "-q", "50", source, "-o", tmp_path / "b.webp")
    assert (tmp_path / "a.webp").read_bytes() == (tmp_path / "b.webp").read_bytes()


def test_missing_input_is_one_line_naming_it(run_lltd, tmp_path):
    result = run_lltd("cwebp", "-q", "60", tmp_path / "no such.png", "-o", tmp_path / "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "no such.png", "cannot read")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".lltd")) == []


def test_fifo_input_does_not_block(run_lltd, tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    result = run_lltd("cwebp", "-q", "60", "pipe.png", "-o", "o.webp", timeout=60)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "pipe.png", "not a regular file")
    assert not (tmp_path / "o.webp").exists()


def test_a_decoder_failure_is_cwebps_reason_in_one_escaped_line(run_lltd, tmp_path):
    source = corrupt_png(tmp_path / "bad\nlltd: converted: x.png")
    (tmp_path / "o.webp").write_bytes(b"previous output")
    result = run_lltd("cwebp", "-q", "60", source, "-o", "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "bad\\nlltd: converted: x.png", "cwebp failed")
    assert not [line for line in result.stderr.splitlines() if line.startswith("lltd: conv")]
    assert (tmp_path / "o.webp").read_bytes() == b"previous output"  # untouched
    assert temporaries(tmp_path) == []


def test_an_output_without_a_file_name_is_refused(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    for output in ("", "sub/"):
        result = run_lltd("cwebp", "-q", "60", source, "-o", output)
        assert result.returncode == 2, output
        assert_one_line_error(result.stderr, "refusing to write", "a folder")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "sub"]


@pytest.mark.parametrize("kind", ["FIFO", "folder"])
def test_special_destinations_are_refused_and_left_alone(run_lltd, make_image, tmp_path, kind):
    source = make_image(tmp_path / "a.png")
    target = tmp_path / "o.webp"
    os.mkfifo(target) if kind == "FIFO" else target.mkdir()
    before = os.lstat(target)
    result = run_lltd("cwebp", "-q", "60", source, "-o", target, timeout=60)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "refusing to write", "o.webp", kind)
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert temporaries(tmp_path) == []


def test_a_destination_under_a_file_is_one_line(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    result = run_lltd("cwebp", "-q", "60", source, "-o", tmp_path / "a.png" / "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "a.png/o.webp", "not a directory")
    assert Image.open(source).size == (48, 40)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_one_line(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = run_lltd("cwebp", "-q", "60", source, "-o", locked / "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "locked", "Permission denied")
    assert list(locked.iterdir()) == []


def test_a_missing_folder_is_created_as_the_full_path_does(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    result = run_lltd("cwebp", "-q", "60", source, "-o", tmp_path / "new" / "sub" / "o.webp")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "new" / "sub" / "o.webp").size == (48, 40)


@pytest.mark.parametrize("mode", ["I;16", "1", "P", "L", "L.jpg"])
def test_modes_the_lean_path_leaves_to_pillow_still_give_cwebps_bytes(
    run_lltd, make_image, tmp_path, mode
):
    """16-bit and 1-bit grey are opened by Pillow first (the full path), palette and grey (PNG
    or JPEG) go straight to cwebp: the bytes are cwebp's either way."""
    mode, _, ext = mode.partition(".")
    source = make_image(tmp_path / f"g.{ext or 'png'}", mode)
    assert run_lltd("cwebp", "-q", "60", source, "-o", "g.webp").returncode == 0
    cwebp("-quiet", "-q", "60", source, "-o", tmp_path / "direct.webp")
    assert (tmp_path / "g.webp").read_bytes() == (tmp_path / "direct.webp").read_bytes()


def test_max_pixels_is_honoured_in_the_full_paths_words(run_lltd, make_image, tmp_path):
    big = make_image(tmp_path / "big.png")
    result = run_lltd("cwebp", "--max-pixels", "100", "-q", "60", big, "-o", "big.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "big.png", "exceeds the limit of 100")
    assert not (tmp_path / "big.webp").exists()
    result = run_lltd("cwebp", "--max-pixels=1920", "-q", "60", big, "-o", "big.webp")
    assert result.returncode == 0, result.stderr  # 48 x 40 = 1920: at the limit is allowed


def test_a_bad_cwebp_option_value_is_refused_before_anything_runs(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    for args, needle in ((["-q", "101"], "-q must be between 0 and 100"),
                         (["-metadata", "gps"], "unknown -metadata 'gps'"),
                         (["-qrange", "90", "10"], "-qrange: min 90 is above max 10")):  # fmt: skip
        result = run_lltd("cwebp", *args, source, "-o", "o.webp")
        assert result.returncode == 2, args
        assert_one_line_error(result.stderr, needle)
    assert not (tmp_path / "o.webp").exists()


def test_an_explicit_cwebp_that_is_not_executable_is_a_usage_error(run_lltd, make_image, tmp_path):
    source = make_image(tmp_path / "a.png")
    (tmp_path / "cwebp").write_text("#!/bin/sh\nexit 0\n")  # no execute bit
    result = run_lltd("cwebp", "--cwebp", tmp_path / "cwebp", "-q", "60", source, "-o", "o.webp")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "--cwebp", "not an executable file")
    assert not (tmp_path / "o.webp").exists()


def test_the_binary_found_is_the_one_run(run_lltd, make_image, tmp_path):
    """``--cwebp``, then ``$LLTD_CWEBP``, then PATH: a logging wrapper shows which one ran."""
    source = make_image(tmp_path / "a.png")
    log = tmp_path / "ran.txt"
    wrapper = tmp_path / "bin" / "cwebp"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec "{CWEBP}" "$@"\n')
    wrapper.chmod(0o755)
    env = {"PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    assert run_lltd("cwebp", "-q", "60", source, "-o", "o.webp", env=env).returncode == 0
    ran = log.read_text().split()
    assert ran[:2] == ["-q", "60"] and ran[-2:] == ["--", str(source)]
    assert ran[ran.index("-o") + 1].endswith(".lltd-tmp")  # a temporary, then renamed
    cwebp("-quiet", "-q", "60", source, "-o", tmp_path / "direct.webp")
    assert (tmp_path / "o.webp").read_bytes() == (tmp_path / "direct.webp").read_bytes()


def test_a_reader_that_leaves_ends_cwebp_as_it_ends_cwebp_itself(make_image, tmp_path):
    """``lltd cwebp ... -o - | head``: Python ignores SIGPIPE, and cwebp must not inherit that;
    the status is cwebp's own (141: killed by SIGPIPE), with no error line."""
    source = make_image(tmp_path / "a.png", "RGB", size=(300, 200))
    statuses = []
    for argv in ([sys.executable, "-m", "lltd", "cwebp"], [CWEBP, "-quiet"]):
        command = shlex.join([*argv, "-q", "90", str(source), "-o", "-"])
        script = f"{command} | (exec 0<&-; sleep 1); echo ${{PIPESTATUS[0]}}"
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        statuses.append(result.stdout.strip())
        assert "lltd: error" not in result.stderr
    assert statuses == ["141", "141"]


def test_a_cmyk_jpeg_is_converted_by_pillow_first_as_before(run_lltd, make_image, tmp_path):
    """Pillow reads CMYK JPEGs (Adobe's inverted ones too) where cwebp's reader differs: the lean
    path leaves them to the full path, which hands cwebp Pillow's RGB pixels as a PNG."""
    source = make_image(tmp_path / "rgb.png")
    with Image.open(source) as rgb:
        rgb.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
        Image.open(tmp_path / "cmyk.jpg").convert("RGB").save(tmp_path / "as rgb.png")
    assert run_lltd("cwebp", "-q", "60", "cmyk.jpg", "-o", "o.webp").returncode == 0
    cwebp("-quiet", "-q", "60", tmp_path / "as rgb.png", "-o", tmp_path / "expected.webp")
    assert (tmp_path / "o.webp").read_bytes() == (tmp_path / "expected.webp").read_bytes()


def test_an_mpo_is_refused_as_an_animation_as_before(run_lltd, make_image, tmp_path):
    """A JPEG with an index of more pictures (MPO): cwebp would read the first and drop the rest;
    the lean path leaves it to the full path, which refuses it as it refuses any animation."""
    source = make_image(tmp_path / "stereo.jpg")
    with Image.open(source) as first:
        first.save(source, "MPO", save_all=True, append_images=[first.transpose(0)])
    result = run_lltd("cwebp", "-q", "60", source, "-o", "o.webp")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "stereo.jpg", "animated image (2 frames)")
    assert not (tmp_path / "o.webp").exists()
