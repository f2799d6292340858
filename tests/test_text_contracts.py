"""What reaches a log line or a terminal: every control character escaped, exactly.

:func:`lltd.common.text.printable` names files in one-line messages; :func:`one_line` makes a
whole message safe without escaping a second time what ``printable`` already escaped.
"""

from __future__ import annotations

import pytest

from lltd.common.text import one_line, printable

NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
CONTROLS = [*range(0x20), *range(0x7F, 0xA0)]  # C0, DEL and C1


@pytest.mark.parametrize("code", CONTROLS, ids=hex)
def test_printable_escapes_each_control_character_as_its_name_or_hex_code(code: int) -> None:
    char = chr(code)
    escaped = NAMED.get(char, "\\x" + format(code, "02x"))
    assert printable(f"a{char}b") == f"a{escaped}b"


@pytest.mark.parametrize("code", [0x20, 0x41, 0x7E, 0xA0, 0xE9, 0x263A], ids=hex)
def test_printable_keeps_every_printable_character_the_first_after_each_control_range(
    code: int,
) -> None:
    assert printable(f"a{chr(code)}b") == f"a{chr(code)}b"


def test_printable_escapes_a_backslash_so_the_escaped_form_reads_back_unambiguously() -> None:
    assert printable("a\\nb") == "a\\\\nb"  # a name holding backslash-n, not a newline
    assert printable("a\nb") == "a\\nb"


def test_one_line_escapes_controls_but_leaves_backslashes_for_names_printable_escaped() -> None:
    name = printable("x\ny.png")
    assert one_line(f"failed: {name}\nforged line\x1b[2J") == (
        "failed: x\\ny.png\\nforged line\\x1b[2J"
    )
    assert one_line("a\\b") == "a\\b"
    assert one_line(ValueError("bad\tvalue")) == "bad\\tvalue"  # any object, by str()
