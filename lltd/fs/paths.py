"""Where lltd keeps its caches (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$LLTD_CACHE_DIR``, else ``$XDG_CACHE_HOME/lltd``, else ``~/.cache/lltd``."""
    explicit = os.environ.get("LLTD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lltd"
