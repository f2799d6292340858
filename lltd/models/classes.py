"""Class names: index -> human name and ImageNet synset (torch-free)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lltd.common.errors import UsageError


@dataclass(frozen=True)
class ClassNames:
    """Class index -> human name (and ImageNet synset id when known)."""

    names: tuple[str, ...]
    synsets: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        return self.names[index] if 0 <= index < len(self.names) else str(index)

    def synset(self, index: int) -> str | None:
        if self.synsets is None or not 0 <= index < len(self.synsets):
            return None
        return self.synsets[index]

    def index_of_synset(self, synset: str) -> int | None:
        if self.synsets is None:
            return None
        try:
            return self.synsets.index(synset)
        except ValueError:
            return None

    def index_of_name(self, name: str) -> int | None:
        """The class called ``name`` (case and ``_`` vs space ignored) when exactly one is."""
        wanted = _fold(name)
        hits = [i for i, candidate in enumerate(self.names) if _fold(candidate) == wanted]
        return hits[0] if len(hits) == 1 else None

    def label(self, index: int) -> str:
        """``n01443537 goldfish`` with a synset, else ``<index> <name>`` (or just the index)."""
        synset = self.synset(index)
        if synset is not None:
            return f"{synset} {self.name(index)}"
        name = self.name(index)
        return str(index) if name == str(index) else f"{index} {name}"


def _fold(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def class_names(source: Any = None, num_classes: int | None = None) -> ClassNames:
    """Class names from torchvision weights (an enum member or its ``meta`` dict), a
    ``synset_words.txt`` path (``<synset> <name>, <other names>`` per line, in index order; the
    first name is kept, as the original code did), or ``None`` (indices, ``num_classes`` of them).
    """
    if source is None:
        return ClassNames(tuple(str(i) for i in range(num_classes or 0)))
    if isinstance(source, str | os.PathLike):
        return read_synset_words(Path(source))
    meta = source if isinstance(source, dict) else getattr(source, "meta", None)
    if not meta or "categories" not in meta:
        raise TypeError(f"no class names in {source!r}")
    return ClassNames(tuple(meta["categories"]))


def read_synset_words(path: Path) -> ClassNames:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the synset list: {exc}") from None
    synsets: list[str] = []
    names: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        synset, _, rest = line.strip().partition(" ")
        if not synset or not rest.strip():
            raise UsageError(f"{path}:{number}: expected '<synset> <name>, ...', got {line!r}")
        synsets.append(synset)
        names.append(rest.split(",")[0].strip())
    if not names:
        raise UsageError(f"{path}: the synset list is empty")
    return ClassNames(tuple(names), tuple(synsets))
