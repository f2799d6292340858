"""lltd.models.classes: class index -> name and ImageNet synset, torch-free. Out-of-range
indices read as the index, names are found ignoring case and ``_``/spaces (only when exactly
one matches), labels read ``<synset> <name>`` or ``<index> <name>``, and a synset_words.txt is
read line by line with each refusal naming the file and line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.models.classes import ClassNames, class_names, read_synset_words

NAMES = ClassNames(
    ("goldfish", "great_white shark", "tench"), ("n01443537", "n01484850", "n01440764")
)
PLAIN = ClassNames(("cat", "dog", "2"))


def test_class_names_are_frozen_and_count_their_classes() -> None:
    assert len(NAMES) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        NAMES.names = ()  # type: ignore[misc]


@pytest.mark.parametrize(("index", "name"), [(0, "goldfish"), (2, "tench"), (3, "3"), (-1, "-1")])
def test_an_index_out_of_range_reads_as_the_index(index: int, name: str) -> None:
    assert NAMES.name(index) == name


@pytest.mark.parametrize(
    ("index", "synset"), [(0, "n01443537"), (2, "n01440764"), (3, None), (-1, None)]
)
def test_a_synset_only_for_an_index_in_range(index: int, synset: str | None) -> None:
    assert NAMES.synset(index) == synset
    assert PLAIN.synset(0) is None


def test_a_synset_finds_its_index() -> None:
    assert NAMES.index_of_synset("n01440764") == 2
    assert NAMES.index_of_synset("n00000000") is None
    assert PLAIN.index_of_synset("n01443537") is None


@pytest.mark.parametrize(
    ("asked", "found"),
    [("GoldFish", 0), ("great white  shark", 1), ("Great_White_Shark", 1), ("shark", None)],
)
def test_a_name_is_found_ignoring_case_and_underscores(asked: str, found: int | None) -> None:
    assert NAMES.index_of_name(asked) == found


def test_a_name_two_classes_share_finds_none() -> None:
    assert ClassNames(("crane", "Crane", "dog")).index_of_name("crane") is None
    assert ClassNames(("crane", "Crane", "dog")).index_of_name("dog") == 2


@pytest.mark.parametrize(
    ("names", "index", "label"),
    [
        (NAMES, 1, "n01484850 great_white shark"),
        (PLAIN, 1, "1 dog"),
        (PLAIN, 2, "2"),
        (PLAIN, 7, "7"),
    ],
)
def test_a_label_is_synset_and_name_else_index_and_name_else_the_index(names, index, label) -> None:
    assert names.label(index) == label


def test_without_a_source_the_classes_are_their_indices() -> None:
    assert class_names(None, 3) == ClassNames(("0", "1", "2"))
    assert class_names() == ClassNames(())


def test_names_come_from_weights_meta_and_anything_else_is_refused() -> None:
    assert class_names({"categories": ["a", "b"]}) == ClassNames(("a", "b"))

    class Weights:
        def __init__(self) -> None:
            self.meta = {"categories": ["x"]}

    assert class_names(Weights()) == ClassNames(("x",))
    for source in ({}, {"other": 1}, 3):
        with pytest.raises(TypeError) as refused:
            class_names(source)
        assert str(refused.value) == f"no class names in {source!r}"


def test_a_synset_list_keeps_the_first_name_of_each_line_and_skips_blank_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "synset_words.txt"
    path.write_text("n01440764 tench, Tinca tinca\n\n  \nn01443537 goldfish, Carassius auratus\n")
    assert class_names(path) == ClassNames(("tench", "goldfish"), ("n01440764", "n01443537"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n01440764 tench\n\nn01443537\n",
         "{path}:3: expected '<synset> <name>, ...', got 'n01443537'"),
        ("n01440764 tench\n   \n", None),
        ("\n \n", "{path}: the synset list is empty"),
        (" n1  \n", "{path}:1: expected '<synset> <name>, ...', got ' n1  '"),
    ],
)  # fmt: skip
def test_each_refusal_names_the_file_and_line(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = tmp_path / "synset_words.txt"
    path.write_text(text)
    if message is None:
        assert len(read_synset_words(path)) == 1
        return
    with pytest.raises(UsageError) as refused:
        read_synset_words(path)
    assert str(refused.value) == message.format(path=path)


def test_an_unreadable_list_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    with pytest.raises(UsageError) as refused:
        read_synset_words(path)
    assert str(refused.value).startswith(f"{path}: cannot read the synset list: ")
    (tmp_path / "latin1.txt").write_bytes(b"n1 caf\xe9\n")
    with pytest.raises(UsageError, match="cannot read the synset list"):
        read_synset_words(tmp_path / "latin1.txt")
