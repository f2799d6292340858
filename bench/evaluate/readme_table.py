"""Print the README's results table for one `lltd evaluate` report (its results.json).

Usage: python bench/evaluate/readme_table.py bench/evaluate/results.json

One row per defense: the worst case first (with its 95 % Wilson interval; the per-image union of
every attack in reports since issue 25, the minimum over the rows before), then clean, each
oblivious and precomputed attack, and the adaptive attacks together (BPDA-PGD, then Square on
what it left). Figures come from the report only, so the README never carries hand-edited ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ADAPTIVE = ("bpda-pgd", "square")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def table(report: dict) -> str:
    rows = report["rows"]
    # "settings" since lltd.report/1 (issue 26); "parameters" in the reports before it.
    labels = (report.get("settings") or report["parameters"])["defense_labels"]
    cell = {(row["attack"], row["defense"]): row["accuracy"] for row in rows}
    attacks = [
        a for a in dict.fromkeys(row["attack"] for row in rows) if a not in ("none", *ADAPTIVE)
    ]
    adaptive = any(row["attack"] in ADAPTIVE for row in rows)
    names = [a.replace("precomputed:", "precomputed ") for a in attacks]
    head = ["defense", "**worst case** [95 % interval]", "clean", *names]
    head += ["adaptive (BPDA-PGD + Square)"] if adaptive else []
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for defense, worst in report["worst_case"].items():
        low, high = worst["interval"]
        values = [
            f"**{_percent(worst['accuracy'])}** [{_percent(low)}–{_percent(high)}]",
            _percent(worst["clean"]),
            *(_percent(cell.get((attack, defense))) for attack in attacks),
        ]
        if adaptive:
            values.append(_percent(min(cell.get((a, defense), 1.0) for a in ADAPTIVE)))
        lines.append(f"| {labels.get(defense, defense)} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def sanity(report: dict) -> str:
    # passed: True, False, or None (not informative: the check had nothing to test).
    failed = [check for check in report["sanity"] if check["passed"] is False]
    idle = [check for check in report["sanity"] if check["passed"] is None]
    total = len(report["sanity"])
    if not total:
        return "no adaptive attacks, no sanity checks"
    if not failed:
        more = f", {len(idle)} not informative (nothing to test)" if idle else ""
        return f"all {total - len(idle)} informative sanity checks passed{more}"
    return f"{len(failed)} of {total} sanity checks FAILED: " + "; ".join(
        check["detail"] for check in failed
    )


def worst_kind(report: dict) -> str:
    """Reports since issue 25 give the per-image union; older ones the minimum of the rows."""
    if any("alone" in entry for entry in report["worst_case"].values()):
        return "worst case = images right under every attack (per-image union)"
    return "worst case = the minimum over the rows (a report from before the per-image union)"


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    print(f"{report['n_images']} images; {sanity(report)}; {worst_kind(report)}\n")
    print(table(report))


if __name__ == "__main__":
    main()
