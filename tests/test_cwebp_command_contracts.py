"""lltd/cli/lean/cwebp_command.py: the full path of ``lltd cwebp``, in-process on real images in
tmp_path: the help texts, -version per backend, the backend chosen and the refusals' words
(with the fallback's reason when Pillow was chosen for want of cwebp), the output to a file, to
stdout or discarded, and the exit statuses of :func:`main`."""

from __future__ import annotations

import errno
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, features
from webp_helpers import CWEBP, needs_cwebp

from lltd.cli.lean import cwebp_command
from lltd.cli.lean.cwebp_command import USAGE, help_text, main, run
from lltd.codecs.cwebp import NOT_FOUND
from lltd.codecs.cwebp_options import OPTIONS
from lltd.common.errors import UsageError

FALLBACK = f" (Pillow was chosen because no cwebp binary was found: {NOT_FOUND})"


@pytest.fixture
def png(make_image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    return str(make_image(tmp_path / "in.png", "RGBA", size=(6, 5)))


@pytest.fixture
def no_cwebp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without cwebp: none on PATH, no LLTD_CWEBP, no webptools."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("LLTD_CWEBP", raising=False)
    monkeypatch.setitem(sys.modules, "webptools", None)
    monkeypatch.setitem(sys.modules, "webptools.webpbin", None)


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """A cwebp that prints its -o on stderr and writes "webp" there, or exits 5 for -version."""
    path = tmp_path / "bin" / "cwebp"
    path.parent.mkdir()
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -version ]; then echo 9.9.9; exit 0; fi\n'
        'for a in "$@"; do printf "%s\\n" "$a"; done > "$(dirname "$0")/argv"\n'
        'while [ "$1" != "-o" ]; do shift; done\n'
        'echo "Saving file \'$2\'" >&2; printf webp > "$2"\n'
    )
    path.chmod(0o755)
    return path


def _pixels(data: Path | bytes) -> bytes:
    import io

    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        return image.convert("RGBA").tobytes()


# -- help -----------------------------------------------------------------------------------


def test_short_help_is_the_usage_then_every_option_name_wrapped_at_78() -> None:
    text = help_text(long=False)
    assert text.startswith(USAGE + "\ncwebp's options, with cwebp's meaning (-longhelp: each, ")
    body = text.splitlines()[4:]
    assert body[0] == "cwebp's options, with cwebp's meaning (-longhelp: each, per backend):"
    names = " ".join(spec.name for spec in OPTIONS)
    assert body[1:] == textwrap.wrap(names, 78, initial_indent="  ", subsequent_indent="  ")
    assert all(len(line) <= 78 for line in body[1:]) and text.endswith("\n")


def test_long_help_is_one_line_per_option_with_its_pillow_verdict() -> None:
    lines = help_text(long=True).splitlines()
    assert "\n".join(lines[:4]) + "\n" == USAGE + "\n"
    assert lines[4] == (
        "Options (--backend cwebp honours all; [pillow: ...] is the pillow backend):"
    )
    assert len(lines) == 5 + len(OPTIONS)
    assert lines[5] == "  -h / -help                   short help [pillow: yes]"
    assert "  -q <float>                   quality factor (0:small..100:big) [pillow: yes]" in lines
    assert (
        lines.count(
            "  -s <int> <int>               input is raw YUV 4:2:0 of this width and height"
            " [pillow: refused]"
        )
        == 1
    )
    assert (
        "  -nostrong                    use simple filter instead of strong [pillow: refused]"
        in lines
    )


@pytest.mark.parametrize(
    ("argv", "long", "status"),
    [([], False, 2), (["--help"], True, 0), (["-h"], False, 0), (["-help"], False, 0),
     (["-H"], True, 0), (["-longhelp"], True, 0), (["-q", "5", "-h"], False, 0)],
)  # fmt: skip
def test_each_way_to_ask_for_help_prints_that_help(
    argv: list[str], long: bool, status: int, capsys: pytest.CaptureFixture
) -> None:
    assert run(argv) == status
    assert capsys.readouterr() == (help_text(long=long), "")


# -- -version -------------------------------------------------------------------------------


