"""Contracts of evaluate's report writer (lltd/evaluate/report.py), pinned exactly: the Markdown
of a report with every section, each section's empty and edge cases, the CSV files, the
lltd.report/1 document, which files are written, and the terminal table's first line (issue 27).
"""

# ruff: noqa: E501  (the expected Markdown is quoted verbatim, long lines included)
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lltd.evaluate.report import (
    MATCH_FIELDS,
    SWEEP_FIELDS,
    as_document,
    epsilon_label,
    markdown,
    print_table,
    sanity_lines,
    status,
    table,
    write_report,
)


def full_report() -> dict[str, Any]:
    """Two defenses, three attacks (one cell not measured), every optional section."""
    rows = [
        {"attack": "none", "defense": "none", "accuracy": 0.9, "restored": None, "n": 10},
        {"attack": "none", "defense": "webp", "accuracy": 0.85, "restored": None, "n": 10},
        {"attack": "fgsm", "defense": "none", "accuracy": 0.125, "restored": None, "n": 10},
        {"attack": "fgsm", "defense": "webp", "accuracy": 0.6, "restored": 0.5, "n": 10},
        {"attack": "bpda-pgd", "defense": "webp", "accuracy": 0.3, "restored": 0.0, "n": 10},
    ]
    return {
        "model": "reference", "data": "reference:test", "n_images": 10, "rows": rows,
        "parameters": {"seed": 0, "defense_labels": {"webp": "webp q60"}},  # sorted when shown
        "worst_case": {
            "none": {"clean": 0.9, "accuracy": 0.1, "attack": "fgsm", "n": 10,
                     "interval": [0.0179, 0.4042]},
            "webp": {"clean": 0.85, "accuracy": 0.2, "attack": "union", "n": 10,
                     "interval": [0.0567, 0.5098], "robust": 2,
                     "alone": {"none": 9, "fgsm": 6, "bpda-pgd": 3},
                     "min_row": {"accuracy": 0.3, "attack": "bpda-pgd"}},
        },
        "by_source": {
            "a": {"n": 6, "none": {"clean": 1.0, "worst": 0.5}, "webp": {"clean": 0.5, "worst": 0.0}},
            "b": {"n": 4, "none": {"clean": 0.75, "worst": 0.25}, "webp": {"clean": 0.25, "worst": 0.125}},
        },
        "attacks": [
            {"attack": "fgsm", "epsilon": 8 / 255, "steps": None, "fooled": 0.875, "seconds": 1.25},
            {"attack": "bpda-pgd", "against": "webp", "epsilon": None, "steps": 20,
             "fooled": 0.5, "seconds": 12.0},
        ],
        "sweep": [
            {"codec": "webp", "quality": 10, "attack": "none", "accuracy": 0.5, "mean_bytes": 300.0, "n": 10},
            {"codec": "jpeg", "quality": 10, "attack": "none", "accuracy": 0.25, "mean_bytes": 900.5, "n": 10},
        ],
        "match_size": [
            {"codec": "webp", "quality": 20, "webp_quality": 20, "mean_bytes": 412.4, "size_ratio": 1.0,
             "bits_per_pixel": 0.805, "clean": 0.9, "oblivious": 0.5, "adaptive": None, "worst": 0.5, "n": 10},
            {"codec": "jpeg", "quality": 3, "webp_quality": 20, "mean_bytes": 640.6, "size_ratio": 1.553,
             "bits_per_pixel": 1.2512, "clean": 0.8, "oblivious": 0.4, "adaptive": 0.3, "worst": 0.2, "n": 10},
        ],
        "adaptive": {"steps": 20, "eot": 1},
        "sanity": [
            {"name": "BPDA through identity == plain PGD", "passed": True, "detail": "10/10 identical"},
            {"name": "steps flatten (none)", "passed": None, "detail": "nothing left"},
        ],
        "curves": {
            "webp": {"epsilon": [[1 / 255, 0.8], [0.5 / 255, 0.9]], "steps": [[0, 0.85], [10, 0.3]]},
            "none": {"steps": [[0, 0.9]]},
        },
        "skipped": [],
        "timings_s": {"total": 3.5},
    }  # fmt: skip


