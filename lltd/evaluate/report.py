"""Writing an evaluation: results.json/.csv/.md, PNG plots and the terminal table."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lltd.fs.atomic import write_bytes_atomic

ROW_FIELDS = ("attack", "defense", "accuracy", "restored", "n")
SWEEP_FIELDS = ("codec", "quality", "attack", "accuracy", "mean_bytes", "n")
MATCH_FIELDS = (
    "codec", "quality", "webp_quality", "mean_bytes", "size_ratio", "bits_per_pixel", "clean",
    "oblivious",
    "adaptive", "worst", "n",
)  # fmt: skip


def status(passed: bool | None) -> str:
    """A check's verdict; ``None`` is a check that had nothing to test (it could not fail)."""
    return "not informative" if passed is None else "passed" if passed else "FAILED"


def epsilon_label(epsilon: float) -> str:
    """``8/255``; between 8-bit levels, what the attack really had: ``0.5/255 (floored to
    0/255)`` (the attacks' ball holds whole levels only)."""
    levels = epsilon * 255
    whole = int(levels + 1e-6)
    text = f"{round(levels, 4):g}/255"
    return text if abs(levels - whole) < 1e-6 else f"{text} (floored to {whole}/255)"


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


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _grid(header: list[str], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|",
        *("| " + " | ".join(line) + " |" for line in body),
    ]


def sanity_lines(report: dict[str, Any]) -> list[str]:
    """The report's first lines: whether the adaptive attacks passed their sanity checks."""
    checks = report.get("sanity") or []
    if not checks:
        return ["No adaptive attack was run (`--adaptive`): the worst case below covers only "
                "attacks that do not know the defense.", ""]  # fmt: skip
    failed = [check for check in checks if check["passed"] is False]
    idle = [check for check in checks if check["passed"] is None]
    if failed:
        lines = [f"**SANITY CHECKS FAILED ({len(failed)} of {len(checks)})**: the adaptive "
                 "figures below are not trustworthy until these pass:", ""]  # fmt: skip
        lines += [f"- FAILED {check['name']}: {check['detail']}" for check in failed]
        return [*lines, ""]
    informative = len(checks) - len(idle)
    if not informative:
        return [f"**NO SANITY CHECK COULD FAIL** on this run (all {len(checks)} had nothing "
                "to test): the adaptive figures below are unchecked.", ""]  # fmt: skip
    more = f"; {len(idle)} more had nothing to test (not informative)" if idle else ""
    return [
        f"All {informative} informative sanity checks of the adaptive attacks passed{more} "
        "(listed at the end).",
        "",
    ]


def headline(report: dict[str, Any]) -> list[str]:
    """Per defense: clean accuracy and the worst case over every attack, with 95 % intervals."""
    labels = report["parameters"]["defense_labels"]
    body = []
    for defense, entry in report["worst_case"].items():
        low, high = entry["interval"]
        body.append(
            [labels.get(defense, defense), _pct(entry["clean"]),
             f"**{_pct(entry['accuracy'])}**", f"{_pct(low)}-{_pct(high)}",
             str(entry["attack"]), str(entry["n"])]
        )  # fmt: skip
    header = ["defense", "clean", "worst case", "95 % interval", "worst attack", "n"]
    return _grid(header, body)


def alone_lines(report: dict[str, Any]) -> list[str]:
    """Per defense, how many images each attack alone leaves, beside the union's count."""
    entries = {d: e for d, e in report["worst_case"].items() if "alone" in e}
    if not entries:
        return []
    labels = report["parameters"]["defense_labels"]
    attacks = _ordered([a for e in entries.values() for a in e["alone"] if a != "none"])
    header = ["defense", "every attack (union)", "clean", *attacks, "minimum of the rows"]
    body = [
        [labels.get(defense, defense), f"**{e['robust']}**", str(e["alone"].get("none", "-")),
         *(str(e["alone"].get(a, "-")) for a in attacks),
         f"{round(e['min_row']['accuracy'] * e['n'])} ({e['min_row']['attack']})"]
        for defense, e in entries.items()
    ]  # fmt: skip
    return [
        "Images left (of n): an image counts as robust only if the defended classifier gets it "
        "right clean and under every attack of the report (each oblivious attack, each "
        "precomputed set, every adaptive run); each attack alone leaves more.",
        "",
        *_grid(header, body),
        "",
    ]


