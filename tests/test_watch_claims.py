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
    assert theirs.mine == root / ".lltd" / "claims" / other
    assert (theirs.mine / ".alive").is_file() and (mine.mine / ".alive").is_file()
    os.rename(root / "photo.png", theirs.mine / "photo.png")  # what its claim does: one rename
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


@pytest.mark.parametrize(
    ("host", "expected"), [("a-b/c", "a_b_c"), ("", "host"), ("plain", "plain")]
)
def test_a_daemons_id_is_its_host_without_dashes_then_its_pid(
    monkeypatch: pytest.MonkeyPatch, host: str, expected: str
) -> None:
    """The PID is read back after the last "-", so the host part holds none."""
    from lltd.watch import shared

    monkeypatch.setattr(shared.socket, "gethostname", lambda: host)
    assert shared.daemon_id() == f"{expected}-{os.getpid()}"


def test_a_process_we_may_not_signal_is_alive_a_missing_one_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lltd.watch import shared

    def refuse(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    sent: list[tuple[int, int]] = []
    real_kill = os.kill
    monkeypatch.setattr(
        shared.os, "kill", lambda pid, sig: sent.append((pid, sig)) or real_kill(pid, sig)
    )
    assert shared._pid_alive(os.getpid())
    assert sent == [(os.getpid(), 0)]  # signal 0: only asks whether it exists
    monkeypatch.setattr(shared.os, "kill", refuse)
    assert shared._pid_alive(1)  # another user's process: alive, not ours to take over


def test_dotfiles_and_the_keep_alive_are_not_claims_and_emptied_folders_are_removed(
    tmp_path: Path,
) -> None:
    mine, theirs, clock, _ = setup(tmp_path)
    (theirs.mine / "sub").mkdir()
    (theirs.mine / "sub" / ".partial.png").write_bytes(b"x")  # an upload's temporary
    (theirs.mine / "sub" / ALIVE).write_bytes(b"")  # only the top one is the keep-alive
    assert sorted(theirs.held()) == [Path("photo.png")]
    (theirs.mine / "sub" / ".partial.png").unlink()
    (theirs.mine / "sub" / ALIVE).unlink()
    clock.now += TIMEOUT
    mine.orphans()
    clock.now += TIMEOUT
    assert mine.tend() == [("hostb-4242", [Path("photo.png")])]
    # Its emptied subfolders are removed; its keep-alive stays (a stalled daemon that wakes
    # up touches it again).
    assert [p.name for p in theirs.mine.iterdir()] == [ALIVE]
    assert mine.tend() == []


def test_a_takeover_goes_on_past_a_file_a_third_daemon_took_first(tmp_path: Path) -> None:
    mine, theirs, _, _ = setup(tmp_path)
    (theirs.mine / "b.png").write_bytes(b"b")
    taken = sorted(theirs.held())
    (theirs.mine / taken[0]).unlink()  # a third daemon's rename won that one
    assert mine.take_over("hostb-4242") == taken[1:]
    assert list(mine.held()) == taken[1:]


def test_stray_entries_in_the_claims_folder_do_not_hide_a_silent_daemon(tmp_path: Path) -> None:
    mine, _, clock, root = setup(tmp_path)
    for n in range(30):  # files, not claim folders: whatever their order in the listing
        (root / ".lltd" / "claims" / f"stray{n}-x").write_bytes(b"")
    assert mine.orphans() == []
    clock.now += TIMEOUT
    assert mine.orphans() == ["hostb-4242"]


def test_the_claimed_path_and_giving_back_what_we_do_not_hold(tmp_path: Path) -> None:
    mine, _, _, root = setup(tmp_path)
    assert mine.claimed_path(Path("a/b.png")) == root / ".lltd" / "claims" / "hosta-1" / "a/b.png"
    assert mine.give_back(Path("never-claimed.png")) is False
    assert not (root / "never-claimed.png").exists()


def test_the_keep_alive_is_readable_by_all_and_executable_by_none(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        mine, _, _, _ = setup(tmp_path)
    finally:
        os.umask(previous)
    assert (mine.mine / ALIVE).stat().st_mode & 0o777 == 0o644


def _version(path: Path):  # type: ignore[no-untyped-def]
    from lltd.fs.identity import Version

    return Version.of(os.stat(path, follow_symlinks=False))


def test_a_claim_takes_only_the_version_that_settled(tmp_path: Path) -> None:
    mine, _, _, root = setup(tmp_path)
    upload = root / "new.png"
    upload.write_bytes(b"first")
    settled = _version(upload)
    upload.write_bytes(b"second, longer")  # rewritten in place since it settled
    assert mine.claim(Path("new.png"), settled) is None
    assert upload.read_bytes() == b"second, longer"  # left in IN, to settle again
    assert mine.claim(Path("new.png"), _version(upload)) == mine.mine / "new.png"
    assert not upload.exists() and (mine.mine / "new.png").read_bytes() == b"second, longer"
    assert mine.held_version(Path("new.png")) is not None


def test_a_claim_of_a_link_a_folder_or_a_missing_folder_takes_nothing_and_creates_nothing(
    tmp_path: Path,
) -> None:
    mine, _, _, root = setup(tmp_path)
    (root / "link.png").symlink_to(root / ".lltd")
    (root / "folder.png").mkdir()
    for name in ("link.png", "folder.png", "gone/a.png"):
        assert mine.claim(Path(name)) is None, name
    assert (root / "link.png").is_symlink() and (root / "folder.png").is_dir()
    assert not (root / "gone").exists()  # IN's missing folder is not made
    assert not (mine.mine / "gone").exists() and not (mine.mine / "link.png").exists()


def test_giving_back_what_we_do_not_hold_or_into_a_gone_folder_creates_nothing(
    tmp_path: Path,
) -> None:
    mine, theirs, _, root = setup(tmp_path)
    assert mine.give_back(Path("sub/x.png")) is False
    assert not (mine.mine / "sub").exists() and not (root / "sub").exists()
    (theirs.mine / "deep").mkdir()
    (theirs.mine / "deep" / "y.png").write_bytes(b"y")
    assert theirs.give_back(Path("deep/y.png")) is False  # IN/deep is gone: not made again
    assert not (root / "deep").exists() and (theirs.mine / "deep" / "y.png").exists()


def test_without_a_claims_folder_nothing_is_held_orphaned_or_created(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    clock = FakeClock()
    lone = Claims(root, root / ".lltd", timeout=TIMEOUT, clock=clock, me="hosta-1")
    assert list(lone.held()) == [] and lone.orphans() == []
    assert not (root / ".lltd").exists()


def test_a_link_among_the_claim_folders_is_nobodys_claim(tmp_path: Path) -> None:
    mine, theirs, clock, root = setup(tmp_path)
    (root / ".lltd" / "claims" / "hostc-77").symlink_to(theirs.mine)
    assert mine.orphans() == []
    clock.now += TIMEOUT
    assert mine.orphans() == ["hostb-4242"]  # the link is never followed nor taken over


def test_a_takeover_of_a_file_in_a_subfolder_makes_that_folder_in_ours(tmp_path: Path) -> None:
    mine, theirs, _, _ = setup(tmp_path)
    (theirs.mine / "sub" / "deeper").mkdir(parents=True)
    (theirs.mine / "sub" / "deeper" / "c.png").write_bytes(b"c")
    taken = mine.take_over("hostb-4242")
    assert sorted(taken) == [Path("photo.png"), Path("sub/deeper/c.png")]
    assert (mine.mine / "sub" / "deeper" / "c.png").read_bytes() == b"c"
    assert not (theirs.mine / "sub").exists()  # emptied, so removed


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its PID is now free: nothing of ours runs under it
    return child.pid


def test_every_dead_process_of_this_host_is_found_not_only_the_first(tmp_path: Path) -> None:
    mine, _, clock, root = setup(tmp_path)
    dead = sorted(f"hosta-{_dead_pid()}" for _ in range(4))
    for other in dead:
        Claims(root, root / ".lltd", timeout=TIMEOUT, clock=clock, me=other).start()
    assert sorted(mine.orphans()) == dead  # hostb-4242 is silent, not yet past the timeout
    clock.now += TIMEOUT
    assert sorted(mine.orphans()) == sorted([*dead, "hostb-4242"])


def test_a_keep_alive_that_is_a_link_is_no_heartbeat_whatever_its_target_does(
    tmp_path: Path,
) -> None:
    mine, theirs, clock, root = setup(tmp_path)
    target = root / "target"
    target.write_bytes(b"")
    (theirs.mine / ALIVE).unlink()
    (theirs.mine / ALIVE).symlink_to(target)
    assert mine.orphans() == []
    os.utime(target, ns=(9 * 10**9, 9 * 10**9))  # the target changes: the link itself does not
    clock.now += TIMEOUT
    assert mine.orphans() == ["hostb-4242"]


def test_a_takeover_takes_every_regular_file_past_names_we_hold_already(tmp_path: Path) -> None:
    mine, theirs, _, _ = setup(tmp_path)
    names = [f"f{n}.png" for n in range(12)]
    for name in names:
        (theirs.mine / name).write_bytes(name.encode())
    for name in names[::3]:  # the same names, claimed by us meanwhile: whatever the listing order
        (mine.mine / name).write_bytes(b"ours")
    taken = sorted(mine.take_over("hostb-4242"))
    assert taken == sorted(Path(n) for n in ["photo.png", *names] if n not in names[::3])
    for name in names[::3]:
        assert (mine.mine / name).read_bytes() == b"ours"
        assert (theirs.mine / name).read_bytes() == name.encode()


def test_every_file_we_hold_is_listed_past_dotfiles_and_the_keep_alive(tmp_path: Path) -> None:
    mine, _, _, _ = setup(tmp_path)
    names = [f"f{n}.png" for n in range(8)] + [f".tmp{n}" for n in range(8)]
    for name in names:
        (mine.mine / name).write_bytes(b"x")
    assert sorted(mine.held()) == sorted(Path(n) for n in names if not n.startswith("."))


def test_a_link_in_our_claim_folder_is_not_a_file_we_hold(tmp_path: Path) -> None:
    mine, _, _, root = setup(tmp_path)
    (root / "new.png").write_bytes(b"upload")
    (mine.mine / "new.png").symlink_to(root / "new.png")  # planted where our claim would go
    assert mine.held_version(Path("new.png")) is None
    assert mine.claim(Path("new.png")) is None  # the name holds something that is not ours
    assert (root / "new.png").read_bytes() == b"upload"


def test_stopping_gives_back_files_in_subfolders_and_leaves_no_folder_of_ours(
    tmp_path: Path,
) -> None:
    mine, _, _, root = setup(tmp_path)
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "sub" / "deeper" / "c.png").write_bytes(b"c")
    assert mine.claim(Path("sub/deeper/c.png")) == mine.mine / "sub" / "deeper" / "c.png"
    assert mine.stop() == 0
    assert (root / "sub" / "deeper" / "c.png").read_bytes() == b"c"
    assert not mine.mine.exists()


def test_stopping_a_daemon_that_never_started_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    lone = Claims(root, root / ".lltd", timeout=TIMEOUT, clock=FakeClock(), me="hosta-1")
    assert lone.stop() == 0
    assert not (root / ".lltd").exists()


def test_taking_over_a_claim_folder_that_is_gone_takes_nothing_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    mine, _, _, root = setup(tmp_path)
    assert mine.take_over("hostc-9") == []
    assert sorted(p.name for p in (root / ".lltd" / "claims").iterdir()) == [
        "hosta-1", "hostb-4242",
    ]  # fmt: skip
