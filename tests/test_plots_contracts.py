"""Contracts of the report's plots (lltd/evaluate/plots.py), pinned exactly on the figures
matplotlib builds: which bars and lines at which coordinates, their styles, labels, titles,
limits, legends and grids; and the PNG they are written as (size at 90 dpi, figure closed)
(issue 27). No torch: the plots need only matplotlib."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt
from matplotlib.colors import to_hex

from lltd.evaluate import plots

BLUE, ORANGE, BLACK = "#1f77b4", "#ff7f0e", "#000000"  # tab:blue, tab:orange, black


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch):
    """The figures the plots hand to ``_png`` (instead of their PNG bytes)."""
    kept: list[Any] = []

    def keep(figure: Any) -> bytes:
        kept.append(figure)
        return b"PNG"

    monkeypatch.setattr(plots, "_png", keep)
    yield kept
    plt.close("all")


def _report() -> dict[str, Any]:
    rows = [
        {"attack": a, "defense": d, "accuracy": v}
        for a, d, v in [
            ("none", "none", 0.9), ("none", "webp", 0.8), ("fgsm", "none", 0.1),
            ("fgsm", "webp", 0.5), ("pgd", "webp", 0.25),
        ]
    ]  # fmt: skip
    sweep = [
        {"codec": c, "quality": q, "attack": a, "accuracy": v, "mean_bytes": b}
        for c, q, a, v, b in [
            ("webp", 80, "none", 0.9, 900.0), ("webp", 20, "none", 0.7, 300.0),
            ("webp", 20, "fgsm", 0.4, 310.0), ("webp", 80, "fgsm", 0.3, 910.0),
            ("jpeg", 20, "none", 0.6, 700.0), ("jpeg", 80, "none", 0.85, 1500.0),
            ("jpeg", 20, "fgsm", 0.5, 710.0), ("jpeg", 80, "fgsm", 0.2, 1510.0),
        ]
    ]  # fmt: skip
    match = [
        {"codec": c, "quality": q, "mean_bytes": b, "bits_per_pixel": bpp, "oblivious": o,
         "adaptive": ad, "worst": w}
        for c, q, b, bpp, o, ad, w in [
            ("webp", 80, 900.0, 1.75, 0.6, None, 0.6), ("webp", 20, 300.0, 0.5, 0.4, None, 0.4),
            ("jpeg", 9, 310.0, 0.6, 0.3, None, 0.3), ("jpeg", 40, 905.0, 1.8, 0.5, None, 0.5),
        ]
    ]  # fmt: skip
    return {
        "model": "reference", "data": "reference:test", "n_images": 12, "rows": rows,
        "parameters": {"defense_labels": {"webp": "webp q60"}}, "sweep": sweep,
        "match_size": match,
    }  # fmt: skip


def _legend(axes: Any) -> list[str]:
    return [text.get_text() for text in axes.get_legend().get_texts()]


def _anchor(axes: Any) -> tuple[float, ...]:
    legend = axes.get_legend()
    bounds = legend.get_bbox_to_anchor().transformed(axes.transAxes.inverted()).bounds
    return tuple(round(float(v), 6) for v in bounds)


def _lines(axes: Any) -> list[tuple]:
    return [
        (line.get_label(), line.get_linestyle(), to_hex(line.get_color()), line.get_marker(),
         [float(x) for x in line.get_xdata()], [round(float(y), 6) for y in line.get_ydata()])
        for line in axes.get_lines()
    ]  # fmt: skip


def _laid_out(figure: Any, axes: Any) -> bool:
    """tight_layout moved the axes from matplotlib's default subplot box."""
    return tuple(round(v, 3) for v in axes.get_position().bounds) != (0.125, 0.11, 0.775, 0.77)


def _grid(axis: Any) -> tuple[bool, float | None]:
    line = axis.get_gridlines()[0]
    return line.get_visible(), line.get_alpha()


