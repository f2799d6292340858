"""Run cwebp for the lean path of ``lltd cwebp`` (:mod:`lltd.cli.lean.cwebp_spawn`): ``posix_spawn``
with an argument vector (never a shell), into a temporary beside the destination that is renamed
into place once cwebp has succeeded, with lltd's data-safety rules (:mod:`lltd.fs.destination`).
"""

from __future__ import annotations

import os
import sys

try:  # the C module: ``signal`` itself imports enum, a few ms per call
    from _signal import SIGPIPE, SIGXFSZ
except ImportError:  # pragma: no cover (not CPython)
    from signal import SIGPIPE, SIGXFSZ

from lltd.fs.destination import UnsafeDestination, check_destination, new_temporary


def _spawn(
    argv: list[str], to_stdout: bool, capture: bool, names: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Run ``argv``; its exit code and, with ``capture``, what it printed. cwebp's own messages
    go to stderr, never into a ``-o -`` stream or lltd's stdout; without ``capture`` they are
    relayed there as they come, with ``names`` (the temporary) replaced (the destination)."""
    actions: list[tuple[int, ...]] = []
    reader = writer = -1
    relaying = not capture and bool(names)
    if capture or relaying:
        reader, writer = os.pipe()
        actions.append((os.POSIX_SPAWN_DUP2, writer, 2))
        if not to_stdout:
            actions.append((os.POSIX_SPAWN_DUP2, writer, 1))
    try:
        # Python ignores SIGPIPE; cwebp must not inherit that (as subprocess's restore_signals):
        # `lltd cwebp ... -o - | head` then ends cwebp as it would end cwebp run directly.
        pid = os.posix_spawn(
            argv[0], argv, os.environ, file_actions=actions, setsigdef=(SIGPIPE, SIGXFSZ)
        )
    except BaseException:
        if reader != -1:
            os.close(reader)
            os.close(writer)
        raise
    printed = b""
    try:
        if relaying:
            from lltd.common.relay import relay

            os.close(writer)
            printed = relay(reader, names or {})
        elif capture:
            os.close(writer)
            while chunk := os.read(reader, 65536):
                printed += chunk
    finally:
        if reader != -1:
            os.close(reader)
        # Also on Ctrl-C: cwebp got the same SIGINT; reap it before the temporary goes, or it
        # could recreate the file after the cleanup.
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), printed


def _publish(temp: str, output: str) -> None:
    umask = os.umask(0)  # one thread here: nothing else can create a file meanwhile
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    check_destination(output)
    os.replace(temp, output)


def run_cwebp(
    binary: str, options: list[str], source: str, output: str, capture: bool
) -> int | None:
    """Encode ``source`` with cwebp into ``output`` (``-`` is stdout); the exit status, or None
    when the destination is for the full path to refuse or word (nothing was run then).
    Raises :class:`UnsafeDestination` when a node took the destination's place meanwhile."""
    temp = None
    if output != "-":
        if not os.path.basename(output):
            return None  # "" or "folder/": no file name; the full path refuses it
        try:
            check_destination(output)
        except UnsafeDestination:
            return None
        try:
            temp = new_temporary(output)
        except OSError:
            return None  # no folder, no permission: the full path words it
    # "--" ends cwebp's options: a file named "-x.png" is read as a file.
    argv = [binary, *options, "-o", temp or "-", "--", source]
    try:
        try:
            shown = {temp: output} if temp is not None else None
            code, printed = _spawn(argv, to_stdout=temp is None, capture=capture, names=shown)
        except OSError:
            return None  # cwebp could not be started: the full path says why
        if code == 0 and temp is not None:
            _publish(temp, output)  # UnsafeDestination, OSError: the caller's one line
    finally:
        if temp is not None and os.path.lexists(temp):
            os.unlink(temp)
    if code == -SIGPIPE and temp is None:
        return 128 + SIGPIPE  # the reader of -o - left: quiet, as cwebp itself, and its status
    if code != 0:
        from lltd.codecs.cwebp_locate import failure_reason
        from lltd.common.text import printable

        reason = failure_reason(printed.decode(errors="replace"), code)
        print(f"lltd: error: {printable(source)}: cwebp failed: {reason}", file=sys.stderr)
        return 1
    return 0
