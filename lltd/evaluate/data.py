"""Labelled images to evaluate on: a folder (ImageFolder layout or synset-prefixed file names), or
the reference task's test split."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lltd.attack import labels as labelling
from lltd.batch.scan import IMAGE_EXTENSIONS, scan
from lltd.common.errors import ImageError, UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.common.text import printable
from lltd.imaging.imageio import open_image
from lltd.models import ClassNames, preprocess, to_8bit


@dataclass
class Dataset:
    """N x H x W x 3 uint8 images (as a classifier sees them) with their true classes."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int | None) -> Dataset:
        """At most ``limit`` images, evenly spread over the set (so every class keeps some)."""
        if limit is None or limit >= len(self):
            return self
        index = np.linspace(0, len(self) - 1, limit).round().astype(int)
        return Dataset(self.images[index], self.labels[index], self.source, self.skipped)


def reference_data() -> Dataset:
    from lltd.evaluate.reference import reference_dataset

    images, labels = reference_dataset("test")
    return Dataset(images, labels, "reference:test")


def true_class(path: Path, root: Path, classes: ClassNames) -> int | None:
    """From a synset in the name or parent folder, else the parent folder named after a class
    (``cat/`` or ``0042/``)."""
    index = labelling.resolve(labelling.label_hint(path), classes)
    if index is not None or path.parent == root:
        return index
    folder = path.parent.name
    index = classes.index_of_name(folder)
    if index is None and folder.isdigit() and int(folder) < len(classes):
        index = int(folder)
    return index


def _unknown_class_reason(path: Path) -> str:
    hint = labelling.label_hint(path)
    if hint is not None:  # named by synset, but this model's class list does not know it
        return (
            f"its synset {hint.synset} (from its {hint.source}) is not in the model's class "
            "names; pass --synsets FILE (ImageNet's synset_words.txt, one 'nXXXXXXXX name' per "
            "line, in the model's class order)"
        )
    return (
        "cannot tell its true class; name it '<synset> <name>.<ext>' or put it in a folder "
        "named after its class (a synset, a class name or an index)"
    )


def load_folder(
    root: Path,
    classes: ClassNames,
    size: int,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    warn: Callable[[str], None] | None = None,
    option: str = "--data",
) -> Dataset:
    """Every image under ``root`` that the other commands would take (the one scanner: sorted,
    no dotfiles, no links out of ``root``), resized and centre-cropped to ``size``.

    Unreadable images are skipped with a warning; an image whose class cannot be told is an error.
    """
    if not root.is_dir():
        raise UsageError(f"{option} {root}: not a folder")
    warn = warn or (lambda message: print(message, file=sys.stderr))
    paths = [task.source for task in scan(root, IMAGE_EXTENSIONS)]
    if not paths:
        raise UsageError(f"{option} {root}: no images found")
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[str] = []
    for path in paths:
        label = true_class(path, root.resolve(), classes)
        if label is None:
            raise UsageError(f"{printable(path)}: {_unknown_class_reason(path)}")
        try:
            image = open_image(path, max_pixels)
        except ImageError as exc:
            warn(f"lltd: skipped: {path}: {exc}")
            skipped.append(str(path))
            continue
        images.append(to_8bit(preprocess(image, size)).numpy())
        labels.append(label)
    if not images:
        raise UsageError(f"{option} {root}: none of the images could be read")
    return Dataset(np.stack(images), np.asarray(labels, dtype=np.int64), str(root), skipped)
