"""lltd.codecs.option_table: the cwebp option table of the docs, generated from the option list.
Its header, the row of each kind of option (aliases, arguments, refused or without effect in the
Pillow backend, lltd cwebp only, compress's own meaning), Markdown escaping, and the rewrite
between the markers of a file (``python -m lltd.codecs.option_table FILE``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.codecs.option_table import BEGIN, END, _cell, main, render, replace_table

ROWS = [
    "| option | meaning (cwebp 1.2.4) | `--backend cwebp` | `--backend pillow` | in `compress` |",
    "| --- | --- | --- | --- | --- |",
]
EXPECTED = [
    "| `-h` / `-help` | short help | yes | yes | compress's own help |",
    "| `-H` / `-longhelp` | long help | yes | yes | refused (lltd cwebp only) |",
    "| `-q` `<float>` | quality factor (0:small..100:big) | yes | yes "
    "| yes; 100 means lossless (webp-converter's rule) |",
    "| `-z` `<int>` | lossless preset of given level (0:fast..9:slowest) | yes "
    "| yes: sets lossless, -m and -q as libwebp's WebPConfigLosslessPreset does | yes |",
    "| `-s` `<int> <int>` | input is raw YUV 4:2:0 of this width and height | yes | refused "
    "| refused (lltd cwebp only) |",
    "| `-mt` | use multi-threading if available | yes "
    "| accepted, no effect: speed only: cwebp's output is the same with and without it | yes |",
    "| `-version` | print version number and exit | yes | yes | refused (lltd cwebp only) |",
]


def test_the_table_has_its_header_then_one_row_per_option() -> None:
    from lltd.codecs.cwebp_options import OPTIONS

    table = render()
    assert table.endswith("|\n")
    lines = table.splitlines()
    assert lines[:2] == ROWS
    assert len(lines) == 2 + len(OPTIONS)


@pytest.mark.parametrize("row", EXPECTED)
def test_each_kind_of_option_reads_as_the_docs_show_it(row: str) -> None:
    assert row in render().splitlines()


def test_a_pipe_in_a_cell_is_escaped_so_the_table_keeps_its_columns() -> None:
    assert _cell("a|b|c") == "a\\|b\\|c"
    assert _cell("plain") == "plain"


def test_the_table_is_rewritten_between_its_markers_and_nothing_else_changes() -> None:
    text = f"head ü\n{BEGIN}\nold table\n{END}\ntail\n"
    assert replace_table(text) == f"head ü\n{BEGIN}\n{render()}{END}\ntail\n"
    assert replace_table(replace_table(text)) == replace_table(text)


@pytest.mark.parametrize("text", ["no markers", f"{BEGIN} only the first", f"{END} only the end"])
def test_a_text_without_both_markers_is_refused_naming_them(text: str) -> None:
    with pytest.raises(SystemExit) as refused:
        replace_table(text)
    assert str(refused.value) == f"the markers {BEGIN!r} and {END!r} are missing"


def test_main_rewrites_the_file_in_utf8_and_needs_a_file(tmp_path: Path) -> None:
    page = tmp_path / "cwebp.md"
    page.write_text(f"é\n{BEGIN}\n{END}\n", encoding="utf-8")
    assert main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == f"é\n{BEGIN}\n{render()}{END}\n"
    with pytest.raises(SystemExit) as usage:
        main([])
    assert str(usage.value) == "usage: python -m lltd.codecs.option_table FILE"
