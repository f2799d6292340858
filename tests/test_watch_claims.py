"""The ``--shared`` claim protocol (``lltd.watch.shared.Claims``) with a fake clock: a live daemon
is never taken over, however long it runs; a silent one is, exactly at ``--claim-timeout``; a dead
process of this host at once. In-process, on real folders and renames; no time passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lltd.watch.shared import ALIVE, Claims

TIMEOUT = 30.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(tmp_path: Path, other: str = "hostb-4242") -> tuple[Claims, Claims, FakeClock, Path]:
    """Us (host A) and another daemon (host B, so its PID means nothing here) on one folder."""
    root = tmp_path / "in"
    root.mkdir()
    clock = FakeClock()
    mine = Claims(root, root / ".lltd", timeout=TIMEOUT, clock=clock, me="hosta-1")
    theirs = Claims(root, root / ".lltd", timeout=TIMEOUT, clock=clock, me=other)
    mine.start()
    theirs.start()
    (root / "photo.png").write_bytes(b"picture")
    assert theirs.claim(Path("photo.png")) == theirs.mine / "photo.png"
    return mine, theirs, clock, root


def beat(claims: Claims, at_ns: int) -> None:
    """The other daemon's keep-alive: its ``.alive`` gets a new modification time. (Set
    explicitly: two touches within one kernel clock tick could leave the same time.)"""
    os.utime(claims.mine / ALIVE, ns=(at_ns, at_ns))


def test_a_live_daemon_is_never_taken_over_however_long_it_runs(tmp_path: Path) -> None:
    mine, theirs, clock, _ = setup(tmp_path)
    for tick in range(1, 41):  # 40 x 10 s: over 13 timeouts of keep-alives
        beat(theirs, tick * 10**9)
        assert mine.orphans() == []
        assert mine.tend() == []
        clock.now += 10.0
    assert list(theirs.held()) == [Path("photo.png")]


def test_a_silent_daemon_is_taken_over_at_the_timeout_not_a_moment_before(
    tmp_path: Path,
) -> None:
    mine, theirs, clock, _root = setup(tmp_path)
    assert mine.orphans() == []  # first sight: the silence starts now
    clock.now += TIMEOUT - 0.001
    assert mine.orphans() == []
    assert mine.tend() == []
    clock.now += 0.001
    assert mine.tend() == [("hostb-4242", [Path("photo.png")])]
    assert (mine.mine / "photo.png").read_bytes() == b"picture"
    assert list(theirs.held()) == []


def test_silence_is_counted_from_the_last_change_seen_not_from_the_first_sight(
    tmp_path: Path,
) -> None:
    mine, theirs, clock, _ = setup(tmp_path)
    assert mine.orphans() == []
    clock.now += TIMEOUT - 1
    beat(theirs, 7 * 10**9)  # a keep-alive just before the timeout resets it
    assert mine.orphans() == []
    clock.now += TIMEOUT - 1
    assert mine.orphans() == []
    clock.now += 1
    assert mine.orphans() == ["hostb-4242"]


def test_a_daemon_whose_keep_alive_file_is_gone_is_taken_over_after_the_timeout(
    tmp_path: Path,
) -> None:
    mine, theirs, clock, _ = setup(tmp_path)
    (theirs.mine / ALIVE).unlink()
    assert mine.orphans() == []
    clock.now += TIMEOUT
    assert mine.orphans() == ["hostb-4242"]


def test_a_dead_process_of_this_host_is_taken_over_at_once_a_live_one_never(
    tmp_path: Path,
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its PID is now free: nothing of ours runs under it
    mine, _dead, clock, root = setup(tmp_path, other=f"hosta-{child.pid}")
    live = Claims(root, root / ".lltd", timeout=TIMEOUT, clock=clock, me=f"hosta-{os.getpid()}")
    live.start()
    assert mine.orphans() == [f"hosta-{child.pid}"]  # no waiting for the timeout
    clock.now += 10 * TIMEOUT
    beat(live, 5 * 10**9)
    assert f"hosta-{os.getpid()}" not in mine.orphans()


def test_a_taken_over_file_that_we_hold_already_is_not_moved_twice(tmp_path: Path) -> None:
    mine, theirs, _clock, _root = setup(tmp_path)
    (mine.mine / "photo.png").write_bytes(b"ours")  # the same name, claimed by us meanwhile
    assert mine.take_over("hostb-4242") == []
    assert (mine.mine / "photo.png").read_bytes() == b"ours"
    assert (theirs.mine / "photo.png").read_bytes() == b"picture"


def test_a_claim_moves_the_file_and_a_second_claim_of_it_fails(tmp_path: Path) -> None:
    mine, _theirs, _, root = setup(tmp_path)
    assert not (root / "photo.png").exists()
    assert mine.claim(Path("photo.png")) is None  # theirs was first
    (root / "sub").mkdir()
    (root / "sub" / "b.png").write_bytes(b"b")
    assert mine.claim(Path("sub/b.png")) == mine.mine / "sub" / "b.png"
    assert mine.claim(Path("sub/b.png")) == mine.mine / "sub" / "b.png"  # ours already
    assert list(mine.held()) == [Path("sub/b.png")]


@pytest.mark.parametrize("upload_meanwhile", [False, True])
def test_stopping_gives_every_claim_back_unless_a_new_upload_took_the_name(
    tmp_path: Path, upload_meanwhile: bool
) -> None:
    _, theirs, _, root = setup(tmp_path)
    if upload_meanwhile:
        (root / "photo.png").write_bytes(b"new upload")
    assert theirs.stop() == int(upload_meanwhile)
    if upload_meanwhile:
        assert (root / "photo.png").read_bytes() == b"new upload"
        assert (theirs.mine / "photo.png").read_bytes() == b"picture"
    else:
        assert (root / "photo.png").read_bytes() == b"picture"
        assert not theirs.mine.exists()
