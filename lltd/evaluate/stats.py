"""Small-sample statistics for the report: Wilson intervals and each defense's worst case."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

Z95 = 1.959963984540054
#: Per defense, per attack ("none": the clean images): N booleans over the report's images, True
#: where the defended classifier still gets that image right under that attack.
Survival = Mapping[str, Mapping[str, np.ndarray]]


def wilson(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % by default); sound at n = 20 and at 0 %
    or 100 %, where the normal approximation is not."""
    if n <= 0:
        return 0.0, 1.0
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    # The interval holds the estimate itself (rounding could leave 0 % just outside).
    return max(0.0, min(centre - half, accuracy)), min(1.0, max(centre + half, accuracy))


def worst_case(rows: list[dict[str, Any]], survival: Survival | None = None) -> dict[str, Any]:
    """Per defense: the clean accuracy and the worst case.

    With ``survival`` (the per-image outcomes), the worst case is the share of images the
    defended classifier gets right clean *and* under every attack: an attacker picks, per image,
    whichever attack works, so the minimum over the rows overstates robustness whenever two
    attacks break different images. ``alone`` keeps how many images each attack by itself
    leaves, and ``min_row`` the minimum over the rows, for comparison. Without ``survival``
    (reports of older versions) it is that minimum.
    """
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
    for defense, entry in out.items():
        if entry["accuracy"] is None:  # no attack ran: the worst case is the clean accuracy
            entry.update(accuracy=entry["clean"], attack="none")
        outcomes = (survival or {}).get(defense)
        if outcomes:
            entry["min_row"] = {"accuracy": entry["accuracy"], "attack": entry["attack"]}
            robust = np.logical_and.reduce([np.asarray(v, bool) for v in outcomes.values()])
            entry.update(
                accuracy=float(robust.mean()),
                attack="union" if len(outcomes) > 1 else next(iter(outcomes)),
                n=len(robust),
                robust=int(robust.sum()),
                alone={name: int(np.sum(v)) for name, v in outcomes.items()},
            )
        entry["interval"] = list(wilson(entry["accuracy"], entry["n"]))
    return out
