"""Print the README's results table for one `lltd evaluate` report (its results.json).

Usage: python bench/evaluate/readme_table.py bench/evaluate/results.json

One row per defense: the worst case first (with its 95 % Wilson interval), then clean, each
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
    failed = [check for check in report["sanity"] if not check["passed"]]
    total = len(report["sanity"])
    if not total:
        return "no adaptive attacks, no sanity checks"
    if not failed:
        return f"all {total} sanity checks passed"
    return f"{len(failed)} of {total} sanity checks FAILED: " + "; ".join(
        check["detail"] for check in failed
    )


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    print(f"{report['n_images']} images; {sanity(report)}\n")
    print(table(report))


if __name__ == "__main__":
    main()
