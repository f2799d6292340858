"""Text that reaches a log line, a report or a terminal."""

from __future__ import annotations

import os

#: C0 and C1 control characters and DEL: a name holding one could forge a log line or move the
#: terminal's cursor. Backslash is escaped too, so the escaped form reads back unambiguously.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES |= {ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def printable(name: str | os.PathLike[str]) -> str:
    """``name`` with every control character escaped (``\\n``, ``\\x1b``): safe on one line."""
    return os.fspath(name).translate(_ESCAPES)


_CONTROLS = {code: escape for code, escape in _ESCAPES.items() if code != ord("\\")}


def one_line(message: object) -> str:
    """A whole message made safe for one log line: control characters escaped, backslashes left
    as they are (names inside it may already be :func:`printable`, and must not be escaped twice).
    """
    return str(message).translate(_CONTROLS)
