"""One voice for the command line: every usage error is one line ``lltd: error: ...`` naming
the option and the value (exit status 2), whatever command, through one handler; an unreachable
store is one line too; ``--help`` names values as the help text does and lists the choices of
enum options; ``lltd --help`` shows whole summaries."""

from __future__ import annotations

import re
import socket

import pytest
import typer.main
from conftest import assert_one_line_error

from lltd.cli import _app


def assert_voice(result, *needles: str, status: int = 2) -> None:
    """One ``lltd: error:`` line (no click usage block, no traceback) naming ``needles``."""
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Usage:" not in result.stderr and "Try 'lltd" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("lltd: error: "), result.stderr
    assert_one_line_error(lines[-1], *needles)
    assert len([line for line in lines if line.startswith("lltd: error")]) == 1, result.stderr


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["compress", "{dir}", "-q", "120"], ["-q: ", "120", "range"]),
        (["compress", "{dir}", "--quality=abc"], ["--quality: 'abc' is not a number"]),
        (["compress", "{dir}", "--bogus"], ["--bogus: no such option of lltd compress"]),
        (["flip", "{dir}", "--jobs", "-1"], ["--jobs: -1 is not in the range"]),
        (["flip", "{dir}", "--direction", "up"], ["--direction", "'up'"]),
        (["defend", "{dir}"], ["-o/--output-directory: missing"]),
        (["defend", "{dir}", "-o"], ["-o: option '-o' requires an argument"]),
        (["defend", "{dir}", "-o", "out", "--json", "{dir}"], ["--json: ", "is a directory"]),
        (["defend"], ["DIR: missing"]),
        (["attack", "{dir}", "-o", "out", "--batch-size", "0"], ["--batch-size: 0 "]),
        (["evaluate", "-o", "out", "--epsilon", "x"], ["--epsilon: 'x' is not a number"]),
        (["serve", "--port", "http"], ["--port: 'http' is not a whole number"]),
        (["watch", "in", "-o", "out", "--settle", "soon"], ["--settle: 'soon'"]),
        (["frobnicate"], ["no such command 'frobnicate'"]),
    ],
)
def test_usage_errors_are_one_line_naming_option_and_value(argv, needles, run_lltd, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    result = run_lltd(*(arg.format(dir=folder) for arg in argv))
    assert_voice(result, *needles)
    assert not (tmp_path / "out").exists()


def test_the_handler_serves_callers_of_the_app_too() -> None:
    """``lltd.cli.app`` itself answers in lltd's voice (the docs and scripts call it), while a
    caller that asks click not to exit still gets the exception."""
    from lltd.cli import app

    with pytest.raises(SystemExit) as stopped:
        app(args=["flip", "--jobs", "x"], prog_name="lltd")
    assert stopped.value.code == 2
    group = typer.main.get_command(app)
    with pytest.raises(Exception, match="x") as raised:
        group.main(args=["flip", "--jobs", "x"], prog_name="lltd", standalone_mode=False)
    assert type(raised.value).__name__ == "BadParameter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["defend", "compress"])
def test_unreachable_storage_is_one_line(command, sample_dir, run_lltd, tmp_path) -> None:
    pytest.importorskip("s3fs")
    endpoint = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "FSSPEC_S3_ENDPOINT_URL": endpoint,
        "AWS_MAX_ATTEMPTS": "1",  # botocore's retries only make the test slower
    }
    args = (
        ["defend", "s3://bucket/in", "-o", tmp_path / "out"]
        if command == "defend"
        else ["compress", sample_dir, "-o", "s3://bucket/out"]
    )
    result = run_lltd(*args, env=env, timeout=120)
    url = "s3://bucket/in" if command == "defend" else "s3://bucket/out"
    assert_voice(result, f"{url}: storage refused or unreachable", endpoint, status=1)
    assert not (tmp_path / "out").exists()


def _options(name: str) -> dict[str, object]:
    command = typer.main.get_command(_app(name)).commands[name]  # type: ignore[attr-defined]
    return {
        opt: param
        for param in command.params
        if param.param_type_name == "option"
        for opt in param.opts
    }


def _choices(metavar: str) -> set[str]:
    assert metavar.startswith("[") and metavar.endswith("]"), metavar
    return set(metavar[1:-1].split("|"))


