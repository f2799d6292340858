"""Open a name *beneath* a folder descriptor without following any symbolic link.

``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` (Linux 5.6) does it in one call: the kernel
refuses ``..`` that leaves the folder, absolute names, links anywhere in the name, and races
with renames. Where it is missing (another kernel, a seccomp filter answering ENOSYS) the same
rule is applied one component at a time: each opened ``O_NOFOLLOW`` relative to its parent's
descriptor. Either way a link planted in a tree is never followed, and no component is looked
up by a path a second time.

ctypes is imported on the first name of two or more components, not with the module: a name of
one component needs only ``O_NOFOLLOW`` relative to its folder, and the lean ``compress`` and
``lltd cwebp`` paths over a flat folder never pay for ctypes.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08

#: openat2's number where it is the generic one (every 64-bit Linux architecture lltd runs on).
_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "riscv64": 437, "ppc64le": 437, "s390x": 437}

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Escape(OSError):
    """The name leaves the folder, or goes through a symbolic link."""


def split(relative: str) -> list[str]:
    """The components of a relative POSIX name; refuses absolute names, ``..`` and empties."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if relative.startswith("/") or ".." in parts:
        raise Escape(errno.EXDEV, "leaves its folder", relative)
    return parts


def open_beneath(dir_fd: int, relative: str, flags: int, mode: int = 0o600) -> int:
    """A descriptor of ``relative`` beneath ``dir_fd``, no link followed in any component."""
    if "/" not in relative and relative not in ("", ".", ".."):
        # One component: O_NOFOLLOW relative to the folder is all openat2 would do (and no
        # ctypes for the common flat folder: compress's start-up stays lean).
        try:
            return os.open(relative, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        except OSError as exc:
            raise _explained(exc, relative) from None
    opener = _openat2()
    if opener is not None:
        try:
            # The empty name is the folder itself, as in the walk (the kernel says ENOENT).
            return opener(dir_fd, relative or ".", flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                raise _explained(exc, relative) from None
            _openat2.cache_clear()
            _disable()
    return walk_open(dir_fd, relative, flags, mode)


def walk_open(dir_fd: int, relative: str, flags: int, mode: int = 0o600) -> int:
    """:func:`open_beneath` one component at a time (also what tests compare it against)."""
    parts = split(relative)
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=dir_fd)
    fd = dir_fd
    try:
        for part in parts[:-1]:
            child = _open_dir(part, fd, relative)
            if fd != dir_fd:
                os.close(fd)
            fd = child
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        except OSError as exc:
            raise _explained(exc, relative) from None
    finally:
        if fd != dir_fd:
            os.close(fd)


def _open_dir(part: str, fd: int, relative: str) -> int:
    try:
        return os.open(part, DIR_FLAGS, dir_fd=fd)
    except OSError as exc:
        raise _explained(exc, relative) from None


def _explained(exc: OSError, relative: str) -> OSError:
    # ELOOP: the last component is a link (O_NOFOLLOW) or openat2 met one anywhere; ENOTDIR
    # from O_DIRECTORY|O_NOFOLLOW on a link to a folder; EXDEV: openat2's escape.
    if exc.errno in (errno.ELOOP, errno.EXDEV):
        return Escape(exc.errno, "a symbolic link or outside its folder", relative)
    exc.filename = relative
    return exc


_disabled = False


def _disable() -> None:
    global _disabled
    _disabled = True


@functools.cache
def _openat2() -> Callable[[int, str, int, int], int] | None:
    number = _SYS_OPENAT2.get(os.uname().machine)
    if number is None or _disabled or os.environ.get("LLTD_FS_NO_OPENAT2"):
        return None
    import ctypes

    class OpenHow(ctypes.Structure):
        _fields_ = [
            ("flags", ctypes.c_uint64),
            ("mode", ctypes.c_uint64),
            ("resolve", ctypes.c_uint64),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    size = ctypes.sizeof(OpenHow)
    resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS

    def openat2(dir_fd: int, relative: str, flags: int, mode: int) -> int:
        # openat2 refuses mode bits without O_CREAT/O_TMPFILE (EINVAL).
        how = OpenHow(flags, mode if flags & os.O_CREAT else 0, resolve)
        name = os.fsencode(relative)
        for _ in range(8):  # EAGAIN: a concurrent rename somewhere; the kernel asks to retry
            fd = syscall(
                ctypes.c_long(number), ctypes.c_int(dir_fd), ctypes.c_char_p(name),
                ctypes.byref(how), ctypes.c_size_t(size),
            )  # fmt: skip
            if fd >= 0:
                return int(fd)
            err = ctypes.get_errno()
            if err != errno.EAGAIN:
                raise OSError(err, os.strerror(err), relative)
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN), relative)

    return openat2


def openat2_available() -> bool:
    """Whether this process resolves with ``openat2`` (False: the per-component walk)."""
    opener = _openat2()
    if opener is None:
        return False
    root = os.open("/", DIR_FLAGS)
    try:
        os.close(opener(root, ".", DIR_FLAGS, 0))
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            _disable()
            _openat2.cache_clear()
            return False
    finally:
        os.close(root)
    return True


@functools.cache
def _libc_renameat2() -> Callable[[int, str, int, str, int], None] | None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    function.restype = ctypes.c_int

    def renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
        done = function(
            ctypes.c_int(src_fd), ctypes.c_char_p(os.fsencode(src)),
            ctypes.c_int(dst_fd), ctypes.c_char_p(os.fsencode(dst)), ctypes.c_uint(flags),
        )  # fmt: skip
        if done != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), dst)

    return renameat2


RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
    """``renameat2(2)``; OSError(EINVAL/ENOSYS) where the file system or libc lacks ``flags``."""
    function = _libc_renameat2()
    if function is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", dst)
    function(src_fd, src, dst_fd, dst, flags)
