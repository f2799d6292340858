"""``lltd watch`` by descriptor (issue 24, item 2): what is processed is exactly the file that
settled, its state folder is the daemon's alone, and nothing planted under it is followed.

Each test attacks through the real daemon on real files, as an uploader with write access to
IN would: swap an accepted upload that waits for a busy worker, plant entries under
``IN/.lltd``, pre-create the state folder. The invariant after each run: nothing outside the
trees was read (its bytes appear nowhere under IN or OUT) or written, and no picture was lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_watch_daemon import Watch, decoded, defended_pixels, png_bytes, write_old
from test_watch_promises import worker_pids
from waiting import wait_until

SECRET = b"root:x:0:0:a secret only the daemon's user may read\n"


def status(path: Path) -> dict[str, object]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def contents_under(*roots: Path) -> Iterator[bytes]:
    """Every regular file's bytes under ``roots``, links not followed."""
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath, name)
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path.read_bytes()


@pytest.mark.parametrize(
    ("mode", "secret", "swap"),
    [
        ("move", SECRET, "link"),
        ("delete", png_bytes(77), "link"),
        ("shared", SECRET, "link"),
        ("move", SECRET, "fifo"),
        ("delete", SECRET, "file"),
    ],
    ids=["move-link-text", "delete-link-image", "shared-link-text", "move-fifo", "delete-file"],
)
def test_an_accepted_upload_swapped_while_it_waits_leaks_nothing(
    tmp_path: Path, mode: str, secret: bytes, swap: str
) -> None:
    """Three uploads settle while the only worker is stopped (two go in flight, one waits in
    the queue); each is then replaced by a link to a file outside IN (or a FIFO, or another
    upload). Nothing of the outside file may reach OUT, OUT/failed/ or the daemon's state, it
    stays as it was, and a replacing upload is done as itself, never as what it replaced."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    outside = tmp_path / "private" / "secret.png"
    outside.parent.mkdir()
    outside.write_bytes(secret)
    status_file = tmp_path / "status.json"
    args: list[str | Path] = [inp, "-o", out, "-j", "1", "--settle", "100"]
    args += ["--status-file", status_file, "--worker-idle", "600"]
    args += ["--on-success", "delete" if mode == "delete" else "move"]
    if mode == "shared":
        args += ["--shared", "--claim-timeout", "30"]
    watch = Watch(tmp_path, *args)
    stopped: list[int] = []
    swapped: list[str] = []
    try:
        watch.wait_ready()
        (inp / "warm.png").write_bytes(png_bytes(1))
        wait_until(
            lambda: (
                status(status_file).get("processed") == 1
                and status(status_file).get("in_flight") == 0
            ),
            60,
            "the first file done (a live, idle worker)",
        )
        stopped = worker_pids(watch.process.pid)
        assert stopped, "no worker process"
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        uploads = {f"v{i}.png": png_bytes(10 + i) for i in range(3)}
        for name, data in uploads.items():
            (inp / name).write_bytes(data)
        wait_until(
            lambda: (
                status(status_file).get("in_flight") == 2 and status(status_file).get("queued") == 1
            ),
            30,
            "two uploads in flight and one queued",
        )
        replacements = {name: png_bytes(50 + i) for i, name in enumerate(uploads)}
        swapped = [name for name in uploads if (inp / name).exists()]  # --shared: claimed
        for name in swapped:
            (inp / name).unlink()
            if swap == "link":
                (inp / name).symlink_to(outside)
            elif swap == "fifo":
                os.mkfifo(inp / name)
            else:
                (inp / name).write_bytes(replacements[name])
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stopped = []
        wait_until(
            lambda: (
                status(status_file).get("in_flight") == 0
                and status(status_file).get("queued") == 0
                and status(status_file).get("settling") == 0
                and (swap != "file" or all((out / name).exists() for name in uploads))
            ),
            60,
            "the daemon idle again",
        )
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        assert watch.stop() == 0, watch.stderr
    assert outside.read_bytes() == secret
    assert secret not in list(contents_under(out, inp / ".lltd"))
    assert "Traceback" not in watch.stderr
    for name in swapped:  # links and FIFOs stay where the uploader put them, unread
        if swap == "link":
            assert os.readlink(inp / name) == str(outside)
        elif swap == "fifo":
            assert stat.S_ISFIFO((inp / name).lstat().st_mode)
    if swap == "file":  # new uploads, done as themselves once settled
        wanted = {name: defended_pixels(data) for name, data in replacements.items()}
        assert all((decoded(out / name) == wanted[name]).all() for name in swapped)
        assert not any((inp / name).exists() for name in uploads)  # deleted: what was done
    elif mode == "shared":  # the two claimed before the swap were the uploads themselves
        for name in ("v0.png", "v1.png"):
            assert (decoded(out / name) == defended_pixels(uploads[name])).all()
        assert not (out / "v2.png").exists()
    else:
        assert not any((out / name).exists() for name in uploads)
    assert not list((out / "failed").rglob("v*.png")) if (out / "failed").exists() else True


def test_the_state_folder_is_created_private(tmp_path: Path, run_lltd) -> None:
    """IN/.lltd is created 0700, whatever the umask, before anything is written in it."""
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write_old(inp / "a.png", png_bytes(2))
    old = os.umask(0)  # the daemon inherits it
    try:
        watch = Watch(tmp_path, inp, "-o", out, "-j", "1")
    finally:
        os.umask(old)
    try:
        watch.wait_ready()
        wait_until(lambda: (out / "a.png").exists(), 60, "a.png's output")
    finally:
        assert watch.stop() == 0, watch.stderr
    assert stat.S_IMODE((inp / ".lltd").lstat().st_mode) == 0o700
    assert (inp / ".lltd").lstat().st_uid == os.geteuid()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777])
def test_a_state_folder_others_can_write_is_refused(tmp_path: Path, run_lltd, mode: int) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / ".lltd").mkdir(parents=True)
    (inp / ".lltd").chmod(mode)
    write_old(inp / "a.png", png_bytes(3))
    result = run_lltd("watch", str(inp), "-o", str(out), timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lltd: error: "), result.stderr
    assert ".lltd" in lines[0] and "writable by" in lines[0]
    assert (inp / "a.png").read_bytes() == png_bytes(3)  # nothing touched
    assert not out.exists() or not any(out.iterdir())
    assert sorted(p.name for p in (inp / ".lltd").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="making a folder owned by another user needs root")
def test_a_state_folder_owned_by_another_user_is_refused(tmp_path: Path, run_lltd) -> None:
    """An uploader who creates IN/.lltd before the daemon's first start cannot give it state."""
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / ".lltd").mkdir(parents=True, mode=0o700)
    os.chown(inp / ".lltd", 65534, 65534)
    write_old(inp / "a.png", png_bytes(4))
    result = run_lltd("watch", str(inp), "-o", str(out), timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lltd: error: "), result.stderr
    assert "owned by" in lines[0] and "65534" in lines[0]
    assert (inp / "a.png").read_bytes() == png_bytes(4)
    assert sorted(p.name for p in (inp / ".lltd").iterdir()) == []


def test_entries_planted_under_the_state_folder_are_never_followed(tmp_path: Path) -> None:
    """Links planted as another daemon's claims (a claim folder, a claimed file), as a done/
    entry and as the journal's companions: the daemon takes over the real orphaned claim and
    moves, defends or deletes nothing outside IN."""
    inp, out = tmp_path / "in", tmp_path / "out"
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    victims = {
        outside / "dir" / "x.png": png_bytes(20),
        outside / "y.png": png_bytes(21),
    }
    for path, data in victims.items():
        path.write_bytes(data)
    claims = inp / ".lltd" / "claims"
    (claims / "elsewhere-1").mkdir(parents=True)
    (inp / ".lltd").chmod(0o700)
    (claims / "elsewhere-2").symlink_to(outside / "dir", target_is_directory=True)
    (claims / "elsewhere-1" / "y.png").symlink_to(outside / "y.png")
    (claims / "elsewhere-1" / "good.png").write_bytes(png_bytes(22))  # a real orphan
    watch = Watch(
        tmp_path, inp, "-o", out, "--shared", "--claim-timeout", "1", "-j", "1",
        "--settle", "100", "--on-success", "delete",
    )  # fmt: skip
    try:
        watch.wait_ready()
        wait_until(lambda: (out / "good.png").exists(), 60, "the real orphan's output")
        wait_until(lambda: "good.png" in watch.stdout, 30, "the real orphan's line")
    finally:
        assert watch.stop() == 0, watch.stderr
    assert (decoded(out / "good.png") == defended_pixels(png_bytes(22))).all()
    for path, data in victims.items():
        assert path.read_bytes() == data, path
    assert not (out / "y.png").exists() and not (out / "x.png").exists()
    assert not (out / "dir").exists()
    assert "Traceback" not in watch.stderr


WATCH_STEPS = ["open", "read", "publish", "remove"]


@pytest.mark.parametrize("kind", ["link-inside", "link-outside", "fifo", "other", "gone"])
def test_a_swap_at_every_step_of_the_daemon_loses_nothing_and_reads_nothing_outside(
    tmp_path: Path, kind: str
) -> None:
    """The fault-injection seam of the file layer (``LLTD_FS_SEAM``, as tests/test_fs_attacks.py
    drives it for the batch commands) in the daemon's workers: at each step, the upload named
    after it is swapped (``open.png`` as the worker opens it, ``read.png`` once it is open, the
    output of ``publish.png`` as it is renamed into OUT, ``remove.png`` as ``--on-success
    delete`` removes it). Afterwards every picture's bytes are still in IN (its state included)
    or OUT, or named by the record of an output made from them, and nothing outside was read."""
    from test_fs_attacks import SEAM, accounted, all_bytes, picture

    inp, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.png"
    secret.write_bytes(SECRET)
    other = picture(elsewhere / "other.png", 97)
    for k, name in enumerate(["keep", *WATCH_STEPS]):
        picture(inp / f"{name}.png", 11 + k)
        past = time.time() - 60  # a backlog: no settling before the first step
        os.utime(inp / f"{name}.png", (past, past))
    originals = all_bytes(inp)
    seam = tmp_path / "seam.py"
    seam.write_text(SEAM)
    status_file = tmp_path / "status.json"
    env = {
        "LLTD_FS_SEAM": str(seam), "SEAM_KIND": kind, "SEAM_SECRET": str(secret),
        "SEAM_OTHER": str(other),
    }  # fmt: skip
    watch = Watch(
        tmp_path, inp, "-o", out, "-j", "1", "--settle", "100", "--on-success", "delete",
        "--status-file", status_file, env=env,
    )  # fmt: skip
    try:
        watch.wait_ready()
        wait_until(
            lambda: (
                (out / "keep.png").exists()
                and status(status_file).get("in_flight") == 0
                and status(status_file).get("queued") == 0
                and status(status_file).get("settling") == 0
            ),
            90,
            "every upload handled",
        )
    finally:
        assert watch.stop() == 0, watch.stderr
    assert "Traceback" not in watch.stderr, watch.stderr
    kept = accounted([inp, out])
    assert originals <= kept, f"a picture's bytes are gone\n{watch.stderr}"
    assert secret.read_bytes() == SECRET
    assert hashlib.sha256(SECRET).hexdigest() not in kept, "the outside file was read in"
    if kind == "other":
        assert hashlib.sha256(other.read_bytes()).hexdigest() in kept