FULL_MARKDOWN = """\
# reference on reference:test (10 images)

All 1 informative sanity checks of the adaptive attacks passed; 1 more had nothing to test (not informative) (listed at the end).

## Worst case per defense: top-1 accuracy (%) under the strongest attack run

| defense | clean | worst case | 95 % interval | worst attack | n |
| --- | ---: | ---: | ---: | ---: | ---: |
| none | 90.0 | **10.0** | 1.8-40.4 | fgsm | 10 |
| webp q60 | 85.0 | **20.0** | 5.7-51.0 | union | 10 |

Worst case = the share of images the defended classifier gets right clean and under every attack below (oblivious, precomputed, and with `--adaptive` every BPDA-PGD run and Square): per image, the attacker picks whichever attack works. Intervals: Wilson score, 95 %.

Images left (of n): an image counts as robust only if the defended classifier gets it right clean and under every attack of the report (each oblivious attack, each precomputed set, every adaptive run); each attack alone leaves more.

| defense | every attack (union) | clean | fgsm | bpda-pgd | minimum of the rows |
| --- | ---: | ---: | ---: | ---: | ---: |
| webp q60 | **2** | 9 | 6 | 3 | 3 (bpda-pgd) |

## Per data set: clean and worst-case accuracy (%)

| source | n | none clean / worst | webp q60 clean / worst |
| --- | ---: | ---: | ---: |
| a | 6 | 100.0 / 50.0 | 50.0 / 0.0 |
| b | 4 | 75.0 / 25.0 | 25.0 / 12.5 |

## Top-1 accuracy (%) per attack and defense

| attack | none | webp q60 |
| --- | ---: | ---: |
| none | 90.0 | 85.0 |
| fgsm | 12.5 | 60.0 |
| bpda-pgd | - | 30.0 |

Rows: the attack (`none` = clean images). Columns: the defense applied before classification. Oblivious attacks are computed once against the undefended model and saved as 8-bit images; `precomputed:` rows are images made elsewhere (`--adversarial`). `bpda-pgd` attacks each defended model end to end (the real defense forward, its differentiable surrogate backward; EOT over the randomised defenses' draws); `square` is the gradient-free Square attack run on the images BPDA-PGD left standing, so its row is both attacks together.

## Restored (%): of the images the attack fooled, how many the defense brings back

| attack | none | webp q60 |
| --- | ---: | ---: |
| none | - | - |
| fgsm | - | 50.0 |
| bpda-pgd | - | 0.0 |

## Attacks

| attack | against | epsilon (L-inf) | steps | fooled (%) | seconds |
| --- | --- | ---: | ---: | ---: | ---: |
| fgsm | none | 0.0314 | - | 87.5 | 1.2 |
| bpda-pgd | webp | - | 20 | 50.0 | 12.0 |

Adaptive settings: `{"eot": 1, "steps": 20}`

## Sanity checks

- passed: BPDA through identity == plain PGD: 10/10 identical
- not informative: steps flatten (none): nothing left

Accuracy (%) against epsilon on webp: 1/255: 80.0, 0.5/255 (floored to 0/255): 90.0

Accuracy (%) against BPDA-PGD steps:

- webp: 0: 85.0, 10: 30.0
- none: 0: 90.0

## WebP against JPEG at equal size (`--match-size`)

Each WebP quality is paired with the JPEG quality of the closest mean size on these images (x WebP's: its size over WebP's; far from 1 where no JPEG quality gets that small). oblivious (all): right under every oblivious attack; worst: that and BPDA-PGD.

| codec | quality | mean bytes | x WebP's | bits/pixel | clean | oblivious (all) | adaptive (BPDA-PGD) | worst |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| webp | 20 | 412 | 1.00 | 0.81 | 90.0 | 50.0 | - | **50.0** |
| jpeg | 3 | 641 | 1.55 | 1.25 | 80.0 | 40.0 | 30.0 | **20.0** |

Parameters: `{"defense_labels": {"webp": "webp q60"}, "seed": 0}`
"""


