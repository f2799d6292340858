"""Pass a child's messages on to our stderr with the names it saw replaced by the names the
user gave: cwebp writes into a temporary (renamed into place once whole) and would otherwise
print ``Saving file '/out/.a.webp.1f2e.lltd-tmp'``. Imports only ``os``: the lean
``lltd cwebp`` path uses it on every call."""

from __future__ import annotations

import os
from collections.abc import Mapping

_CHUNK = 65536


def _renamed(data: bytes, names: Mapping[bytes, bytes]) -> bytes:
    for seen, shown in names.items():
        data = data.replace(seen, shown)
    return data


def relay(reader: int, names: Mapping[str, str], writer: int = 2) -> bytes:
    """Copy ``reader`` (a pipe) to ``writer`` until its end, line by line (``\\n`` or cwebp's
    ``\\r`` progress) so a name is never cut in two; returns all it read, as received."""
    encoded = {os.fsencode(seen): os.fsencode(shown) for seen, shown in names.items() if seen}
    received = pending = b""
    while chunk := os.read(reader, _CHUNK):
        received += chunk
        pending += chunk
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
        if cut:
            _write_all(writer, _renamed(pending[:cut], encoded))
            pending = pending[cut:]
    if pending:
        _write_all(writer, _renamed(pending, encoded))
    return received


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]
