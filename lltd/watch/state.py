"""The daemon's state folder, ``IN/.lltd``: the daemon's alone, or the daemon does not start.

Everything the daemon keeps there (its lock, journal, claims, done/ and failed/ inputs, output
names) decides what it moves, defends and deletes. Whoever can write IN can try to make that
folder first, or plant entries in it; so the folder is made ``0700`` by the daemon, reached
without following a link, and a folder that already exists is taken only when it is owned by
the daemon's user and nobody else may write it. Anything else is refused with one line at
start-up (exit status 2), naming the owner or mode and the fix: a daemon that started anyway
would act on state somebody else could have written.

The shipped unit runs as the static system user ``lltd`` (see ``systemd/lltd-watch@.service``),
so the owner is the same at every start. A transient ``DynamicUser=`` user may get another uid
at the next start; the refusal then names both uids, and ``chown -R`` (or the static user) is
the fix: the daemon itself cannot tell its own earlier state from an uploader's forgery.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from lltd.common.errors import UsageError
from lltd.common.text import printable
from lltd.fs.entries import make_dir, open_file
from lltd.fs.tree import Folder
from lltd.watch.safedir import DIR_FLAGS

STATE_DIR = ".lltd"
MODE = 0o700


def open_state(root: Path) -> int:
    """A descriptor of ``root/.lltd`` (made ``0700`` when missing), checked as the module says;
    a :class:`UsageError` otherwise. The caller closes it."""
    where = root / STATE_DIR
    with Folder.open(root) as top:
        made = make_dir(top.fd, STATE_DIR, MODE)
        try:
            fd = open_file(STATE_DIR, DIR_FLAGS, dir_fd=top.fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UsageError(f"{printable(where)} is a link or not a folder: refused") from None
            raise
    try:
        if made:
            os.fchmod(fd, MODE)  # the umask may have taken bits away; never adds any
        check_state(fd, where)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_state(fd: int, where: Path) -> None:
    st = os.fstat(fd)
    me = os.geteuid()
    if st.st_uid != me:
        raise UsageError(
            f"{printable(where)}: owned by uid {st.st_uid} ({_user(st.st_uid)}), not by uid {me} "
            f"({_user(me)}) that runs the daemon: refused (another user may have made it; if it "
            f"is this daemon's own state from an earlier uid, chown -R {me} it)"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UsageError(
            f"{printable(where)}: writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}): refused (chmod 700 it once you trust its content)"
        )


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return "no such user"
