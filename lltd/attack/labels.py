"""Where an input's true label comes from: its file name or an ImageFolder-style parent folder.

Light module (no torch): ``lltd evaluate`` and the tests use it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

LabelSource = Literal["filename", "folder", "prediction"]

_SYNSET = r"n\d{8}"
# ``n01443537 goldfish``, ``n01443537_10026`` (ImageNet train), ``Adv_n01443537 goldfish-n02606052
# rock beauty`` (true label first), optionally ``_f`` after a flip: the leading synset is the truth.
_NAME_RE = re.compile(rf"^(?:Adv_)?(?P<synset>{_SYNSET})(?:[ _](?P<name>.*?))?(?:-{_SYNSET}.*)?$")
_FOLDER_RE = re.compile(rf"^{_SYNSET}$")


@dataclass(frozen=True)
class LabelHint:
    """What the path says about the true class (an ImageNet synset, maybe a human name)."""

    synset: str
    name: str | None
    source: LabelSource


class ClassTable(Protocol):
    """What resolving needs from :class:`lltd.models.ClassNames` (kept torch-free here)."""

    def index_of_synset(self, synset: str) -> int | None: ...
    def index_of_name(self, name: str) -> int | None: ...


def label_hint(path: Path) -> LabelHint | None:
    """The synset leading the file name, else the parent folder's name when it is a synset."""
    match = _NAME_RE.match(path.stem)
    if match:
        name = match.group("name")
        if name is not None:
            name = name.removesuffix("_f").strip() or None
            if name is not None and name.isdigit():
                name = None  # ImageNet's n01443537_10026: an image number, not a class name
        return LabelHint(match.group("synset"), name, "filename")
    if _FOLDER_RE.match(path.parent.name):
        return LabelHint(path.parent.name, None, "folder")
    return None


def resolve(hint: LabelHint | None, classes: ClassTable) -> int | None:
    """The class index ``hint`` names: by synset when the table has synsets, else by unique name."""
    if hint is None:
        return None
    index = classes.index_of_synset(hint.synset)
    if index is None and hint.name:
        index = classes.index_of_name(hint.name)
    return index
