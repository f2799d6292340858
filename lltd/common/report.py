"""The one ``--json`` report shape of compress, flip, defend, attack and evaluate
(``lltd.report/1``, described by ``lltd/report.schema.json``): who wrote it, the settings once,
one record per file, and totals counted from those records."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

SCHEMA = "lltd.report/1"
#: Where the JSON Schema of :data:`SCHEMA` ships, beside this package's parent.
SCHEMA_FILE = "report.schema.json"


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


def count(files: Iterable[Mapping[str, Any]], seconds: float) -> dict[str, Any]:
    """Totals of ``files``: how many, how many per outcome, the bytes of the inputs and of the
    outputs that exist (each summed over the same records that carry them), and the time."""
    records = list(files)
    outcomes = Counter(str(record["outcome"]) for record in records)
    return {
        "files": len(records),
        **dict(sorted(outcomes.items())),
        "bytes_before": sum(record.get("bytes_before") or 0 for record in records),
        "bytes_after": sum(record.get("bytes_after") or 0 for record in records),
        "seconds": round(seconds, 3),
    }
