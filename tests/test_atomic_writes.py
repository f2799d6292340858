"""Outputs appear whole or not at all, and no temporary file outlives a rerun or a restart.

Writing in place instead of temporary-file-plus-rename passed every end-state test, because the
end state is the same. These tests look during the write (a stub encoder that pauses half-way) and
at the old file's inode (a hard link to a previous output must keep its old content).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import RunLltd, digest
from PIL import Image
from waiting import wait_for

TEMP = "*.lltd-tmp"


def pausing_cwebp(folder: Path) -> Path:
    """A cwebp stand-in: writes half of a real WebP, says so, waits for ``go``, writes the rest."""
    script = folder / "pausing-cwebp"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import io, pathlib, sys, time
            from PIL import Image
            argv = sys.argv[1:]
            target = pathlib.Path(argv[argv.index("-o") + 1])
            source = next(a for a in argv if a != str(target) and pathlib.Path(a).is_file())
            buffer = io.BytesIO()
            Image.open(source).save(buffer, format="WEBP", quality=60)
            data = buffer.getvalue()
            control = pathlib.Path({str(folder)!r})
            with open(target, "wb") as out:
                out.write(data[: len(data) // 2])
                out.flush()
                # Published by rename: the test must never read a half-written marker.
                (control / "paused.tmp").write_text(str(target))
                (control / "paused.tmp").rename(control / "paused")
                deadline = time.monotonic() + 300
                while not (control / "go").exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
                out.write(data[len(data) // 2 :])
            """
        )
    )
    script.chmod(0o755)
    return script


def test_a_reader_sees_the_old_output_or_the_whole_new_one_never_a_partial_one(
    tmp_path: Path, make_image
) -> None:
    src = tmp_path / "in"
    original = make_image(src / "photo.png", size=(160, 120))
    out = tmp_path / "out"
    out.mkdir()
    # A leftover larger than the original: compress redoes it, replacing it atomically.
    leftover = b"old output " * (original.stat().st_size // 5)
    (out / "photo.webp").write_bytes(leftover)
    control = tmp_path / "control"
    control.mkdir()
    stub = pausing_cwebp(control)
    process = subprocess.Popen(
        [sys.executable, "-m", "lltd", "compress", str(src), "-q", "60", "-o", str(out),
         "--backend", "cwebp", "--cwebp", str(stub)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: (control / "paused").exists() or process.poll() is not None, "the stub")
        assert process.poll() is None, process.communicate()
        # Half-way through the encode: the destination still holds the old file, untouched, and
        # the half-written bytes sit in a temporary dotfile beside it.
        # cwebp is handed the temporary through the folder's descriptor (/proc/PID/fd/N/NAME):
        # resolved while lltd runs, that is the folder itself.
        being_written = Path((control / "paused").read_text()).resolve()
        assert being_written != out / "photo.webp"
        assert being_written.parent == out and being_written.name.startswith(".photo.webp.")
        assert (out / "photo.webp").read_bytes() == leftover
        (control / "go").touch()
        _, stderr = process.communicate(timeout=120)
    finally:
        (control / "go").touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    with Image.open(out / "photo.webp") as image:
        image.load()
        assert image.size == (160, 120)
    assert not list(out.glob(TEMP)) and not list(out.glob(".*"))


@pytest.mark.parametrize(
    ("command", "output_of"),
    [
        (["compress", "-q", "60"], lambda out: out / "photo.webp"),
        (["defend", "--force"], lambda out: out / "photo.png"),
        (["flip", "--force"], lambda out: out / "photo_f.png"),
    ],
    ids=["compress", "defend", "flip"],
)
def test_outputs_are_replaced_by_rename_never_rewritten_in_place(
    tmp_path: Path, run_lltd: RunLltd, make_image, command: list[str], output_of
) -> None:
    """A hard link to the previous output keeps its content: the new output is a new inode."""
    src = tmp_path / "in"
    make_image(src / "photo.png", size=(96, 80))
    out = tmp_path / "out"
    output = output_of(out)
    output.parent.mkdir(parents=True)
    previous = b"a previous output, larger than the original " * 2000
    output.write_bytes(previous)
    old_inode = tmp_path / "old inode"
    os.link(output, old_inode)
    result = run_lltd(command[0], src, "-o", out, *command[1:])
    assert result.returncode == 0, result.stderr
    assert old_inode.read_bytes() == previous
    assert output.read_bytes() != previous
    with Image.open(output) as image:
        image.load()


# --- stale temporaries -------------------------------------------------------------------------


def plant_temporaries(*folders: Path) -> list[Path]:
    planted = []
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        stale = folder / ".photo.webp.k3x9_q.lltd-tmp"
        stale.write_bytes(b"half a WebP from a run that was killed")
        planted.append(stale)
    return planted


def test_compress_rerun_removes_temporaries_a_killed_run_left(
    tmp_path: Path, run_lltd: RunLltd, make_image
) -> None:
    src = tmp_path / "in"
    make_image(src / "photo.png")
    make_image(src / "sub" / "other.png")
    out = tmp_path / "out"
    planted = plant_temporaries(out, out / "sub")
    result = run_lltd("compress", src, "-q", "60", "-o", out)
    assert result.returncode == 0, result.stderr
    assert (out / "photo.webp").exists() and (out / "sub" / "other.webp").exists()
    assert not [p for p in planted if p.exists()]
    assert not list(out.rglob(TEMP))


def test_daemon_start_removes_stale_temporaries_before_it_is_ready(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    planted = plant_temporaries(out, out / "sub", inp / ".lltd")
    status = tmp_path / "status.json"
    log = (tmp_path / "watch.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "lltd", "watch", str(inp), "-o", str(out), "-j", "1",
         "--status-file", str(status)],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    try:
        # The status file is first written once start-up (recovery included) is over.
        wait_for(lambda: status.exists() or process.poll() is not None, "the status file")
        assert process.poll() is None, (tmp_path / "watch.log").read_text()
        assert json.loads(status.read_text())["processed"] == 0
        assert not [p for p in planted if p.exists()], (tmp_path / "watch.log").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    assert process.returncode == 0, (tmp_path / "watch.log").read_text()


def test_interrupted_compress_publishes_only_whole_webps_and_a_rerun_finishes(
    tmp_path: Path, make_image
) -> None:
    """SIGKILL mid-run: nothing partial is published, a rerun completes every file. (The pillow
    backend encodes into memory, so its temporary lives only for the write and rename: the kill
    lands once the first output or temporary shows, with the other files still to do.)"""
    src = tmp_path / "in"
    for index in range(4):
        make_image(src / f"big{index}.png", size=(1600, 1200))
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "lltd", "compress", str(src), "-q", "80", "-o", str(out)]
    process = subprocess.Popen([*argv, "-j", "2", "-m", "6"], start_new_session=True)
    wait_for(
        lambda: (
            any(out.glob(f".*{TEMP[1:]}")) or any(out.glob("*.webp")) or process.poll() is not None
        ),
        "a temporary or a first output",
    )
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    for webp in out.glob("*.webp"):
        with Image.open(webp) as image:
            image.load()
    before = {p.name: digest(p) for p in src.iterdir()}
    subprocess.run(argv, check=True, capture_output=True)
    assert sorted(p.name for p in out.glob("*.webp")) == [f"big{i}.webp" for i in range(4)]
    assert {p.name: digest(p) for p in src.iterdir()} == before
