"""The report's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def accuracy_plot(report: dict[str, Any]) -> bytes:
    """Grouped bars: one group per defense, one bar per attack."""
    rows = report["rows"]
    labels = report["parameters"]["defense_labels"]
    attacks = list(dict.fromkeys(row["attack"] for row in rows))
    defenses = list(dict.fromkeys(row["defense"] for row in rows))
    cells = {(row["attack"], row["defense"]): row["accuracy"] for row in rows}
    figure, axes = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(attacks)
    for k, attack in enumerate(attacks):
        xs = [i + (k - (len(attacks) - 1) / 2) * width for i in range(len(defenses))]
        ys = [100 * cells.get((attack, defense), float("nan")) for defense in defenses]
        axes.bar(xs, ys, width, label=attack)
    axes.set_xticks(range(len(defenses)), [labels.get(d, d) for d in defenses], fontsize=8)
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 100)
    axes.set_title(f"{report['model']} on {report['data']} ({report['n_images']} images)")
    axes.legend(fontsize=7, ncol=len(attacks), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def quality_plot(report: dict[str, Any]) -> bytes:
    """Accuracy (per attack) and mean encoded size (clean images) against WebP / JPEG quality."""
    sweep = report["sweep"]
    attacks = list(dict.fromkeys(row["attack"] for row in sweep))
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for codec, style in (("webp", "-"), ("jpeg", "--")):
        for k, attack in enumerate(attacks):
            points = sorted(
                (r["quality"], 100 * r["accuracy"])
                for r in sweep
                if r["codec"] == codec and r["attack"] == attack
            )
            left.plot(
                *zip(*points, strict=True),
                style,
                color=colors[k % len(colors)],
                marker=".",
                label=f"{codec}, {attack}",
            )
        points = sorted(
            (r["quality"], r["mean_bytes"])
            for r in sweep
            if r["codec"] == codec and r["attack"] == "none"
        )
        right.plot(*zip(*points, strict=True), style, color="black", marker=".", label=codec)
    left.set_xlabel("quality")
    left.set_ylabel("top-1 accuracy (%)")
    left.set_ylim(0, 100)
    left.grid(alpha=0.3)
    left.legend(fontsize=6, ncol=2)
    left.set_title("accuracy (solid: WebP, dashed: JPEG)", fontsize=9)
    right.set_xlabel("quality")
    right.set_ylabel("mean encoded size of the clean images (bytes)")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    right.set_title(f"size ({report['n_images']} images)", fontsize=9)
    figure.tight_layout()
    return _png(figure)


def size_plot(report: dict[str, Any]) -> bytes:
    """``--match-size``: accuracy against bits per pixel, one line per codec (solid: the worst
    case with the adaptive attack, dashed: oblivious attacks only)."""
    entries = report["match_size"]
    figure, axes = plt.subplots(figsize=(6.5, 4))
    colors = {"webp": "tab:blue", "jpeg": "tab:orange"}
    adaptive = any(e["adaptive"] is not None for e in entries)
    for codec, color in colors.items():
        mine = sorted((e for e in entries if e["codec"] == codec), key=lambda e: e["mean_bytes"])
        xs = [e["bits_per_pixel"] for e in mine]
        axes.plot(xs, [100 * e["oblivious"] for e in mine], "--", color=color, marker=".",
                  label=f"{codec}, oblivious attacks")  # fmt: skip
        if adaptive:
            axes.plot(xs, [100 * e["worst"] for e in mine], "-", color=color, marker="o",
                      label=f"{codec}, worst case (adaptive too)")  # fmt: skip
        for e, x in zip(mine, xs, strict=True):
            axes.annotate(f"q{e['quality']}", (x, 100 * e["oblivious"]), fontsize=6,
                          textcoords="offset points", xytext=(2, 3))  # fmt: skip
    axes.set_xlabel("mean bits per pixel of the encoded clean images")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    axes.set_title(f"WebP vs JPEG at equal size ({report['n_images']} images)", fontsize=9)
    figure.tight_layout()
    return _png(figure)
