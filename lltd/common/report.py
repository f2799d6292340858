"""The one ``--json`` report shape of compress, flip, defend, attack and evaluate
(``lltd.report/1``, described by ``lltd/report.schema.json``): who wrote it, the settings once,
one record per file, and the totals."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SCHEMA = "lltd.report/1"


def envelope(
    command: str,
    *,
    input: str | None,
    output: str | None,
    settings: Mapping[str, Any],
    files: list[dict[str, Any]],
    totals: Mapping[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """A report in the shared order: identity, where, settings, command-specific facts, files,
    totals."""
    from lltd.common.version import version

    return {
        "schema": SCHEMA,
        "command": command,
        "lltd_version": version(),
        "input": input,
        "output": output,
        "settings": dict(settings),
        **extra,
        "files": files,
        "totals": dict(totals),
    }


def file_size(path: str | os.PathLike[str] | None) -> int | None:
    """The size of a local file now; None where there is none (or a storage URL)."""
    if path is None:
        return None
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return None
