"""lltd.codecs.option_table: the cwebp option table of the docs, generated from the option list.
Its header, the row of each kind of option (aliases, arguments, refused or without effect in the
Pillow backend, lltd cwebp only, compress's own meaning) and Markdown escaping."""

from __future__ import annotations

import pytest

from lltd.codecs.option_table import _cell, render

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