def test_version_is_cwebps_own_with_the_cwebp_backend(
    fake: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run(["--cwebp", str(fake), "-version"]) == 0
    assert capsys.readouterr() == ("9.9.9\n", "")


def test_version_is_pillows_libwebp_with_the_pillow_backend(capsys: pytest.CaptureFixture) -> None:
    assert run(["--backend", "pillow", "-version"]) == 0
    assert capsys.readouterr() == (f"{features.version('webp')}\n", "")


# -- backend and refusals -------------------------------------------------------------------


def test_the_default_backend_is_cwebp_where_one_is_found(
    fake: Path, png: str, tmp_path: Path
) -> None:
    assert run(["--cwebp", str(fake), png, "-o", "out.webp"]) == 0
    assert (tmp_path / "out.webp").read_bytes() == b"webp"


def test_auto_orient_chooses_pillow_even_where_cwebp_is_found(
    fake: Path, png: str, tmp_path: Path
) -> None:
    assert run(["--cwebp", str(fake), "--auto-orient", "-lossless", png, "-o", "out.webp"]) == 0
    assert not (fake.parent / "argv").exists()
    assert _pixels(tmp_path / "out.webp") == _pixels(Path(png))


def test_without_cwebp_pillow_encodes_what_it_honours(
    no_cwebp: None, png: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run(["-lossless", "-v", png, "-o", "out.webp"]) == 0
    assert _pixels(tmp_path / "out.webp") == _pixels(Path(png))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-sns", "30"], "the pillow backend cannot honour -sns; use --backend cwebp"),
        (["-print_psnr"], "the pillow backend cannot honour -print_psnr; use --backend cwebp"),
        (["-v", "-d", "x.pgm"], "the pillow backend cannot honour -d; use --backend cwebp"),
        (["-s", "6", "5"], "the pillow backend cannot honour -s; use --backend cwebp"),
    ],
)
def test_pillow_refusals_say_why_pillow_was_chosen_only_when_it_was_a_fallback(
    no_cwebp: None, png: str, tmp_path: Path, argv: list[str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        run([*argv, png, "-o", "out.webp"])
    assert str(caught.value) == message + FALLBACK
    with pytest.raises(UsageError) as caught:
        run(["--backend", "pillow", *argv, png, "-o", "out.webp"])
    assert str(caught.value) == message
    with pytest.raises(UsageError) as caught:
        run(["--auto-orient", *argv, png, "-o", "out.webp"])
    assert str(caught.value) == message
    assert "out.webp" not in os.listdir(tmp_path)


# -- outputs --------------------------------------------------------------------------------


def test_pillow_writes_the_file(png: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(["--backend", "pillow", "-q", "50", png, "-o", "out.webp"]) == 0
    with Image.open(tmp_path / "out.webp") as image:
        assert (image.format, image.size) == ("WEBP", (6, 5))
    assert capsys.readouterr() == ("", "")
    assert sorted(os.listdir(tmp_path)) == ["in.png", "out.webp"]


def test_dash_writes_the_same_bytes_to_stdout(
    png: str, tmp_path: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    assert run(["--backend", "pillow", "-lossless", png, "-o", "out.webp"]) == 0
    capfdbinary.readouterr()
    assert run(["--backend", "pillow", "-lossless", png, "-o", "-"]) == 0
    assert capfdbinary.readouterr() == ((tmp_path / "out.webp").read_bytes(), b"")


def test_without_o_it_encodes_says_so_and_keeps_nothing(
    png: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run(["--backend", "pillow", png]) == 0
    assert capsys.readouterr() == (
        "",
        "lltd: no output file specified (no -o): encoded, and the result discarded\n",
    )
    assert run(["--backend", "pillow", "-quiet", png]) == 0
    assert capsys.readouterr() == ("", "")
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


def test_cwebp_gets_quiet_unless_printing_and_its_messages_name_the_destination(
    fake: Path, png: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    assert run(["--cwebp", str(fake), "-q", "70", png, "-o", "out.webp"]) == 0
    argv = (fake.parent / "argv").read_text().splitlines()
    assert argv[:4] == ["-q", "70", "-quiet", "-o"]
    assert capfd.readouterr() == ("", "")
    assert run(["--cwebp", str(fake), "-v", png, "-o", "out.webp"]) == 0
    argv = (fake.parent / "argv").read_text().splitlines()
    assert argv[:4] == ["-q", "75", "-v", "-o"]  # the grammar's -q 75 first
    assert capfd.readouterr() == ("", "Saving file 'out.webp'\n")
    assert (tmp_path / "out.webp").read_bytes() == b"webp"


def test_cwebp_quiet_wins_over_printing(fake: Path, png: str) -> None:
    assert run(["--cwebp", str(fake), "-v", "-quiet", png, "-o", "out.webp"]) == 0
    assert (fake.parent / "argv").read_text().splitlines()[:4] == ["-q", "75", "-quiet", "-o"]


def test_raw_yuv_goes_to_cwebp_with_its_size(fake: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.yuv").write_bytes(bytes(6 * 4 * 3 // 2))
    assert run(["--cwebp", str(fake), "-s", "6", "4", "in.yuv", "-o", "out.webp"]) == 0
    argv = (fake.parent / "argv").read_text().splitlines()
    assert argv[:7] == ["-q", "75", "-quiet", "-s", "6", "4", "-o"]


def test_raw_yuv_over_max_pixels_is_one_line_and_status_1(
    fake: Path, tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.yuv").write_bytes(bytes(6 * 4 * 3 // 2))
    argv = ["--cwebp", str(fake), "--max-pixels", "23", "-s", "6", "4", "in.yuv", "-o", "o.webp"]
    assert run(argv) == 1
    assert capsys.readouterr() == ("", "lltd: error: in.yuv: -s 6 4 exceeds --max-pixels\n")
    argv[3] = "24"
    assert run(argv) == 0


def test_an_image_over_max_pixels_is_one_line_and_status_1(
    png: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert run(["--backend", "pillow", "--max-pixels", "29", png, "-o", "out.webp"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"lltd: error: {png}: ") and err.count("\n") == 1
    assert "out.webp" not in os.listdir(tmp_path)
    assert run(["--backend", "pillow", "--max-pixels", "30", png, "-o", "out.webp"]) == 0


@needs_cwebp
def test_the_cwebp_backend_writes_cwebps_bytes(png: str, tmp_path: Path) -> None:
    import subprocess

    assert CWEBP is not None
    subprocess.run([CWEBP, "-quiet", "-q", "60", png, "-o", "ref.webp"], check=True)
    assert run(["--cwebp", CWEBP, "-q", "60", png, "-o", "out.webp"]) == 0
    assert (tmp_path / "out.webp").read_bytes() == (tmp_path / "ref.webp").read_bytes()


# -- main's statuses ------------------------------------------------------------------------


def test_main_usage_errors_are_one_line_and_status_2(
    png: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["--backend", "x", png]) == 2
    assert capsys.readouterr() == (
        "",
        "lltd: error: --backend must be one of pillow, cwebp, got 'x'\n",
    )


def test_main_bad_images_are_one_line_and_status_1(
    tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main(["--backend", "pillow", "bad.png", "-o", "out.webp"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("lltd: error: bad.png: ") and err.count("\n") == 1


def test_main_os_errors_are_one_line_and_status_1(png: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["--backend", "pillow", png, "-o", "in.png/out.webp"]) == 1
    assert capsys.readouterr() == ("", "lltd: error: in.png: not a directory\n")


def test_main_an_os_error_without_a_file_name_is_its_own_words(
    png: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(argv: list[str]) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cwebp_command, "run", full)
    assert main([png, "-o", "out.webp"]) == 1
    assert capsys.readouterr() == ("", "lltd: error: [Errno 28] No space left on device\n")


def test_main_ctrl_c_is_one_line_and_status_130(
    fake: Path, png: str, capsys: pytest.CaptureFixture
) -> None:
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = -version ]; then exit 0; fi\nkill -INT $PPID\nsleep 2\n'
    )
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["--cwebp", str(fake), png, "-o", "out.webp"]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err.endswith("lltd: interrupted\n")


def test_the_usage_names_lltds_options_and_both_outputs() -> None:
    assert USAGE == (
        "usage: lltd cwebp [--backend cwebp|pillow] [--cwebp PATH] [--max-pixels N] "
        "[--auto-orient]\n"
        "                  [cwebp options] INPUT [-o OUTPUT.webp | -o -]\n"
        "--backend: cwebp (the default where a cwebp binary is found) or pillow\n"
    )


@pytest.mark.parametrize("printing", ["-v", "-short", "-progress"])
def test_the_printing_options_pillow_can_honour_are_taken(
    png: str, tmp_path: Path, printing: str
) -> None:
    assert run(["--backend", "pillow", printing, png, "-o", "out.webp"]) == 0
    assert (tmp_path / "out.webp").stat().st_size > 0


@pytest.fixture
def truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    import numpy as np

    monkeypatch.chdir(tmp_path)
    pixels = np.random.default_rng(1).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    return "cut.png"


def test_pillow_decodes_the_whole_image_before_encoding(
    truncated: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["--backend", "pillow", truncated, "-o", "out.webp"]) == 1
    assert capsys.readouterr() == (
        "",
        "lltd: error: cut.png: corrupt or truncated image: image file is truncated\n",
    )


def test_cwebp_gets_the_file_without_pillow_decoding_it(fake: Path, truncated: str) -> None:
    # Only the header is read: cwebp reads the file itself (and words its own failure).
    assert main(["--cwebp", str(fake), truncated, "-o", "out.webp"]) == 0
    assert (fake.parent / "argv").read_text().splitlines()[-1] == truncated