def test_markdown_of_a_report_with_every_section_is_exact() -> None:
    assert markdown(full_report()) == FULL_MARKDOWN


def test_check_verdicts_name_the_check_that_could_not_fail() -> None:
    assert [status(True), status(False), status(None)] == ["passed", "FAILED", "not informative"]


def test_epsilon_labels_whole_levels_and_rounding() -> None:
    assert epsilon_label(0.0) == "0/255"
    assert epsilon_label(16 / 255) == "16/255"
    assert epsilon_label(3 / 255 - 1e-9) == "3/255"  # a float a hair below a level is that level
    assert epsilon_label(1 / 3 / 255) == "0.3333/255 (floored to 0/255)"
    assert epsilon_label(2.5 / 255) == "2.5/255 (floored to 2/255)"
    # The tolerance is 1e-6 of a level either way: 1.5e-6 below a level is the level below it,
    # 1.5e-6 above it is floored to it.
    assert epsilon_label((3 - 1.5e-6) / 255) == "3/255 (floored to 2/255)"
    assert epsilon_label((3 + 1.5e-6) / 255) == "3/255 (floored to 3/255)"
    assert epsilon_label((3 - 0.5e-6) / 255) == epsilon_label((3 + 0.5e-6) / 255) == "3/255"


def test_table_puts_attacks_in_rows_defenses_in_columns_and_dashes_what_was_not_measured() -> None:
    header, body = table(full_report())
    assert header == ["attack", "none", "webp q60"]
    assert body == [["none", "90.0", "85.0"], ["fgsm", "12.5", "60.0"], ["bpda-pgd", "-", "30.0"]]
    assert table(full_report(), "restored")[1] == [
        ["none", "-", "-"], ["fgsm", "-", "50.0"], ["bpda-pgd", "-", "0.0"]
    ]  # fmt: skip


def _checks(*verdicts: bool | None) -> dict[str, Any]:
    return {
        "sanity": [
            {"name": f"c{i}", "passed": v, "detail": f"d{i}"} for i, v in enumerate(verdicts)
        ]
    }


def test_sanity_lines_for_none_failed_idle_and_passed_checks() -> None:
    assert (
        sanity_lines({})
        == sanity_lines({"sanity": None})
        == [
            "No adaptive attack was run (`--adaptive`): the worst case below covers only attacks "
            "that do not know the defense.",
            "",
        ]
    )
    assert sanity_lines(_checks(True, False, None, False)) == [
        "**SANITY CHECKS FAILED (2 of 4)**: the adaptive figures below are not trustworthy "
        "until these pass:",
        "",
        "- FAILED c1: d1",
        "- FAILED c3: d3",
        "",
    ]
    assert sanity_lines(_checks(None, None)) == [
        "**NO SANITY CHECK COULD FAIL** on this run (all 2 had nothing to test): the adaptive "
        "figures below are unchecked.",
        "",
    ]
    assert sanity_lines(_checks(True, True)) == [
        "All 2 informative sanity checks of the adaptive attacks passed (listed at the end).",
        "",
    ]


def _minimal(**extra: Any) -> dict[str, Any]:
    """A report without adaptive attacks, sources, match-size or survivor counts."""
    report = full_report()
    for name in ("adaptive", "sanity", "curves", "by_source", "match_size"):
        report.pop(name)
    report["worst_case"]["webp"] = {
        k: v
        for k, v in report["worst_case"]["webp"].items()
        if k not in ("alone", "robust", "min_row")
    }
    return report | extra


