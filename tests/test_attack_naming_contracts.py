"""The adversarial examples' file names (``lltd.attack.naming``, issue 27), in-process: every
unsafe character becomes ``_``, a name is at most 200 bytes with both labels kept in an exact
share of the budget, a multi-byte character is never cut in half, and each name is handed out
once per run whatever its case. Torch-free, as the module is."""

from __future__ import annotations

import pytest

from lltd.attack import naming
from lltd.attack.naming import MAX_NAME_BYTES, UniqueNames, adversarial_name, safe_part

#: What the module refuses: C0 controls, DEL, path separators and Windows' reserved characters.
UNSAFE = [chr(c) for c in range(0x20)] + ["\x7f", "/", "\\", ":", "*", "?", '"', "<", ">", "|"]


@pytest.mark.parametrize("char", UNSAFE, ids=[f"{ord(c):#04x}" for c in UNSAFE])
def test_every_unsafe_character_becomes_an_underscore(char: str) -> None:
    assert safe_part(f"a{char}b") == "a_b"


def test_safe_characters_are_kept_and_runs_of_spaces_become_one() -> None:
    kept = "yellow lady's slipper ~!#$%&'()+,;=@[]^`{}é€ (2)"
    assert safe_part(kept) == kept
    assert safe_part("a \t  b") == "a _ b"  # the tab is a control character, the spaces collapse
    assert safe_part("  rock   beauty  ") == "rock beauty"


def test_surrounding_dots_and_spaces_are_trimmed_and_nothing_left_is_an_underscore() -> None:
    assert safe_part(" . X-ray. ") == "X-ray"
    assert safe_part("X.Y") == "X.Y"  # inner dots stay
    assert safe_part("") == "_"
    assert safe_part(" . .. ") == "_"


def test_truncation_keeps_a_text_that_fits_and_never_splits_a_character() -> None:
    assert naming._truncate("ab.", 3) == "ab."  # fits exactly: untouched, trailing dot kept
    assert naming._truncate("ab. c", 4) == "ab"  # cut, then trailing dots/spaces trimmed
    assert naming._truncate("éé", 3) == "é"  # 4 bytes into 3: the half character dropped
    assert naming._truncate("abc", 2) == "ab"
    assert naming._truncate("aX. X", 3) == "aX"  # only dots and spaces are trimmed


def test_a_short_name_is_the_labels_verbatim() -> None:
    name = adversarial_name("n01443537 goldfish", "n02606052 rock beauty")
    assert name == "Adv_n01443537 goldfish-n02606052 rock beauty.png"
    assert adversarial_name("3 AC/DC", "") == "Adv_3 AC_DC-_.png"


def test_two_long_labels_share_the_budget_true_label_first() -> None:
    # 200 bytes less "Adv_", "-" and ".png": 191; the true label gets half (95), the other the rest.
    name = adversarial_name("a" * 150, "b" * 150)
    assert name == "Adv_" + "a" * 95 + "-" + "b" * 96 + ".png"
    assert len(name.encode()) == MAX_NAME_BYTES == 200


def test_a_short_label_leaves_the_rest_of_the_budget_to_the_long_one() -> None:
    assert adversarial_name("a" * 300, "b" * 10) == "Adv_" + "a" * 181 + "-" + "b" * 10 + ".png"
    assert adversarial_name("a" * 10, "b" * 300) == "Adv_" + "a" * 10 + "-" + "b" * 181 + ".png"


def test_labels_that_fill_the_budget_exactly_are_not_cut() -> None:
    assert adversarial_name("a" * 100, "b" * 91) == "Adv_" + "a" * 100 + "-" + "b" * 91 + ".png"
    cut = adversarial_name("a" * 100, "b" * 92)  # one byte over: the true label gives it back
    assert cut == "Adv_" + "a" * 99 + "-" + "b" * 92 + ".png"


def test_a_long_multibyte_label_is_cut_on_a_character_boundary() -> None:
    name = adversarial_name("n00000001 " + "é" * 300, "n00000002 xy")
    # 191 - 12 bytes of the other label = 179: "n00000001 " (10) + 84 two-byte characters (178),
    # and the first byte of the 85th dropped.
    assert name == "Adv_n00000001 " + "é" * 84 + "-n00000002 xy.png"
    assert len(name.encode()) == 199


def test_each_name_is_handed_out_once_whatever_its_case() -> None:
    names = UniqueNames()
    claimed = [names.claim(n) for n in ("Adv_a-b.png", "Adv_a-b.png", "ADV_A-B.png", "x.y.png")]
    assert claimed == ["Adv_a-b.png", "Adv_a-b (2).png", "ADV_A-B (3).png", "x.y.png"]
    assert names.claim("x.y.png") == "x.y (2).png"  # the last dot starts the suffix


def test_a_numbered_name_already_taken_is_skipped() -> None:
    names = UniqueNames()
    assert names.claim("a (2).png") == "a (2).png"
    assert names.claim("a.png") == "a.png"
    assert names.claim("a.png") == "a (3).png"
    assert UniqueNames().claim("a.png") == "a.png"  # each run starts empty
