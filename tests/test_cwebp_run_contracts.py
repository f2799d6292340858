"""lltd/cli/lean/cwebp_run.py: cwebp spawned with an argument vector into a temporary beside
the destination, renamed into place once cwebp succeeded. In-process: :func:`run_cwebp` runs
the real cwebp, or a small shell script in its place where a test needs an exact behaviour (what
it prints where, its exit, a node swapped in at the destination, a signal)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webp_helpers import CWEBP, needs_cwebp

from lltd.cli.lean.cwebp_run import run_cwebp

TEMP = re.compile(r"\.out\.webp\.[0-9a-f]{12}\.lltd-tmp")

Script = Callable[[str], str]


@pytest.fixture
def script(tmp_path: Path) -> Script:
    """An executable shell script standing in for cwebp; its arguments are "$@", the temporary
    is the argument after -o."""

    def make(body: str) -> str:
        path = tmp_path / "bin" / "fake-cwebp"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            "#!/bin/sh\n"
            'for a in "$@"; do printf "%s\\n" "$a"; done > "$(dirname "$0")/argv"\n'
            'while [ "$1" != "-o" ]; do shift; done; T="$2"\n' + body
        )
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a script's relative names land in tmp_path
    made = tmp_path / "data"
    made.mkdir()
    (made / "in.png").write_bytes(b"not read by the scripts")
    return made


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask) and None
    os.umask(old)


def _fds() -> list[str]:
    return sorted(os.listdir("/proc/self/fd"))


@needs_cwebp
def test_the_file_is_cwebps_own_bytes_renamed_into_place(
    make_image, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    source = make_image(folder / "in.png")
    assert CWEBP is not None
    reference = folder.parent / "reference.webp"
    subprocess.run([CWEBP, "-q", "80", "-quiet", str(source), "-o", str(reference)], check=True)
    assert (
        run_cwebp(CWEBP, ["-q", "80", "-quiet"], str(source), str(folder / "out.webp"), True) == 0
    )
    assert (folder / "out.webp").read_bytes() == reference.read_bytes()
    assert sorted(os.listdir(folder)) == ["in.png", "out.webp"]
    assert capfdbinary.readouterr() == (b"", b"")


@needs_cwebp
def test_dash_writes_cwebps_bytes_to_stdout_and_nothing_else(
    make_image, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    source = make_image(folder / "in.png")
    assert CWEBP is not None
    reference = subprocess.run(
        [CWEBP, "-quiet", str(source), "-o", "-"], check=True, capture_output=True
    ).stdout
    assert run_cwebp(CWEBP, ["-quiet"], str(source), "-", True) == 0
    assert capfdbinary.readouterr() == (reference, b"")
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_the_argument_vector_is_the_options_then_o_temporary_then_dashdash_source(
    script: Script, folder: Path
) -> None:
    binary = script('printf webp > "$T"\n')
    source = str(folder / "-x.png")
    assert run_cwebp(binary, ["-q", "5", "-m", "6"], source, str(folder / "out.webp"), True) == 0
    argv = Path(binary).with_name("argv").read_text().splitlines()
    assert argv[:5] == ["-q", "5", "-m", "6", "-o"]
    assert os.path.dirname(argv[5]) == str(folder) and TEMP.fullmatch(os.path.basename(argv[5]))
    assert argv[6:] == ["--", source]
    assert (folder / "out.webp").read_bytes() == b"webp"


def test_dash_is_passed_as_dash(script: Script, folder: Path, capfdbinary) -> None:
    binary = script("printf webp\n")
    assert run_cwebp(binary, ["-q", "5"], "in.png", "-", True) == 0
    argv = Path(binary).with_name("argv").read_text().splitlines()
    assert argv == ["-q", "5", "-o", "-", "--", "in.png"]
    assert capfdbinary.readouterr() == (b"webp", b"")


@pytest.mark.parametrize(("mask", "mode"), [(0o002, 0o664), (0o077, 0o600), (0o022, 0o644)])
def test_the_file_gets_0666_less_the_umask_and_the_umask_is_left_as_it_was(
    script: Script, folder: Path, umask, mask: int, mode: int
) -> None:
    umask(mask)
    assert (
        run_cwebp(script('printf webp > "$T"\n'), [], "in.png", str(folder / "out.webp"), True) == 0
    )
    assert (folder / "out.webp").stat().st_mode & 0o7777 == mode
    assert os.umask(mask) == mask


def test_captured_messages_stay_out_of_both_streams_on_success(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script('echo "to stdout"; echo "to stderr" >&2; printf webp > "$T"\n')
    assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) == 0
    assert capfdbinary.readouterr() == (b"", b"")


def test_dash_keeps_cwebps_messages_off_stdout(
    script: Script, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script('printf webp; echo "Saving file" >&2\n')
    assert run_cwebp(binary, [], "in.png", "-", True) == 0
    assert capfdbinary.readouterr() == (b"webp", b"")
    assert run_cwebp(binary, [], "in.png", "-", False) == 0  # not captured: straight to stderr
    assert capfdbinary.readouterr() == (b"webp", b"Saving file\n")


def test_shown_messages_name_the_destination_not_the_temporary(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script('echo "Saving file \'$T\'" >&2; echo "on stdout"; printf webp > "$T"\n')
    out = str(folder / "out.webp")
    assert run_cwebp(binary, [], "in.png", out, False) == 0
    assert capfdbinary.readouterr() == (b"", f"Saving file '{out}'\non stdout\n".encode())


def test_a_failure_is_one_line_with_cwebps_last_error_line_and_nothing_is_left(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script(
        'printf half > "$T"; echo "Error! first"; echo "Error! Cannot read \'x\'" >&2\n'
        'echo "trailing words" >&2; exit 3\n'
    )
    source = str(folder / "in\n.png")
    assert run_cwebp(binary, [], source, str(folder / "out.webp"), True) == 1
    line = f"lltd: error: {folder}/in\\n.png: cwebp failed: Error! Cannot read 'x'\n"
    assert capfdbinary.readouterr() == (b"", line.encode())
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_a_long_message_is_read_whole_for_its_error_line(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script(
        'echo "Error! the one" >&2\n'
        'i=0; while [ $i -lt 3000 ]; do echo "progress line $i of many words"; i=$((i+1)); done\n'
        "exit 1\n"
    )
    assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) == 1
    assert capfdbinary.readouterr() == (b"", b"lltd: error: in.png: cwebp failed: Error! the one\n")


def test_a_failure_without_words_names_the_exit_status(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    assert run_cwebp(script("exit 7\n"), [], "in.png", str(folder / "out.webp"), True) == 1
    assert capfdbinary.readouterr() == (b"", b"lltd: error: in.png: cwebp failed: exit status 7\n")


def test_a_shown_failure_is_relayed_then_worded_from_what_was_relayed(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script("echo \"Error! at '$T'\" >&2; exit 2\n")
    out = str(folder / "out.webp")
    assert run_cwebp(binary, [], "in.png", out, False) == 1
    err = capfdbinary.readouterr().err.decode()
    relayed, worded = err.splitlines()
    assert relayed == f"Error! at '{out}'"
    assert TEMP.search(worded) and worded.startswith("lltd: error: in.png: cwebp failed: Error! at")
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_a_temporary_swapped_for_a_dangling_link_is_removed(
    script: Script, folder: Path, capfdbinary
) -> None:
    binary = script('rm "$T"; ln -s /nonexistent/x "$T"; exit 1\n')
    assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) == 1
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_a_link_put_at_the_destination_meanwhile_is_refused_and_kept(
    script: Script, folder: Path
) -> None:
    from lltd.fs.destination import UnsafeDestination

    binary = script('printf webp > "$T"; ln -s in.png "$(dirname "$T")/out.webp"\n')
    with pytest.raises(UnsafeDestination):
        run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True)
    assert sorted(os.listdir(folder)) == ["in.png", "out.webp"]
    assert os.readlink(folder / "out.webp") == "in.png"


@pytest.mark.parametrize("output", ["", "data/", "gone/out.webp", "link"])
def test_destinations_for_the_full_path_to_word_run_nothing(
    script: Script, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (folder / "target").write_bytes(b"kept")
    os.symlink("data/target", tmp_path / "link")
    binary = script('printf webp > "$T"\n')
    assert run_cwebp(binary, [], "data/in.png", output, True) is None
    assert not Path(binary).with_name("argv").exists()
    assert sorted(os.listdir(folder)) == ["in.png", "target"]
    assert (folder / "target").read_bytes() == b"kept"


def test_a_destination_under_a_file_raises_before_anything_runs(
    script: Script, folder: Path
) -> None:
    binary = script('printf webp > "$T"\n')
    with pytest.raises(NotADirectoryError):
        run_cwebp(binary, [], "in.png", str(folder / "in.png" / "out.webp"), True)
    assert not Path(binary).with_name("argv").exists()
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_a_cwebp_that_cannot_start_runs_nothing_and_leaks_nothing(folder: Path) -> None:
    before = _fds()
    for binary in (str(folder / "missing"), str(folder / "in.png")):
        assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) is None
        assert run_cwebp(binary, [], "in.png", "-", True) is None
    assert sorted(os.listdir(folder)) == ["in.png"]
    assert _fds() == before


def test_a_run_leaks_no_descriptor(script: Script, folder: Path, capfdbinary) -> None:
    binary = script(
        'if [ "$T" = - ]; then printf webp; else printf webp > "$T"; fi; echo words >&2\n'
    )
    before = _fds()
    for capture in (True, False):
        assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), capture) == 0
        assert run_cwebp(binary, [], "in.png", "-", capture) == 0
    assert _fds() == before


def _with_stdout_to_a_closed_pipe(call: Callable[[], int | None]) -> int | None:
    reader, writer = os.pipe()
    os.close(reader)
    saved = os.dup(1)
    os.dup2(writer, 1)
    os.close(writer)
    try:
        return call()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def test_a_reader_of_dash_that_left_ends_cwebp_by_sigpipe_quietly(
    script: Script, capfdbinary: pytest.CaptureFixture
) -> None:
    # Python ignores SIGPIPE; cwebp gets it back at its default, so a write to the closed pipe
    # ends it (status 141, nothing said) instead of a write error it carries on after.
    binary = script("echo one; echo two; exit 0\n")
    code = _with_stdout_to_a_closed_pipe(lambda: run_cwebp(binary, [], "in.png", "-", True))
    assert code == 128 + signal.SIGPIPE
    assert capfdbinary.readouterr() == (b"", b"")


def test_sigpipe_on_a_file_output_is_a_failure(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    assert run_cwebp(script("kill -PIPE $$\n"), [], "in.png", str(folder / "out.webp"), True) == 1
    assert capfdbinary.readouterr() == (
        b"",
        b"lltd: error: in.png: cwebp failed: exit status -13\n",
    )


def test_a_file_size_limit_ends_cwebp_by_sigxfsz_as_it_would_alone(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script('ulimit -f 0; printf webp > "$T"; exit 0\n')
    assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) == 1
    assert capfdbinary.readouterr() == (
        b"",
        b"lltd: error: in.png: cwebp failed: exit status -25\n",
    )
    assert sorted(os.listdir(folder)) == ["in.png"]


def test_bytes_that_are_not_utf8_are_worded_with_replacement_characters(
    script: Script, folder: Path, capfdbinary: pytest.CaptureFixture
) -> None:
    binary = script("printf 'Error! \\377 bad\\n' >&2; exit 1\n")
    assert run_cwebp(binary, [], "in.png", str(folder / "out.webp"), True) == 1
    line = "lltd: error: in.png: cwebp failed: Error! \ufffd bad\n"
    assert capfdbinary.readouterr() == (b"", line.encode())


@pytest.mark.parametrize(("output", "capture"), [("-", False), ("-", True), ("out.webp", True)])
def test_an_argument_spawn_refuses_is_raised_as_it_is(
    folder: Path, output: str, capture: bool
) -> None:
    # Only OSError means "cwebp could not be started"; a NUL in a name is a ValueError, and
    # the cleanup of a spawn that failed must not turn it into another error.
    before = _fds()
    with pytest.raises(ValueError, match="embedded null byte"):
        run_cwebp("cwebp\0", [], "in.png", output, capture)
    assert _fds() == before
    assert sorted(os.listdir(folder)) == ["in.png"]