def test_images_left_dash_what_an_attack_alone_did_not_count() -> None:
    report = full_report()
    report["worst_case"]["none"] |= {
        "robust": 1, "alone": {"fgsm": 1}, "min_row": {"accuracy": 0.125, "attack": "fgsm"}
    }  # fmt: skip
    table = markdown(report).split("Images left (of n)")[1].split("\n\n")[1]
    assert table.split("\n")[2:] == [
        "| none | **1** | - | 1 | - | 1 (fgsm) |",
        "| webp q60 | **2** | 9 | 6 | 3 | 3 (bpda-pgd) |",
    ]


def test_markdown_without_the_optional_sections_leaves_them_out() -> None:
    text = markdown(_minimal())
    lines = text.split("\n")
    assert lines[2:4] == [
        "No adaptive attack was run (`--adaptive`): the worst case below covers only attacks "
        "that do not know the defense.",
        "",
    ]
    for absent in ("Images left", "## Per data set", "Adaptive settings", "## Sanity checks",
                   "Accuracy (%) against", "## WebP against JPEG"):  # fmt: skip
        assert absent not in text
    assert (
        "saved as 8-bit images; `precomputed:` rows are images made elsewhere (`--adversarial`). No adaptive attack was run (`--adaptive`).\n"
        in text
    )
    assert text.endswith(
        "| bpda-pgd | webp | - | 20 | 50.0 | 12.0 |\n\n"
        'Parameters: `{"defense_labels": {"webp": "webp q60"}, "seed": 0}`\n'
    )
    # One source is no comparison; an empty list of match-size entries is none.
    one = {"a": {"n": 10, "none": {"clean": 1.0, "worst": 0.5}}}
    assert markdown(_minimal(by_source=one, match_size=[])) == text


