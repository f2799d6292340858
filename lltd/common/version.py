"""lltd's version: the installed package's metadata, else (a checkout run from its source tree
without installing) the ``pyproject.toml`` beside the package."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_PYPROJECT_VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.MULTILINE)


@cache
def version() -> str:
    # importlib.metadata costs a few ms: imported here, on first use, not at ``import lltd``.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version("lltd")
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        match = _PYPROJECT_VERSION.search(pyproject.read_text(encoding="utf-8"))
    except OSError:
        match = None
    return match.group(1) if match else "0+unknown"
