"""The fault-injection seam: one call between every two steps of the file layer.

``reached(step, folder_fd, name)`` runs before each step in :data:`STEPS` acts on the entry
``name`` of the folder held open as ``folder_fd``. In production it is a no-op costing one
global lookup. The tests set ``LLTD_FS_SEAM`` to a Python file defining ``seam(step, folder_fd,
name)``; the file layer runs it there, and the test swaps the world at that point (a symlink
inside or outside the tree, a FIFO, another file, a new version, nothing) to check that no
decision taken before the swap is acted upon after it. Setting the variable runs that file in
every lltd process, as ``PYTHONPATH`` would: it adds no power over lltd to whoever sets the
environment.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

#: The steps, in the order a conversion meets them.
STEPS = (
    "open",  # an input is about to be opened (relative to its folder's descriptor)
    "read",  # it is open and fstat'd; about to be hashed and decoded from that descriptor
    "publish",  # the output is complete in its temporary; about to be renamed into place
    "remove",  # --r: the original is about to be re-checked and unlinked
)

_hook: Callable[[str, int, str], object] | None = None
_loaded = False


def reached(step: str, folder_fd: int, name: str) -> None:
    """Run the test's seam, if one is installed, before ``step`` on ``name``."""
    if not _loaded:
        _load()
    if _hook is not None:
        _hook(step, folder_fd, name)


def install(hook: Callable[[str, int, str], object] | None) -> None:
    """Install ``hook`` in this process (in-process tests), or remove it with ``None``."""
    global _hook, _loaded
    _hook, _loaded = hook, True


def _load() -> None:
    global _hook, _loaded
    _loaded = True
    script = os.environ.get("LLTD_FS_SEAM")
    if script:
        namespace: dict[str, object] = {"__name__": "lltd_fs_seam"}
        with open(script, encoding="utf-8") as handle:  # the test's own file, not a tree's
            exec(compile(handle.read(), script, "exec"), namespace)
        _hook = namespace["seam"]  # type: ignore[assignment]
