"""lltd/cli/lean/cwebp_spawn.py: the lean path of ``lltd cwebp``, in-process. lltd's own
options read exactly, cwebp's call scanned, the source judged, and None (nothing written, nothing
printed) for every call the full path must take. A shell script stands in for cwebp (``--cwebp``)
where a test reads the argument vector it got; test_cwebp_spawn.py runs the real command."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from webp_helpers import CWEBP, needs_cwebp

from lltd.cli.lean.cwebp_spawn import Own, _scan, _source_ok, main, split_own, try_spawn
from lltd.common.errors import UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS


@pytest.fixture
def fake(tmp_path: Path) -> Path:
    """A cwebp that records its arguments (one a line) and writes "webp" to its -o."""
    path = tmp_path / "bin" / "cwebp"
    path.parent.mkdir()
    path.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do printf "%s\\n" "$a"; done > "$(dirname "$0")/argv"\n'
        'while [ "$1" != "-o" ]; do shift; done\n'
        'if [ "$2" = - ]; then printf webp; else printf webp > "$2"; fi\n'
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def png(make_image, tmp_path: Path) -> str:
    return str(make_image(tmp_path / "in.png", size=(6, 5)))


def _argv(fake: Path) -> list[str]:
    return (fake.parent / "argv").read_text().splitlines()


# -- lltd's own options ---------------------------------------------------------------------


def test_own_defaults() -> None:
    own = Own()
    assert (own.backend, own.cwebp, own.max_pixels, own.auto_orient) == (
        None,
        None,
        DEFAULT_MAX_PIXELS,
        False,
    )


def test_own_options_are_read_from_the_front_in_either_form() -> None:
    own, rest = split_own(
        ["--backend", "cwebp", "--cwebp=/x/cwebp", "--auto-orient", "--max-pixels", "12", "-q",
         "5", "--backend", "pillow"]
    )  # fmt: skip
    assert (own.backend, own.cwebp, own.max_pixels, own.auto_orient) == (
        "cwebp",
        "/x/cwebp",
        12,
        True,
    )
    assert rest == ["-q", "5", "--backend", "pillow"]
    own, rest = split_own(["--backend=pillow", "--max-pixels=7", "--cwebp", "c", "in.png"])
    assert (own.backend, own.cwebp, own.max_pixels, own.auto_orient) == ("pillow", "c", 7, False)
    assert rest == ["in.png"]


def test_own_options_end_at_the_first_other_argument() -> None:
    own, rest = split_own(["--backendx", "cwebp"])
    assert (own.backend, rest) == (None, ["--backendx", "cwebp"])
    assert split_own([])[1] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend"], "--backend needs a value"),
        (["--max-pixels"], "--max-pixels needs a value"),
        (["--backend", "webp"], "--backend must be one of pillow, cwebp, got 'webp'"),
        (["--backend=Pillow"], "--backend must be one of pillow, cwebp, got 'Pillow'"),
        (["--max-pixels", "1e6"], "--max-pixels takes an integer, got '1e6'"),
        (["--max-pixels=x"], "--max-pixels takes an integer, got 'x'"),
    ],
)
def test_bad_own_options_are_usage_errors_in_these_words(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        split_own(argv)
    assert str(caught.value) == message


# -- cwebp's call ---------------------------------------------------------------------------


def test_the_call_is_split_into_options_printing_inputs_and_output() -> None:
    call = _scan(iter(["-q", "80", "-v", "in.png", "-d", "f.pgm", "-mt", "-o", "o.webp", "-"]))
    assert call is not None
    assert (call.options, call.printing, call.inputs, call.output, call.quiet) == (
        ["-q", "80", "-mt"],
        ["-v", "-d", "f.pgm"],
        ["in.png", "-"],
        "o.webp",
        False,
    )


def test_quiet_is_a_flag_not_a_printing_option() -> None:
    call = _scan(iter(["-quiet", "in.png"]))
    assert call is not None and (call.quiet, call.printing, call.output) == (True, [], None)


def test_after_dashdash_everything_is_an_input() -> None:
    call = _scan(iter(["-q", "1", "--", "-o", "-x.png"]))
    assert call is not None and (call.inputs, call.output) == (["-o", "-x.png"], None)


@pytest.mark.parametrize(
    "argv", [["in.png", "-o"], ["-bogus", "in.png"], ["-h"], ["-version"], ["-s", "2", "2", "x"]]
)
def test_calls_the_full_path_must_speak_for_are_none(argv: list[str]) -> None:
    assert _scan(iter(argv)) is None


def test_a_bad_value_is_refused_as_the_grammar_refuses_it() -> None:
    with pytest.raises(UsageError):
        _scan(iter(["-q", "101", "in.png"]))


# -- the source -----------------------------------------------------------------------------


def test_a_native_png_within_the_limit_is_taken(png: str) -> None:
    assert _source_ok(png, 30) is True
    assert _source_ok(png, 29) is False


def test_what_is_not_a_plain_native_image_file_is_not_taken(tmp_path: Path, png: str) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_bytes(b"plain text, no image")
    os.mkfifo(tmp_path / "fifo.png")
    for name in ("missing.png", "empty.png", "text.png", "fifo.png", "."):
        assert _source_ok(str(tmp_path / name), DEFAULT_MAX_PIXELS) is False, name
    assert _source_ok(png + "\0", DEFAULT_MAX_PIXELS) is False


# -- the whole lean path --------------------------------------------------------------------


def test_a_plain_call_runs_cwebp_quietly_on_the_file(fake: Path, png: str, tmp_path: Path) -> None:
    out = tmp_path / "out.webp"
    assert try_spawn(["--cwebp", str(fake), "-q", "80", png, "-o", str(out)]) == 0
    argv = _argv(fake)
    assert argv[:3] == ["-q", "80", "-quiet"] and argv[3] == "-o" and argv[5:] == ["--", png]
    assert out.read_bytes() == b"webp"


def test_printing_options_replace_quiet_and_are_shown(
    fake: Path, png: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out.webp"
    assert try_spawn(["--cwebp", str(fake), png, "-v", "-mt", "-o", str(out)]) == 0
    assert _argv(fake)[:3] == ["-mt", "-v", "-o"]
    assert try_spawn(["--cwebp", str(fake), png, "-v", "-quiet", "-o", str(out)]) == 0
    assert _argv(fake)[:2] == ["-quiet", "-o"]


def test_dash_output_is_taken(fake: Path, png: str, capfdbinary: pytest.CaptureFixture) -> None:
    assert try_spawn(["--cwebp", str(fake), png, "-o", "-"]) == 0
    assert capfdbinary.readouterr() == (b"webp", b"")


@needs_cwebp
def test_cwebp_on_the_path_is_the_one_run(png: str, tmp_path: Path, monkeypatch) -> None:
    assert CWEBP is not None
    monkeypatch.delenv("LLTD_CWEBP", raising=False)
    monkeypatch.setenv("PATH", os.path.dirname(CWEBP))
    out = tmp_path / "out.webp"
    assert try_spawn(["--backend", "cwebp", png, "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"RIFF"


@pytest.mark.parametrize(
    "extra",
    [
        ["--backend", "pillow"],
        ["--auto-orient"],
        ["--max-pixels", "29"],
        ["--backend", "bogus"],
        ["--cwebp", "/nonexistent/cwebp"],
    ],
)
def test_own_options_the_full_path_must_honour_take_nothing(
    fake: Path, png: str, tmp_path: Path, extra: list[str], capfd: pytest.CaptureFixture
) -> None:
    argv = ["--cwebp", str(fake), *extra] if extra[0] != "--cwebp" else extra
    assert main([*argv, png, "-o", str(tmp_path / "out.webp")]) is None
    assert not (fake.parent / "argv").exists() and not (tmp_path / "out.webp").exists()
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    "call",
    [["IN"], ["IN", "IN", "-o", "OUT"], ["-o", "OUT"], ["IN", "-bogus", "-o", "OUT"],
     ["IN", "-q", "x", "-o", "OUT"], ["MISSING", "-o", "OUT"]],
)  # fmt: skip
def test_calls_not_taken_run_nothing_and_say_nothing(
    fake: Path, png: str, tmp_path: Path, call: list[str], capfd: pytest.CaptureFixture
) -> None:
    names = {"IN": png, "OUT": str(tmp_path / "out.webp"), "MISSING": str(tmp_path / "gone.png")}
    assert main(["--cwebp", str(fake), *(names.get(a, a) for a in call)]) is None
    assert not (fake.parent / "argv").exists() and not (tmp_path / "out.webp").exists()
    assert capfd.readouterr() == ("", "")


def test_no_cwebp_anywhere_takes_nothing(png: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LLTD_CWEBP", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert try_spawn([png, "-o", str(tmp_path / "out.webp")]) is None


def test_an_os_error_is_one_line_and_status_1(
    fake: Path, png: str, capfd: pytest.CaptureFixture
) -> None:
    assert main(["--cwebp", str(fake), png, "-o", png + "/out.webp"]) == 1
    assert capfd.readouterr() == (
        "",
        f"lltd: error: {png}/out.webp: not a directory\n",
    )


def test_an_lltd_error_is_one_line_and_status_2(
    fake: Path, png: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    fake.write_text(fake.read_text() + 'ln -s in.png "$(dirname "$2")/out.webp"\n')
    out = tmp_path / "out.webp"
    assert main(["--cwebp", str(fake), png, "-o", str(out)]) == 2
    assert capfd.readouterr() == (
        "",
        f"lltd: error: refusing to write {out}: it exists and is a symbolic link\n",
    )


def test_ctrl_c_is_one_line_and_status_130(
    fake: Path, png: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    fake.write_text("#!/bin/sh\nkill -INT $PPID\nsleep 2\n")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert main(["--cwebp", str(fake), png, "-o", str(tmp_path / "out.webp")]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capfd.readouterr() == ("", "lltd: interrupted\n")
    assert sorted(os.listdir(tmp_path)) == ["bin", "in.png"]


def test_cwebps_messages_are_hidden_unless_a_printing_option_asks_for_them(
    fake: Path, png: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    fake.write_text(fake.read_text() + "echo \"Saving file '$2'\" >&2\n")
    out = tmp_path / "out.webp"
    assert try_spawn(["--cwebp", str(fake), png, "-o", str(out)]) == 0
    assert capfd.readouterr() == ("", "")
    assert try_spawn(["--cwebp", str(fake), png, "-short", "-o", str(out)]) == 0
    assert capfd.readouterr() == ("", f"Saving file '{out}'\n")