def test_accuracy_plot_groups_bars_by_defense_one_bar_per_attack(figures: list) -> None:
    assert plots.accuracy_plot(_report()) == b"PNG"
    (figure,) = figures
    assert tuple(figure.get_size_inches()) == (9, 3.8)
    (axes,) = figure.axes
    bars = [(round(p.get_x() + p.get_width() / 2, 6), round(p.get_width(), 6), p.get_height())
            for p in axes.patches]  # fmt: skip
    width = 0.8 / 3
    centres = [[i + (k - 1) * width for i in range(2)] for k in range(3)]
    heights = [[90.0, 80.0], [10.0, 50.0], [None, 25.0]]
    expected = [
        (round(x, 6), round(width, 6), h)
        for xs, hs in zip(centres, heights, strict=True)
        for x, h in zip(xs, hs, strict=True)
    ]
    assert [b[:2] for b in bars] == [e[:2] for e in expected]
    assert [b[2] for b in bars[:4]] == [90.0, 80.0, 10.0, 50.0]
    assert np.isnan(bars[4][2]) and bars[5][2] == 25.0  # pgd was not run without a defense
    assert [t.get_text() for t in axes.get_xticklabels()] == ["none", "webp q60"]
    assert list(axes.get_xticks()) == [0, 1]
    assert {t.get_fontsize() for t in axes.get_xticklabels()} == {8.0}
    assert axes.get_ylabel() == "top-1 accuracy (%)"
    assert axes.get_ylim() == (0.0, 100.0)
    assert axes.get_title() == "reference on reference:test (12 images)"
    assert _legend(axes) == ["none", "fgsm", "pgd"]
    legend = axes.get_legend()
    assert {t.get_fontsize() for t in legend.get_texts()} == {7.0}
    assert legend._ncols == 3 and legend._loc == 9  # upper center
    assert _anchor(axes) == (0.5, -0.12, 0.0, 0.0)
    assert _grid(axes.yaxis) == (True, 0.3) and _grid(axes.xaxis)[0] is False
    assert _laid_out(figure, axes)


def test_quality_plot_is_accuracy_and_size_against_quality_per_codec(figures: list) -> None:
    plots.quality_plot(_report())
    (figure,) = figures
    assert tuple(figure.get_size_inches()) == (10, 3.8)
    left, right = figure.axes
    assert _lines(left) == [
        ("webp, none", "-", BLUE, ".", [20.0, 80.0], [70.0, 90.0]),
        ("webp, fgsm", "-", ORANGE, ".", [20.0, 80.0], [40.0, 30.0]),
        ("jpeg, none", "--", BLUE, ".", [20.0, 80.0], [60.0, 85.0]),
        ("jpeg, fgsm", "--", ORANGE, ".", [20.0, 80.0], [50.0, 20.0]),
    ]
    assert _lines(right) == [
        ("webp", "-", BLACK, ".", [20.0, 80.0], [300.0, 900.0]),
        ("jpeg", "--", BLACK, ".", [20.0, 80.0], [700.0, 1500.0]),
    ]
    assert (left.get_xlabel(), left.get_ylabel()) == ("quality", "top-1 accuracy (%)")
    assert (right.get_xlabel(), right.get_ylabel()) == (
        "quality", "mean encoded size of the clean images (bytes)"
    )  # fmt: skip
    assert left.get_ylim() == (0.0, 100.0) and right.get_ylim() != (0.0, 100.0)
    assert _grid(left.xaxis) == _grid(left.yaxis) == (True, 0.3)
    assert _grid(right.xaxis) == _grid(right.yaxis) == (True, 0.3)
    assert _legend(left) == ["webp, none", "webp, fgsm", "jpeg, none", "jpeg, fgsm"]
    assert {t.get_fontsize() for t in left.get_legend().get_texts()} == {6.0}
    assert left.get_legend()._ncols == 2
    assert _legend(right) == ["webp", "jpeg"]
    assert {t.get_fontsize() for t in right.get_legend().get_texts()} == {8.0}
    assert right.get_legend()._ncols == 1
    assert left.get_title() == "accuracy (solid: WebP, dashed: JPEG)"
    assert right.get_title() == "size (12 images)"
    assert left.title.get_fontsize() == right.title.get_fontsize() == 9.0
    assert _laid_out(figure, left)