def test_help_lists_the_choices_the_code_accepts() -> None:
    """Each enum option's metavar lists exactly what the code accepts (the lists are written
    once in the code; the metavars must not drift from them)."""
    from lltd.attack.catalog import ATTACKS
    from lltd.codecs import BACKENDS
    from lltd.defense.settings import DIRECTIONS, FLIPS, ORDERS
    from lltd.jobs.settings import DEFEND_FORMATS, FLIP_FORMATS
    from lltd.serve.settings import UPSTREAM_PROTOCOLS
    from lltd.watch.config import ACTIONS, ON_SUCCESS, SETTLE_RULES

    expected = {
        ("defend", "--direction"): FLIPS,
        ("defend", "--order"): ORDERS,
        ("defend", "--backend"): BACKENDS,
        ("defend", "--format"): DEFEND_FORMATS,
        ("flip", "--direction"): DIRECTIONS,
        ("flip", "--format"): FLIP_FORMATS,
        ("compress", "--backend"): BACKENDS,
        ("serve", "--direction"): FLIPS,
        ("serve", "--upstream-protocol"): UPSTREAM_PROTOCOLS,
        ("attack", "--attack"): ATTACKS,
        ("attack", "--device"): ("auto", "cpu", "cuda"),
        ("watch", "--action"): ACTIONS,
        ("watch", "--on-success"): ON_SUCCESS,
        ("watch", "--settle-rule"): SETTLE_RULES,
        ("watch", "--format"): (*DEFEND_FORMATS, *FLIP_FORMATS),
        ("watch", "--order"): ORDERS,
    }
    for (command, option), choices in expected.items():
        metavar = _options(command)[option].metavar  # type: ignore[attr-defined]
        assert _choices(metavar) == set(choices), (command, option)


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("defend", "Usage: lltd defend [OPTIONS] DIR"),
        ("flip", "Usage: lltd flip [OPTIONS] DIR"),
        ("compress", "Usage: lltd compress [OPTIONS] [DIR]"),
        ("attack", "Usage: lltd attack [OPTIONS] IN_DIR"),
        ("watch", "Usage: lltd watch [OPTIONS] [IN[:OUT]...]"),
    ],
)
def test_help_names_values_as_its_text_does(command, usage, run_lltd) -> None:
    result = run_lltd(command, "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == usage
    # click 8.2's <str>, <int range>, ... in place of a name
    assert not re.search(r"<(str|int|float|path|file|text)[a-z ]*>", result.stdout), result.stdout
    assert "{" not in result.stdout.splitlines()[0]
    if command in ("defend", "compress"):
        assert re.search(r"-o, --output-directory OUT ", result.stdout), result.stdout


def test_root_help_shows_whole_summaries(run_lltd) -> None:
    result = run_lltd("--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("Commands:", 1)[1]
    assert "..." not in commands, commands
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    for name in ("attack", "compress", "cwebp", "defend", "evaluate", "flip", "serve", "watch"):
        assert re.search(rf"^  {name} ", commands, re.M), name
    # Each summary is a whole sentence: the text up to its command's next row ends with a stop.
    rows = re.split(r"\n  (?=[a-z])", commands.strip())
    assert all(" ".join(row.split()).endswith((".", ")")) for row in rows), rows


def test_lean_compress_and_typer_compress_speak_alike(run_lltd, tmp_path) -> None:
    """The typer-free compress path and the typer path (which reads ``--``) answer alike."""
    lean = run_lltd("compress", "-q", "60", "missing")
    typer_path = run_lltd("compress", "-q", "60", "--", "missing")
    for result in (lean, typer_path):
        assert_voice(result, "input directory missing does not exist")
    assert lean.stderr == typer_path.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["compress", "{data}", "-o", "{blocked}/out"],
        ["flip", "{data}", "-o", "{blocked}/out"],
        ["defend", "{data}", "-o", "{blocked}/out"],
        ["attack", "{data}", "-o", "{blocked}/out", "--model", "reference"],
        ["evaluate", "-o", "{blocked}/out", "--model", "reference", "--quick"],
        ["watch", "{data}", "-o", "{blocked}/out"],
    ],
)
def test_an_unwritable_output_is_one_line_before_any_work(argv, sample_dir, run_lltd, tmp_path):
    """-o beneath a regular file (root may write anywhere else): refused in one line, before
    a model loads or an image is read (evaluate once ran every attack first)."""
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")
    result = run_lltd(*(a.format(data=sample_dir, blocked=blocked) for a in argv), timeout=120)
    assert result.returncode in (1, 2), result.stderr
    assert_voice(result, str(blocked), status=result.returncode)
    assert "lltd: attack" not in result.stderr  # evaluate stopped before its first attack
    assert blocked.read_bytes() == b""
