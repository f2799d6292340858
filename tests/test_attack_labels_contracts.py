"""Where an input's true label comes from (``lltd.attack.labels``, issue 27), in-process: the
synset leading a file name (optionally ``Adv_`` before it, another synset or ``_f`` after), else
an ImageFolder parent named by a synset; resolved by synset first, by a name only when the synset
is unknown. Torch-free, as the module is: the class table here is a plain one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lltd.attack.labels import LabelHint, label_hint, resolve


class Table:
    """A class table as resolve() sees it: synsets and names to indices (names case-folded)."""

    def __init__(self, synsets: dict[str, int], names: dict[str, int]) -> None:
        self.synsets, self.names = synsets, names

    def index_of_synset(self, synset: str) -> int | None:
        return self.synsets.get(synset)

    def index_of_name(self, name: str) -> int | None:
        return self.names.get(name.casefold())


@pytest.mark.parametrize(
    ("path", "synset", "name"),
    [
        ("n01443537 goldfish.JPEG", "n01443537", "goldfish"),
        ("n01443537_goldfish.png", "n01443537", "goldfish"),
        ("Adv_n01443537 goldfish-n02606052 rock beauty.png", "n01443537", "goldfish"),
        ("Adv_n01443537 gold-fish-n02606052 x.png", "n01443537", "gold-fish"),
        ("n01443537 goldfish_f.png", "n01443537", "goldfish"),
        ("n01443537 gold fish _f.png", "n01443537", "gold fish"),
        ("n01443537_10026.JPEG", "n01443537", None),  # ImageNet's image number, not a name
        ("n01443537 12a.png", "n01443537", "12a"),
        ("n01443537.png", "n01443537", None),
        ("n01443537  .png", "n01443537", None),  # only spaces: no name
        ("n01443537_10026_f.JPEG", "n01443537", None),  # flipped: still an image number
        ("n01443537-n02606052 rock beauty.png", "n01443537", None),
    ],
)
def test_a_file_name_leading_with_a_synset_names_the_truth(
    path: str, synset: str, name: str | None
) -> None:
    assert label_hint(Path("some/dir") / path) == LabelHint(synset, name, "filename")


@pytest.mark.parametrize(
    "path",
    [
        "n0144353 short synset.png",  # seven digits
        "n014435370 nine digits.png",
        "x n01443537 goldfish.png",  # not leading
        "adv_n01443537 goldfish.png",  # the prefix is case-sensitive
        "N01443537 goldfish.png",
        "n01443537goldfish.png",  # no separator before the name
    ],
)
def test_a_file_name_without_a_leading_synset_says_nothing(path: str) -> None:
    assert label_hint(Path("holiday") / path) is None


def test_an_imagefolder_parent_named_by_a_synset_is_the_fallback() -> None:
    hint = label_hint(Path("val/n01443537/ILSVRC2012_val_00000293.JPEG"))
    assert hint == LabelHint("n01443537", None, "folder")
    # The file name wins over the folder.
    assert label_hint(Path("n01443537/n02606052 rock beauty.png")) == LabelHint(
        "n02606052", "rock beauty", "filename"
    )
    assert label_hint(Path("n01443537x/photo.png")) is None
    assert label_hint(Path("xn01443537/photo.png")) is None
    assert label_hint(Path("n0144353/photo.png")) is None


def test_a_hint_is_a_frozen_value() -> None:
    hint = label_hint(Path("n01443537 goldfish.png"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        hint.synset = "n01440764"  # type: ignore[misc]
    assert {hint, LabelHint("n01443537", "goldfish", "filename")} == {hint}  # hashable, by value


TABLE = Table({"n01440764": 0, "n01443537": 1}, {"tench": 0, "goldfish": 1, "rock beauty": 2})


def test_resolve_prefers_the_synset_over_the_name() -> None:
    assert resolve(LabelHint("n01443537", "tench", "filename"), TABLE) == 1
    assert resolve(LabelHint("n01440764", None, "folder"), TABLE) == 0


def test_resolve_falls_back_to_the_name_only_for_an_unknown_synset() -> None:
    assert resolve(LabelHint("n09999999", "Rock Beauty", "filename"), TABLE) == 2
    assert resolve(LabelHint("n09999999", "koi", "filename"), TABLE) is None
    assert resolve(LabelHint("n09999999", None, "folder"), TABLE) is None
    assert resolve(LabelHint("n09999999", "", "filename"), TABLE) is None
    assert resolve(None, TABLE) is None
