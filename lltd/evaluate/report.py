"""Writing an evaluation: results.json/.csv/.md, PNG plots and the terminal table."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lltd.atomic import write_bytes_atomic

ROW_FIELDS = ("attack", "defense", "accuracy", "restored", "n")
SWEEP_FIELDS = ("codec", "quality", "attack", "accuracy", "mean_bytes", "n")


def _ordered(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def table(report: dict[str, Any], value: str = "accuracy") -> tuple[list[str], list[list[str]]]:
    """Rows = attacks, columns = defenses; cells are percentages (``-`` where not measured)."""
    rows = report["rows"]
    labels = report["parameters"]["defense_labels"]
    attacks = _ordered([row["attack"] for row in rows])
    defenses = _ordered([row["defense"] for row in rows])
    cells = {(row["attack"], row["defense"]): row[value] for row in rows}
    header = ["attack", *(labels.get(name, name) for name in defenses)]
    body = []
    for attack in attacks:
        line = [attack]
        for defense in defenses:
            cell = cells.get((attack, defense))
            line.append("-" if cell is None else f"{100 * cell:.1f}")
        body.append(line)
    return header, body


def markdown(report: dict[str, Any]) -> str:
    header, body = table(report)
    parameters = report["parameters"]
    lines = [
        f"# Top-1 accuracy (%) of {report['model']} on {report['data']} "
        f"({report['n_images']} images)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
        *("| " + " | ".join(line) + " |" for line in body),
        "",
        "Rows: the attack (`none` = clean images). Columns: the defense applied before "
        "classification. Oblivious attacks are computed once against the undefended model and "
        "saved as 8-bit images; "
        + (
            "`pgd-bpda` attacks each defended model end to end (BPDA: the lossy step is the "
            "identity on the backward pass, the flip is exact), one attack per column."
            if any(row["attack"] == "pgd-bpda" for row in report["rows"])
            else "no adaptive attack was run (`--adaptive`)."
        ),
        "",
    ]
    header, body = table(report, "restored")
    lines += [
        "## Restored (%): of the images the attack fooled, how many the defense brings back",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
        *("| " + " | ".join(line) + " |" for line in body),
        "",
        "## Attacks",
        "",
        "| attack | against | epsilon (L-inf) | steps | fooled (%) | mean L-inf | mean L2 "
        "| seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for attack in report["attacks"]:
        epsilon = "-" if attack["epsilon"] is None else f"{attack['epsilon']:.4f}"
        lines.append(
            f"| {attack['attack']} | {attack.get('against', 'none')} | {epsilon} | "
            f"{attack['steps']} | {100 * attack['fooled']:.1f} | {attack['mean_linf']:.4f} | "
            f"{attack['mean_l2']:.3f} | {attack['seconds']:.1f} |"
        )
    lines += ["", "Parameters: `" + json.dumps(parameters, sort_keys=True) + "`", ""]
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], fields: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in fields})
    return buffer.getvalue().encode()


def write_report(report: dict[str, Any], out_dir: Path, plots: bool = True) -> list[Path]:
    """Write every file of the report (each atomically); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        write_bytes_atomic(out_dir / name, data)
        written.append(out_dir / name)

    from lltd.version import version

    report = {"lltd_version": version(), **report}
    put("results.json", (json.dumps(report, indent=2) + "\n").encode())
    put("results.csv", _csv(report["rows"], ROW_FIELDS))
    put("results.md", markdown(report).encode())
    if report["sweep"]:
        put("sweep.csv", _csv(report["sweep"], SWEEP_FIELDS))
    if plots:
        from lltd.evaluate import plots as plotting

        put("accuracy.png", plotting.accuracy_plot(report))
        if report["sweep"]:
            put("quality.png", plotting.quality_plot(report))
    return written


def print_table(report: dict[str, Any]) -> None:
    """The accuracy table on stdout with rich."""
    from rich.console import Console
    from rich.table import Table

    header, body = table(report)
    title = f"Top-1 accuracy (%), {report['model']} on {report['data']} ({report['n_images']})"
    shown = Table(title=title)
    shown.add_column(header[0])
    for name in header[1:]:
        shown.add_column(name, justify="right")
    for line in body:
        shown.add_row(*line)
    Console().print(shown)