def source_lines(report: dict[str, Any]) -> list[str]:
    """Clean accuracy and worst case per --data source, when several were joined."""
    sources = report.get("by_source") or {}
    if len(sources) < 2:
        return []
    labels = report["parameters"]["defense_labels"]
    defenses = [d for d in report["worst_case"] if d in next(iter(sources.values()))]
    header = ["source", "n", *(f"{labels.get(d, d)} clean / worst" for d in defenses)]
    body = [
        [source, str(entry["n"]),
         *(f"{_pct(entry[d]['clean'])} / {_pct(entry[d]['worst'])}" for d in defenses)]
        for source, entry in sources.items()
    ]  # fmt: skip
    return ["## Per data set: clean and worst-case accuracy (%)", "", *_grid(header, body), ""]


def match_lines(report: dict[str, Any]) -> list[str]:
    entries = report.get("match_size") or []
    if not entries:
        return []
    body = [
        [e["codec"], str(e["quality"]), f"{e['mean_bytes']:.0f}", f"{e['size_ratio']:.2f}",
         f"{e['bits_per_pixel']:.2f}",
         _pct(e["clean"]), _pct(e["oblivious"]), _pct(e["adaptive"]), f"**{_pct(e['worst'])}**"]
        for e in entries
    ]  # fmt: skip
    header = ["codec", "quality", "mean bytes", "x WebP's", "bits/pixel", "clean",
              "oblivious (all)", "adaptive (BPDA-PGD)", "worst"]  # fmt: skip
    return [
        "## WebP against JPEG at equal size (`--match-size`)",
        "",
        "Each WebP quality is paired with the JPEG quality of the closest mean size on these "
        "images (x WebP's: its size over WebP's; far from 1 where no JPEG quality gets that "
        "small). oblivious (all): right under every oblivious attack; worst: that and BPDA-PGD.",
        "",
        *_grid(header, body),
        "",
    ]


def markdown(report: dict[str, Any]) -> str:
    parameters = report["parameters"]
    adaptive = report.get("adaptive")
    lines = [
        f"# {report['model']} on {report['data']} ({report['n_images']} images)",
        "",
        *sanity_lines(report),
        "## Worst case per defense: top-1 accuracy (%) under the strongest attack run",
        "",
        *headline(report),
        "",
        "Worst case = the share of images the defended classifier gets right clean and under "
        "every attack below (oblivious, precomputed, and with `--adaptive` every BPDA-PGD run "
        "and Square): per image, the attacker picks whichever attack works. Intervals: Wilson "
        "score, 95 %.",
        "",
        *alone_lines(report),
        *source_lines(report),
        "## Top-1 accuracy (%) per attack and defense",
        "",
        *_grid(*table(report)),
        "",
        "Rows: the attack (`none` = clean images). Columns: the defense applied before "
        "classification. Oblivious attacks are computed once against the undefended model and "
        "saved as 8-bit images; `precomputed:` rows are images made elsewhere (`--adversarial`). "
        + (
            "`bpda-pgd` attacks each defended model end to end (the real defense forward, its "
            "differentiable surrogate backward; EOT over the randomised defenses' draws); "
            "`square` is the gradient-free Square attack run on the images BPDA-PGD left "
            "standing, so its row is both attacks together."
            if adaptive
            else "No adaptive attack was run (`--adaptive`)."
        ),
        "",
        "## Restored (%): of the images the attack fooled, how many the defense brings back",
        "",
        *_grid(*table(report, "restored")),
        "",
        "## Attacks",
        "",
        "| attack | against | epsilon (L-inf) | steps | fooled (%) | seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for attack in report["attacks"]:
        epsilon = "-" if attack["epsilon"] is None else f"{attack['epsilon']:.4f}"
        lines.append(
            f"| {attack['attack']} | {attack.get('against', 'none')} | {epsilon} | "
            f"{attack['steps'] if attack['steps'] is not None else '-'} | "
            f"{100 * attack['fooled']:.1f} | {attack['seconds']:.1f} |"
        )
    if adaptive:
        lines += ["", "Adaptive settings: `" + json.dumps(adaptive, sort_keys=True) + "`"]
        lines += ["", "## Sanity checks", ""]
        lines += [
            f"- {status(check['passed'])}: {check['name']}: {check['detail']}"
            for check in report["sanity"]
        ]
        for defense, curves in report.get("curves", {}).items():
            if "epsilon" in curves:
                points = ", ".join(f"{epsilon_label(e)}: {_pct(a)}" for e, a in curves["epsilon"])
                lines += ["", f"Accuracy (%) against epsilon on {defense}: {points}"]
        steps = [
            f"{defense}: " + ", ".join(f"{k}: {_pct(a)}" for k, a in curves["steps"])
            for defense, curves in report.get("curves", {}).items()
            if "steps" in curves
        ]
        if steps:
            lines += ["", "Accuracy (%) against BPDA-PGD steps:", ""]
            lines += [f"- {line}" for line in steps]
    lines += ["", *match_lines(report)]
    lines += ["Parameters: `" + json.dumps(parameters, sort_keys=True) + "`", ""]
    return "\n".join(lines)


def _csv(rows: list[dict[str, Any]], fields: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row[key] is None else row[key] for key in fields})
    return buffer.getvalue().encode()


