"""Evaluate's accuracy table for a terminal: defenses as rows (their labels whole), attacks as
short columns named in a legend below, as many tables as the width needs. An 80-column
terminal once got headers wrapped over 8 lines and rows cut to ``deep…``, ``prec…``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Short column names of the oblivious attacks; any other attack (precomputed sets, adaptive
#: runs) is numbered A1, A2, ... in the legend.
SHORT = {"none": "clean", "deepfool": "DF", "fgsm": "FGSM", "bim": "BIM", "pgd": "PGD", "cw": "CW"}
CELL = 6  # "100.0" and a space


def _ordered(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def columns(attacks: Sequence[str]) -> dict[str, str]:
    """Each attack's column name: its short name, else A1, A2, ... (unique either way)."""
    names: dict[str, str] = {}
    numbered = 0
    for attack in attacks:
        if attack in SHORT:
            names[attack] = SHORT[attack]
        else:
            numbered += 1
            names[attack] = f"A{numbered}"
    return names


def _wrap(items: Sequence[str], width: int) -> list[str]:
    """``items`` joined by ", " in lines of at most ``width``, commas in (a longer item whole)."""
    lines: list[str] = []
    line = ""
    for item in items:
        joined = f"{line}, {item}" if line else item
        if line and len(joined) >= width:  # a next item adds a comma to ``line``
            lines.append(line + ",")
            line = item
        else:
            line = joined
    return [*lines, line] if line else lines


def table_lines(report: dict[str, Any], width: int = 80) -> list[str]:
    """The title, one table per group of attack columns that fits ``width``, and the legend."""
    rows = report["rows"]
    labels = report["parameters"]["defense_labels"]
    attacks = _ordered([row["attack"] for row in rows])
    defenses = _ordered([row["defense"] for row in rows])
    cells = {(row["attack"], row["defense"]): row["accuracy"] for row in rows}
    worst = {name: entry.get("accuracy") for name, entry in report["worst_case"].items()}
    names = columns(attacks)
    shown = {defense: labels.get(defense, defense) for defense in defenses}
    first = max(len("defense"), *(len(label) for label in shown.values()))
    # The worst case closes every group; each group takes the attack columns that fit.
    fit = max(1, (width - first - CELL - 1) // CELL)
    groups = [attacks[i : i + fit] for i in range(0, len(attacks), fit)] or [[]]
    lines = [
        f"Top-1 accuracy (%), {report['model']} on {report['data']} ({report['n_images']} images)"
    ]
    for group in groups:
        header = "defense".ljust(first) + "".join(f"{names[a]:>{CELL}}" for a in group)
        lines += ["", header + f"{'worst':>{CELL}}"]
        for defense in defenses:
            values = "".join(f"{_pct(cells.get((a, defense))):>{CELL}}" for a in group)
            lines.append(
                shown[defense].ljust(first) + values + f"{_pct(worst.get(defense)):>{CELL}}"
            )
    legend = [f"{names[a]} = {'no attack' if a == 'none' else a}" for a in attacks]
    legend.append("worst = the worst case (results.md says how it is counted)")
    return [*lines, "", *_wrap(legend, width)]
