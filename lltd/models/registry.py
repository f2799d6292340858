"""The models ``lltd attack`` and ``lltd evaluate`` know, in one place.

Each :class:`ModelEntry` says how to load the network, the square input side it expects, the
normalisation it was trained with and its class names. Names resolve in this order: the entries
of :data:`ENTRIES` (``reference``, ``efficientnet-lite0``), ``package.module:function`` factories,
then torchvision's classification models. Nothing outside this module special-cases a model.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lltd.common.errors import UsageError
from lltd.models import imagenet
from lltd.models.classes import ClassNames, class_names, read_synset_words
from lltd.models.loading import check_torchvision_name, is_factory_spec, load_classifier
from lltd.models.pixels import HALF_MEAN, HALF_STD, IMAGENET_MEAN, IMAGENET_STD, Normalized

Weights = str | os.PathLike[str] | None
Progress = Callable[[str], None]
#: ``(weights, device, progress) -> network`` expecting normalised input, in eval mode.
Loader = Callable[[Weights, str, Progress], nn.Module]

#: The name ``--model`` takes for the small offline reference CNN of ``lltd.evaluate.reference``.
REFERENCE_MODEL = "reference"
EFFICIENTNET_LITE0 = "efficientnet-lite0"


@dataclass(frozen=True)
class ModelEntry:
    """How to get one classifier and what it expects."""

    name: str
    load: Loader
    size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    #: Default class names for a network with this many outputs (``--synsets`` overrides them).
    classes: Callable[[nn.Module, int], ClassNames] | None = None
    #: Keep the weights channels-last on the CPU (inputs stay NCHW; convolutions follow the
    #: weights), where oneDNN's kernels for this network's depthwise convolutions are faster.
    channels_last: bool = False


def _reference_classes(model: nn.Module, count: int) -> ClassNames:
    return _own_categories(model, count) or class_names(None, count)


#: Where the reference task lives: named as data (like an entry point), so the registry imports
#: nothing of the evaluation, which imports the models.
REFERENCE_MODULE = "lltd.evaluate.reference"


def _load_reference(weights: Weights, device: str, progress: Progress) -> nn.Module:
    reference = importlib.import_module(REFERENCE_MODULE)

    if weights == "DEFAULT":
        path = reference.weights_path()
        if not path.is_file():
            progress(f"training the reference model once (cached in {path.parent})")
            path.parent.mkdir(parents=True, exist_ok=True)
            reference.train(path, progress)
        weights = path
    return load_classifier(reference.FACTORY, weights, device)


def _reference_size() -> int:
    return 64  # lltd.evaluate.reference.INPUT_SIZE, checked by the tests


ENTRIES: dict[str, ModelEntry] = {
    REFERENCE_MODEL: ModelEntry(
        REFERENCE_MODEL,
        _load_reference,
        _reference_size(),
        classes=_reference_classes,
    ),
    EFFICIENTNET_LITE0: ModelEntry(
        EFFICIENTNET_LITE0,
        imagenet.load_efficientnet_lite0,
        224,
        HALF_MEAN,
        HALF_STD,
        classes=imagenet.imagenet_classes,
        # Forward + backward of 20 images at 224 x 224 on 2 cores: 0.80 s of CPU instead of
        # 1.29 s (logits within 2e-5 of the NCHW weights').
        channels_last=True,
    ),
}


def _torchvision_classes(name: str) -> Callable[[nn.Module, int], ClassNames]:
    def classes(model: nn.Module, count: int) -> ClassNames:
        import torchvision

        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        return class_names(meta) if len(meta["categories"]) == count else class_names(None, count)

    return classes


def _own_categories(model: nn.Module, count: int) -> ClassNames | None:
    own = getattr(model, "categories", None)
    if own and len(own) == count:
        return ClassNames(tuple(str(category) for category in own))
    return None


def _factory_classes(model: nn.Module, count: int) -> ClassNames:
    return _own_categories(model, count) or class_names(None, count)


def model_entry(name: str) -> ModelEntry:
    """The entry for ``--model name`` (a usage error naming the choices when there is none)."""
    if name in ENTRIES:
        return ENTRIES[name]
    if is_factory_spec(name):
        # Size and normalisation come from the built model (``input_size``, ``mean``, ``std``).
        return ModelEntry(name, lambda w, d, p: load_classifier(name, w, d), 0, classes=None)
    check_torchvision_name(name, extra=tuple(ENTRIES))
    return ModelEntry(
        name,
        lambda w, d, p: load_classifier(name, w, d),
        299 if name == "inception_v3" else 224,
        classes=_torchvision_classes(name),
    )


def known_models() -> list[str]:
    import torchvision

    return [*ENTRIES, *torchvision.models.list_models(module=torchvision.models)]


# -- everything the tools need at once ----------------------------------------------------------


@dataclass
class PixelClassifier:
    """A model that takes [0, 1] pixels (normalisation inside), with its input size and names."""

    name: str
    model: nn.Module
    size: int
    classes: ClassNames
    weights: str
    device: str

    @torch.no_grad()
    def predict(self, pixels: torch.Tensor) -> torch.Tensor:
        """Top-1 class of each image of an ``N x 3 x size x size`` batch in [0, 1]."""
        return self.model(pixels.to(self.device)).argmax(dim=1).cpu()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available here (use cpu or auto)")
    if device != "cpu" and not device.startswith("cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda[:N], not {device!r}")
    return device


def _say(line: str) -> None:
    print(f"lltd: {line}", file=sys.stderr, flush=True)


def load_pixel_classifier(
    name: str,
    weights: Weights = "DEFAULT",
    device: str = "cpu",
    synsets: Path | None = None,
    *,
    strict_synsets: bool = True,
    progress: Progress | None = None,
) -> PixelClassifier:
    """Load ``name`` with ``weights`` ready for [0, 1] input.

    ``weights``: ``"DEFAULT"`` (the entry's own weights), a torchvision member name such as
    ``"IMAGENET1K_V1"``, a state_dict file, or ``None`` (random). Class names come from
    ``synsets`` (a synset_words.txt) when given, else from the entry. With ``strict_synsets``
    false, a ``synsets`` list of the wrong length is ignored instead of refused.
    """
    device = resolve_device(device)
    entry = model_entry(name)
    network = entry.load(weights, device, progress or _say).eval().to(device)
    if entry.channels_last and device == "cpu":
        network = network.to(memory_format=torch.channels_last)
    size = entry.size or int(getattr(network, "input_size", 0)) or 224
    mean = tuple(getattr(network, "mean", entry.mean)) if not entry.size else entry.mean
    std = tuple(getattr(network, "std", entry.std)) if not entry.size else entry.std
    count = _num_outputs(network, size, device)
    default = entry.classes or _factory_classes
    classes = _synset_names(synsets, count, strict_synsets, name) or default(network, count)
    wrapped = Normalized(network, mean, std).to(device).eval()
    label = "random" if weights is None else str(weights)
    return PixelClassifier(name, wrapped, size, classes, label, device)


def _synset_names(synsets: Path | None, count: int, strict: bool, name: str) -> ClassNames | None:
    classes = read_synset_words(synsets) if synsets is not None else None
    if classes is None or len(classes) == count:
        return classes
    if not strict:
        return None  # a list found next to the inputs that is not for this model
    raise UsageError(f"{synsets}: lists {len(classes)} classes but {name} has {count} outputs")


def _num_outputs(model: nn.Module, size: int, device: str) -> int:
    for module in reversed(list(model.modules())):
        if isinstance(module, nn.Linear):
            return module.out_features
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, size, size, device=device)).shape[1])
