"""Small-sample statistics for the report: Wilson intervals and each defense's worst case."""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959963984540054


def wilson(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); sound at n = 20 and at 0 %
    or 100 %, where the normal approximation is not."""
    if n <= 0:
        return 0.0, 1.0
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    # The interval holds the estimate itself (rounding could leave 0 % just outside).
    return max(0.0, min(centre - half, accuracy)), min(1.0, max(centre + half, accuracy))


def worst_case(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per defense: the clean accuracy and the minimum over every attack run against it."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault(
            row["defense"],
            {"clean": None, "accuracy": None, "attack": None, "n": row["n"], "attacks": 0},
        )
        if row["attack"] == "none":
            entry["clean"] = row["accuracy"]
            continue
        entry["attacks"] += 1
        if entry["accuracy"] is None or row["accuracy"] < entry["accuracy"]:
            entry.update(accuracy=row["accuracy"], attack=row["attack"], n=row["n"])
    for entry in out.values():
        if entry["accuracy"] is None:  # no attack ran: the worst case is the clean accuracy
            entry.update(accuracy=entry["clean"], attack="none")
        entry["interval"] = list(wilson(entry["accuracy"], entry["n"]))
    return out