def as_document(report: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """results.json: the report in the shared ``lltd.report/1`` shape (``parameters`` become
    ``settings``). Its results are the rows; ``files`` lists the inputs it could not read."""
    from lltd.common.report import envelope, file_size

    files = [
        {
            "input": path,
            "output": None,
            "outcome": "failed",
            "bytes_before": file_size(path),
            "bytes_after": None,
            "error": "skipped: not readable as an image",
        }
        for path in report.get("skipped", [])
    ]
    totals = {
        "files": report["n_images"] + len(files),
        "evaluated": report["n_images"],
        "failed": len(files),
        "seconds": report.get("timings_s", {}).get("total", 0.0),
    }
    # In memory the settings are "parameters" (the tables read them); the document says settings.
    body = {key: value for key, value in report.items() if key != "parameters"}
    return envelope(
        "evaluate",
        input=report["data"],
        output=str(out_dir),
        settings=report["parameters"],
        files=files,
        totals=totals,
        **body,
    )


def write_report(report: dict[str, Any], out_dir: Path, plots: bool = True) -> list[Path]:
    """Write every file of the report (each atomically); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        write_bytes_atomic(out_dir / name, data)
        written.append(out_dir / name)

    put("results.json", (json.dumps(as_document(report, out_dir), indent=2) + "\n").encode())
    put("results.csv", _csv(report["rows"], ROW_FIELDS))
    put("results.md", markdown(report).encode())
    if report["sweep"]:
        put("sweep.csv", _csv(report["sweep"], SWEEP_FIELDS))
    if report.get("match_size"):
        put("match_size.csv", _csv(report["match_size"], MATCH_FIELDS))
    if plots:
        from lltd.evaluate import plots as plotting

        put("accuracy.png", plotting.accuracy_plot(report))
        if report["sweep"]:
            put("quality.png", plotting.quality_plot(report))
        if report.get("match_size"):
            put("size.png", plotting.size_plot(report))
    return written


def print_table(report: dict[str, Any], width: int | None = None) -> None:
    """The accuracy table on stdout, fitting the terminal (80 columns when not one): defenses
    as rows, attacks as short columns with a legend (:mod:`lltd.evaluate.terminal`)."""
    import shutil
    import sys

    from lltd.evaluate.terminal import table_lines

    for line in sanity_lines(report)[:1]:
        print(line.replace("**", ""), file=sys.stderr)
    width = width or shutil.get_terminal_size((80, 24)).columns
    print("\n".join(table_lines(report, width)), flush=True)
