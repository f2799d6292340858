"""The contracts of lltd/watch/state.py (issue 27), in-process, on real folders: ``IN/.lltd`` is
made ``0700`` (whatever the umask), a link or a file in its place is refused, and a folder that is
somebody else's or that others may write is refused with the exact line the daemon prints.

Expected values are literals: a changed message or mode must fail here."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.watch.state import open_state

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's owner needs root")


def _unused_uid() -> int:
    uid = 4242
    while True:
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
        uid += 1


def _open(root: Path) -> os.stat_result:
    fd = open_state(root)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def test_a_missing_state_folder_is_made_0700_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # takes the owner's own write bit: fchmod must give it back
    try:
        st = _open(tmp_path)
    finally:
        os.umask(old)
    made = tmp_path / ".lltd"
    assert made.is_dir() and not made.is_symlink()
    assert os.stat(made).st_ino == st.st_ino  # the descriptor is that very folder
    assert stat.S_IMODE(st.st_mode) == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lltd"]


def test_an_existing_state_folder_is_taken_as_it_is(tmp_path: Path) -> None:
    (tmp_path / ".lltd").mkdir(mode=0o755)
    (tmp_path / ".lltd" / "journal").write_text("kept", encoding="utf-8")
    st = _open(tmp_path)
    assert stat.S_IMODE(st.st_mode) == 0o755  # only group/other *write* is refused; nothing fixed
    assert (tmp_path / ".lltd" / "journal").read_text(encoding="utf-8") == "kept"


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_link_or_a_file_in_its_place_is_refused(tmp_path: Path, kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root = tmp_path / "in"
    root.mkdir()
    if kind == "link":
        (root / ".lltd").symlink_to(elsewhere)
    else:
        (root / ".lltd").write_text("", encoding="utf-8")
    with pytest.raises(UsageError) as refused:
        open_state(root)
    assert str(refused.value) == f"{root}/.lltd is a link or not a folder: refused"


def test_another_error_opening_it_is_not_reworded(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_state(tmp_path / "missing")


@pytest.mark.parametrize("mode", [0o770, 0o702, 0o720])
def test_a_state_folder_others_may_write_is_refused(tmp_path: Path, mode: int) -> None:
    (tmp_path / ".lltd").mkdir()
    os.chmod(tmp_path / ".lltd", mode)
    with pytest.raises(UsageError) as refused:
        open_state(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path}/.lltd: writable by group or others (mode {mode:04o}): refused "
        "(chmod 700 it once you trust its content)"
    )


@pytest.mark.parametrize("mode", [0o700, 0o750, 0o705, 0o1755])
def test_a_state_folder_others_may_only_read_is_taken(tmp_path: Path, mode: int) -> None:
    (tmp_path / ".lltd").mkdir()
    os.chmod(tmp_path / ".lltd", mode)
    assert stat.S_IMODE(_open(tmp_path).st_mode) == mode


@needs_root
def test_a_state_folder_of_another_user_is_refused_naming_both(tmp_path: Path) -> None:
    uid = _unused_uid()
    me = os.geteuid()
    (tmp_path / ".lltd").mkdir(mode=0o700)
    os.chown(tmp_path / ".lltd", uid, -1)
    with pytest.raises(UsageError) as refused:
        open_state(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path}/.lltd: owned by uid {uid} (no such user), not by uid {me} "
        f"({pwd.getpwuid(me).pw_name}) that runs the daemon: refused (another user may have made "
        f"it; if it is this daemon's own state from an earlier uid, chown -R {me} it)"
    )