def test_adaptive_curves_without_epsilon_or_steps_print_no_curve_lines() -> None:
    report = full_report() | {"curves": {"webp": {"other": []}}}
    text = markdown(report)
    assert "Accuracy (%) against" not in text
    assert "- not informative: steps flatten (none): nothing left\n\n## WebP against JPEG" in text
    report.pop("curves")
    assert markdown(report) == text


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def test_write_report_writes_every_file_atomically_and_returns_them_in_order(
    tmp_path: Path,
) -> None:
    out = tmp_path / "new" / "report"
    written = write_report(full_report(), out, plots=False)
    names = ["results.json", "results.csv", "results.md", "sweep.csv", "match_size.csv"]
    assert written == [out / name for name in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary left behind
    assert (out / "results.md").read_text() == FULL_MARKDOWN
    assert (out / "results.csv").read_text() == (
        "attack,defense,accuracy,restored,n\n"
        "none,none,0.9,,10\nnone,webp,0.85,,10\nfgsm,none,0.125,,10\n"
        "fgsm,webp,0.6,0.5,10\nbpda-pgd,webp,0.3,0.0,10\n"
    )
    assert (out / "sweep.csv").read_text() == (
        "codec,quality,attack,accuracy,mean_bytes,n\n"
        "webp,10,none,0.5,300.0,10\njpeg,10,none,0.25,900.5,10\n"
    )
    match = _rows((out / "match_size.csv").read_bytes())
    assert match[0] == list(MATCH_FIELDS) == [
        "codec", "quality", "webp_quality", "mean_bytes", "size_ratio", "bits_per_pixel",
        "clean", "oblivious", "adaptive", "worst", "n",
    ]  # fmt: skip
    assert match[1:] == [
        ["webp", "20", "20", "412.4", "1.0", "0.805", "0.9", "0.5", "", "0.5", "10"],
        ["jpeg", "3", "20", "640.6", "1.553", "1.2512", "0.8", "0.4", "0.3", "0.2", "10"],
    ]
    assert list(SWEEP_FIELDS) == _rows((out / "sweep.csv").read_bytes())[0]
    document = json.loads((out / "results.json").read_text())
    assert (out / "results.json").read_text().startswith('{\n  "schema": "lltd.report/1",\n')
    assert (out / "results.json").read_text().endswith("\n  }\n}\n")
    assert document == json.loads(json.dumps(as_document(full_report(), out)))


def test_write_report_leaves_out_an_empty_sweep_and_match_size(tmp_path: Path) -> None:
    report = _minimal(sweep=[])
    assert [p.name for p in write_report(report, tmp_path, plots=False)] == [
        "results.json", "results.csv", "results.md"
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "results.csv",
        "results.json",
        "results.md",
    ]


def test_write_report_with_plots_adds_the_plots_of_what_the_report_holds(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    written = write_report(full_report(), tmp_path / "all")
    assert [p.name for p in written][5:] == ["accuracy.png", "quality.png", "size.png"]
    for path in written[5:]:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    written = write_report(_minimal(sweep=[]), tmp_path / "some")
    assert [p.name for p in written] == [
        "results.json",
        "results.csv",
        "results.md",
        "accuracy.png",
    ]


def test_document_is_lltd_report_1_with_settings_files_and_totals(tmp_path: Path) -> None:
    unreadable = tmp_path / "broken.png"
    unreadable.write_bytes(b"12345")
    report = full_report() | {"skipped": [str(unreadable), str(tmp_path / "gone.png")]}
    document = as_document(report, tmp_path / "out")
    assert list(document)[:6] == [
        "schema",
        "command",
        "lltd_version",
        "input",
        "output",
        "settings",
    ]
    assert document["schema"] == "lltd.report/1" and document["command"] == "evaluate"
    assert document["input"] == "reference:test" and document["output"] == str(tmp_path / "out")
    assert document["settings"] == {"defense_labels": {"webp": "webp q60"}, "seed": 0}
    assert "parameters" not in document and document["rows"] == report["rows"]
    assert document["files"] == [
        {"input": str(unreadable), "output": None, "outcome": "failed", "bytes_before": 5,
         "bytes_after": None, "error": "skipped: not readable as an image"},
        {"input": str(tmp_path / "gone.png"), "output": None, "outcome": "failed",
         "bytes_before": None, "bytes_after": None, "error": "skipped: not readable as an image"},
    ]  # fmt: skip
    assert document["totals"] == {"files": 12, "evaluated": 10, "failed": 2, "seconds": 3.5}
    report.pop("skipped")
    report.pop("timings_s")
    bare = as_document(report, tmp_path)
    assert bare["files"] == []
    assert bare["totals"] == {"files": 10, "evaluated": 10, "failed": 0, "seconds": 0.0}


def test_print_table_says_the_sanity_verdict_on_stderr_and_fits_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lltd.evaluate.terminal import table_lines

    monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal: 80 columns
    report = full_report()
    report["sanity"][1]["passed"] = False
    # Eight more attacks: their legend wraps differently at 80 and 81 columns.
    report["rows"] += [
        {"attack": f"precomputed:a{i}", "defense": "webp", "accuracy": 0.5, "n": 10}
        for i in range(8)
    ]
    assert table_lines(report, 80) != table_lines(report, 81)
    print_table(report)
    captured = capsys.readouterr()
    assert captured.err == (
        "SANITY CHECKS FAILED (1 of 2): the adaptive figures below are not trustworthy until "
        "these pass:\n"
    )
    assert captured.out == "\n".join(table_lines(report, 80)) + "\n"
    print_table(report, 24)
    assert capsys.readouterr() == ("\n".join(table_lines(report, 24)) + "\n", captured.err)
    print_table(_minimal())
    assert capsys.readouterr().err == (
        "No adaptive attack was run (`--adaptive`): the worst case below covers only attacks "
        "that do not know the defense.\n"
    )


def test_print_table_flushes_the_table_before_the_command_says_more_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lltd.evaluate.terminal import table_lines

    # stdout as a pipe is block-buffered: unflushed, the table would reach a shared log after
    # the "lltd: wrote ..." line that `lltd evaluate` prints on stderr next.
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8"))
    print_table(full_report(), 80)
    assert raw.getvalue().decode() == "\n".join(table_lines(full_report(), 80)) + "\n"
