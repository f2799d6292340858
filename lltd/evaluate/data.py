"""Labelled images to evaluate on: a folder (ImageFolder layout or synset-prefixed file names),
foolbox's bundled ImageNet photographs (``--data foolbox-samples``), or the reference task's test
split."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Sequence
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
    #: Per image, the name that pairs it with its precomputed adversarial versions (the file's
    #: stem; ``Adv_<stem>-...`` for those): how the per-image worst case lines them up.
    names: list[str] = field(default_factory=list)
    #: Per image, which of the joined sources it came from (an index into ``source``'s parts).
    origin: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int | None) -> Dataset:
        """At most ``limit`` images, evenly spread over the set (so every class keeps some)."""
        if limit is None or limit >= len(self):
            return self
        index = np.linspace(0, len(self) - 1, limit).round().astype(int)
        return self.take(index)

    def take(self, index: np.ndarray) -> Dataset:
        names = [self.names[i] for i in index] if self.names else []
        origin = self.origin[index] if self.origin is not None else None
        return Dataset(
            self.images[index], self.labels[index], self.source, self.skipped, names, origin
        )

    @property
    def sources(self) -> list[str]:
        return self.source.split(", ")


def join(datasets: Sequence[Dataset]) -> Dataset:
    """Several labelled sets as one (same image size), each image remembering its source."""
    if len(datasets) == 1:
        return datasets[0]
    return Dataset(
        np.concatenate([d.images for d in datasets]),
        np.concatenate([d.labels for d in datasets]),
        ", ".join(d.source for d in datasets),
        [path for d in datasets for path in d.skipped],
        [name for d in datasets for name in (d.names or [""] * len(d))],
        np.concatenate([np.full(len(d), i) for i, d in enumerate(datasets)]),
    )


def pairing_key(adversarial_name: str) -> str:
    """The stem an adversarial image was made from: ``Adv_<stem>-<class>`` -> ``<stem>``
    (``lltd attack``'s and the original code's naming), any other name as it is."""
    return adversarial_name[4:] if adversarial_name.startswith("Adv_") else adversarial_name


def pair(names: Sequence[str], adversarial_names: Sequence[str]) -> np.ndarray:
    """Per adversarial image, the index of the clean image it was made from, -1 when none:
    the longest clean name that its key equals or starts with followed by ``-``."""
    by_name = {name: i for i, name in enumerate(names) if name}
    out = np.full(len(adversarial_names), -1, dtype=np.int64)
    for j, adversarial in enumerate(adversarial_names):
        key = pairing_key(adversarial)
        if key in by_name:
            out[j] = by_name[key]
            continue
        cuts = [m.start() for m in re.finditer("-", key)]
        for cut in reversed(cuts):  # the longest clean stem first
            if key[:cut] in by_name:
                out[j] = by_name[key[:cut]]
                break
    return out


#: ``--data`` names of the built-in sets.
FOOLBOX_SAMPLES = "foolbox-samples"
_FOOLBOX_IMAGENET = re.compile(r"^imagenet_(\d+)_(\d+)\.jpg$")


def foolbox_samples(
    classes: ClassNames, size: int, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Dataset:
    """The 20 labelled ImageNet validation photographs inside foolbox's wheel
    (``foolbox/data/imagenet_<NN>_<class index>.jpg``): a second, independent ImageNet sample
    that needs no download. The labels are ImageNet class indices, so the model must have the
    1000 ImageNet classes in their usual order."""
    spec = importlib.util.find_spec("foolbox")  # its location only: importing it loads torch
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"--data {FOOLBOX_SAMPLES}: foolbox is not installed (the [attack] extra)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    found = sorted(
        (int(m.group(1)), int(m.group(2)), path)
        for path in (folder.iterdir() if folder.is_dir() else ())
        if (m := _FOOLBOX_IMAGENET.match(path.name))
    )
    if not found:
        raise UsageError(f"--data {FOOLBOX_SAMPLES}: no imagenet_NN_<label>.jpg in {folder}")
    if len(classes) != 1000:
        raise UsageError(
            f"--data {FOOLBOX_SAMPLES}: its labels are ImageNet's 1000 class indices, and this "
            f"model has {len(classes)} classes"
        )
    images = [to_8bit(preprocess(open_image(path, max_pixels), size)).numpy() for *_, path in found]
    return Dataset(
        np.stack(images),
        np.asarray([label for _, label, _ in found], dtype=np.int64),
        FOOLBOX_SAMPLES,
        names=[path.stem for *_, path in found],
    )


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
    names: list[str] = []
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
        names.append(path.stem)
    if not images:
        raise UsageError(f"{option} {root}: none of the images could be read")
    return Dataset(np.stack(images), np.asarray(labels, dtype=np.int64), str(root), skipped, names)
