"""Contracts of evaluate's terminal table (lltd/evaluate/terminal.py), pinned exactly: the
column names, the cells, how the width splits the attacks into tables, the legend (issue 27)."""

from __future__ import annotations

from typing import Any

from lltd.evaluate.terminal import columns, table_lines

OBLIVIOUS = ["none", "deepfool", "fgsm", "bim", "pgd", "cw"]


def _report(
    cells: dict[tuple[str, str], float], labels: dict[str, str], worst: dict[str, Any]
) -> dict[str, Any]:
    rows = [{"attack": a, "defense": d, "accuracy": v, "n": 60} for (a, d), v in cells.items()]
    return {
        "model": "reference", "data": "reference:test", "n_images": 60, "rows": rows,
        "parameters": {"defense_labels": labels}, "worst_case": worst,
    }  # fmt: skip


def _wide(attacks: list[str], label: str = "webp q60") -> dict[str, Any]:
    """One defense labelled ``label`` against every attack (the width tests' report)."""
    cells = {(attack, "webp"): 0.5 for attack in attacks}
    return _report(cells, {"webp": label}, {"webp": {"accuracy": 0.25}})


def _headers(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("defense")]


def _legend(lines: list[str]) -> list[str]:
    return lines[len(lines) - lines[::-1].index("") :]


def test_oblivious_attacks_get_their_short_names_and_the_others_are_numbered_a1_a2() -> None:
    attacks = [*OBLIVIOUS, "precomputed:adversarial-fgsm", "bpda-pgd"]
    assert columns(attacks) == {
        "none": "clean", "deepfool": "DF", "fgsm": "FGSM", "bim": "BIM", "pgd": "PGD",
        "cw": "CW", "precomputed:adversarial-fgsm": "A1", "bpda-pgd": "A2",
    }  # fmt: skip


def test_table_is_exact_title_groups_cells_missing_dash_worst_and_wrapped_legend() -> None:
    # Labels shorter than "defense" are padded to it; a missing cell shows "-"; 32 columns
    # hold exactly three attack columns and the worst one (31 characters, one column spare).
    cells = {
        ("none", "none"): 0.9, ("none", "webp"): 0.85, ("fgsm", "none"): 0.1,
        ("fgsm", "webp"): 0.625, ("precomputed:adv-df", "none"): 0.0,
        ("square", "none"): 1.0, ("square", "webp"): 0.5,
    }  # fmt: skip
    worst = {"none": {"accuracy": 0.0}, "webp": {"accuracy": 0.5}}
    lines = table_lines(_report(cells, {"none": "none", "webp": "webp"}, worst), 32)
    assert lines == [
        "Top-1 accuracy (%), reference on reference:test (60 images)",
        "",
        "defense clean  FGSM    A1 worst",
        "none     90.0  10.0   0.0   0.0",
        "webp     85.0  62.5     -  50.0",
        "",
        "defense    A2 worst",
        "none    100.0   0.0",
        "webp     50.0  50.0",
        "",
        "clean = no attack, FGSM = fgsm,",
        "A1 = precomputed:adv-df,",
        "A2 = square,",
        "worst = the worst case (results.md says how it is counted)",
    ]


def test_defense_without_a_label_shows_its_name_and_missing_worst_shows_dash() -> None:
    cells = {("pgd", "webp+flip"): 0.125}
    lines = table_lines(_report(cells, {}, {"webp+flip": {}}), 80)
    assert lines[2:4] == ["defense     PGD worst", "webp+flip  12.5     -"]


def test_legend_lines_with_their_commas_never_pass_the_width() -> None:
    # "clean = no attack, FGSM = fgsm" is 30 characters, 31 with the comma a next item adds:
    # it fits 31 columns, not 30 (it once came out 31 wide in 30 columns).
    report = _wide(["none", "fgsm", "bim"])
    assert table_lines(report, 31)[-3:] == [
        "clean = no attack, FGSM = fgsm,",
        "BIM = bim,",
        "worst = the worst case (results.md says how it is counted)",
    ]
    assert table_lines(report, 30)[-3:] == [
        "clean = no attack,",
        "FGSM = fgsm, BIM = bim,",
        "worst = the worst case (results.md says how it is counted)",
    ]


def test_each_table_takes_every_attack_column_that_fits_one_column_short_of_the_width() -> None:
    attacks = [*OBLIVIOUS, *(f"set-{n}" for n in range(10))]
    report = _wide(attacks)  # first column 8 wide, then 6 per attack and 6 for worst
    for width in range(21, 121):
        lines = table_lines(report, width)
        headers = _headers(lines)
        fit = (width - 1 - 8 - 6) // 6
        assert [len(h) for h in headers[:-1]] == [8 + 6 * fit + 6] * (len(headers) - 1), width
        assert len(headers) == -(-len(attacks) // fit), width  # as few tables as fit
        table, legend = lines[1 : -len(_legend(lines))], _legend(lines)
        assert all(len(line) < width for line in table), width
        assert all(len(line) <= width for line in legend if not line.startswith("worst =")), width
        shown = [name for h in headers for name in h.split()[1:-1]]
        assert shown == list(columns(attacks).values()), width  # each attack once, in order


def test_too_narrow_a_terminal_still_gets_one_attack_column_per_table() -> None:
    attacks = ["none", "fgsm", "pgd", "cw"]
    for width in (1, 20, 26):  # no column fits beside the label and worst, then exactly one
        headers = _headers(table_lines(_wide(attacks), width))
        assert headers == [f"defense {name:>6} worst" for name in columns(attacks).values()]


def test_default_width_is_80_columns() -> None:
    # First column 8: 80 columns hold 10 attack columns (79 characters), 81 would hold 11.
    report = _wide([*OBLIVIOUS, *(f"set-{n}" for n in range(5))])
    assert [len(h) for h in _headers(table_lines(report))] == [74, 20]
    assert table_lines(report) == table_lines(report, 80)
    assert len(_headers(table_lines(report, 81))) == 1