def test_quality_plot_cycles_colours_past_the_last(figures: list) -> None:
    report = _report()
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    attacks = [f"a{k}" for k in range(len(colours) + 1)]
    report["sweep"] = [
        {"codec": c, "quality": 50, "attack": a, "accuracy": 0.5, "mean_bytes": 100.0}
        for c in ("webp", "jpeg")
        for a in ["none", *attacks]
    ]
    plots.quality_plot(report)
    left = figures[0].axes[0]
    assert [to_hex(line.get_color()) for line in left.get_lines()][: len(colours) + 2] == [
        *map(to_hex, colours), to_hex(colours[0]), to_hex(colours[1])
    ]  # fmt: skip


def test_size_plot_oblivious_dashed_per_codec_by_size_with_quality_labels(figures: list) -> None:
    plots.size_plot(_report())
    (figure,) = figures
    assert tuple(figure.get_size_inches()) == (6.5, 4)
    (axes,) = figure.axes
    assert _lines(axes) == [
        ("webp, oblivious attacks", "--", BLUE, ".", [0.5, 1.75], [40.0, 60.0]),
        ("jpeg, oblivious attacks", "--", ORANGE, ".", [0.6, 1.8], [30.0, 50.0]),
    ]
    notes = [(t.get_text(), tuple(map(float, t.xy)), t.get_fontsize(), t.xyann, t.anncoords)
             for t in axes.texts]  # fmt: skip
    assert notes == [
        ("q20", (0.5, 40.0), 6.0, (2, 3), "offset points"),
        ("q80", (1.75, 60.0), 6.0, (2, 3), "offset points"),
        ("q9", (0.6, 30.0), 6.0, (2, 3), "offset points"),
        ("q40", (1.8, 50.0), 6.0, (2, 3), "offset points"),
    ]
    assert axes.get_xlabel() == "mean bits per pixel of the encoded clean images"
    assert axes.get_ylabel() == "top-1 accuracy (%)"
    assert axes.get_ylim() == (0.0, 100.0)
    assert _grid(axes.xaxis) == _grid(axes.yaxis) == (True, 0.3)
    assert _legend(axes) == ["webp, oblivious attacks", "jpeg, oblivious attacks"]
    assert {t.get_fontsize() for t in axes.get_legend().get_texts()} == {7.0}
    assert axes.get_title() == "WebP vs JPEG at equal size (12 images)"
    assert axes.title.get_fontsize() == 9.0
    assert _laid_out(figure, axes)


def test_size_plot_with_an_adaptive_attack_adds_the_worst_case_solid(figures: list) -> None:
    report = _report()
    for entry, adaptive, worst in zip(report["match_size"], [0.5, 0.3, 0.2, None],
                                      [0.45, 0.25, 0.2, 0.1], strict=True):  # fmt: skip
        entry["adaptive"], entry["worst"] = adaptive, worst
    plots.size_plot(report)
    assert _lines(figures[0].axes[0]) == [
        ("webp, oblivious attacks", "--", BLUE, ".", [0.5, 1.75], [40.0, 60.0]),
        ("webp, worst case (adaptive too)", "-", BLUE, "o", [0.5, 1.75], [25.0, 45.0]),
        ("jpeg, oblivious attacks", "--", ORANGE, ".", [0.6, 1.8], [30.0, 50.0]),
        ("jpeg, worst case (adaptive too)", "-", ORANGE, "o", [0.6, 1.8], [20.0, 10.0]),
    ]


# Rendering last: the figure tests above fail first, and faster, on most mutants.
def test_png_is_the_figure_at_90_dpi_and_the_figure_is_closed() -> None:
    figure = plt.figure(figsize=(4, 2))
    data = plots._png(figure)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.size == (360, 180)
    assert not plt.fignum_exists(figure.number)


def test_the_plots_are_pngs_of_their_figure_sizes() -> None:
    report = _report()
    sizes = {}
    for name, plot in (("accuracy", plots.accuracy_plot), ("quality", plots.quality_plot),
                       ("size", plots.size_plot)):  # fmt: skip
        with Image.open(io.BytesIO(plot(report))) as image:
            sizes[name] = image.size
    assert sizes == {"accuracy": (810, 342), "quality": (900, 342), "size": (585, 360)}
    assert plt.get_fignums() == []
