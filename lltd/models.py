"""Classifiers for the attack and evaluation tools: any torchvision model, in [0, 1] pixel space.

Imports torch and torchvision at module level: only ``lltd attack``/``lltd evaluate`` (inside their
command bodies) and library users who asked for torch import this module.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms.functional import pil_to_tensor

from lltd.errors import LltdError, UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The name ``--model`` takes for the small offline reference CNN of ``lltd.evaluate.reference``.
REFERENCE_MODEL = "reference"


class Normalized(nn.Module):
    """``model`` behind a per-channel normalisation, so callers (and attacks) work in [0, 1]."""

    def __init__(
        self,
        model: nn.Module,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model((pixels - self.mean) / self.std)


def input_size(name: str) -> int:
    """Side of the square input the model expects (Inception-v3 was trained on 299 px crops)."""
    return 299 if name == "inception_v3" else 224


def preprocess(image: Image.Image, size: int, *, crop_fraction: float = 1.0) -> torch.Tensor:
    """Resize the shorter side to ``size / crop_fraction``, centre-crop ``size`` x ``size``.

    Returns a float CHW tensor in [0, 1], *not* normalised (that is part of :class:`Normalized`).
    The default ``crop_fraction=1.0`` makes this the identity on ``size`` x ``size`` images, so a
    saved adversarial example is classified on exactly the pixels that were attacked;
    ``crop_fraction=224/256`` reproduces torchvision's evaluation protocol.
    """
    image = image.convert("RGB")
    short = round(size / crop_fraction)
    width, height = image.size
    if min(width, height) != short:
        scale = short / min(width, height)
        image = image.resize(
            (max(short, round(width * scale)), max(short, round(height * scale))),
            Image.Resampling.BILINEAR,
        )
        width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    if (width, height) != (size, size):
        image = image.crop((left, top, left + size, top + size))
    return pil_to_tensor(image).float().div_(255.0)


def to_8bit(pixels: torch.Tensor) -> torch.Tensor:
    """[0, 1] float CHW -> uint8 HWC, rounding to the nearest level (what a PNG stores)."""
    return pixels.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu()


def to_pil(pixels: torch.Tensor) -> Image.Image:
    return Image.fromarray(to_8bit(pixels).numpy(), "RGB")


# -- class names ---------------------------------------------------------------------------------


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


# -- loading -------------------------------------------------------------------------------------


def classification_models() -> list[str]:
    return list(torchvision.models.list_models(module=torchvision.models))


def _check_name(name: str) -> None:
    known = classification_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(f"unknown model {name!r}{hint}; see torchvision.models.list_models()")


def weights_enum_member(name: str, weights: str = "DEFAULT") -> Any:
    """torchvision's weights entry for ``name``: ``DEFAULT`` or a member like ``IMAGENET1K_V1``."""
    _check_name(name)
    enum = torchvision.models.get_model_weights(name)
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        members = ", ".join(member.name for member in enum)
        raise UsageError(
            f"model {name} has no weights {weights!r}; use DEFAULT, one of {members}, or a file"
        ) from None


def weights_cache_file(entry: Any) -> Path:
    """Where torchvision looks for (and downloads) the file of a weights entry."""
    filename = os.path.basename(urlparse(entry.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _looks_like_path(weights: str) -> bool:
    return (
        os.sep in weights
        or weights.endswith((".pth", ".pt", ".bin", ".ckpt"))
        or (os.path.exists(weights))
    )


def load_classifier(
    name: str, weights: str | os.PathLike[str] | None = "DEFAULT", device: str = "cpu"
) -> nn.Module:
    """A torchvision classification model in eval mode on ``device``, expecting normalised input.

    ``name`` is a torchvision model name, or ``package.module:function`` for your own model (the
    function is called without arguments; the model may carry ``input_size`` and ``categories``).
    ``weights``: ``"DEFAULT"`` (or a member name such as ``"IMAGENET1K_V1"``) loads torchvision's
    published weights through torchvision (from the torch hub cache, else downloaded); a path loads
    a local state_dict (or a checkpoint dict holding one under ``state_dict``/``model``); ``None``
    keeps the random initialisation. Wrap the result in :class:`Normalized` for pixel input.
    """
    if is_factory_spec(name):
        model = _load_factory(name, weights)
    elif weights is None:
        _check_name(name)
        extra = {"init_weights": True} if name in ("inception_v3", "googlenet") else {}
        model = torchvision.models.get_model(name, weights=None, **extra)
    elif isinstance(weights, os.PathLike) or _looks_like_path(str(weights)):
        model = _load_state_dict_file(name, Path(weights))
    else:
        model = _load_published(name, str(weights))
    return model.eval().to(device)


def is_factory_spec(name: str) -> bool:
    return ":" in name


def _load_factory(spec: str, weights: str | os.PathLike[str] | None) -> nn.Module:
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--model {spec}: cannot import it ({exc})") from None
    model = factory()
    if not isinstance(model, nn.Module):
        raise UsageError(f"--model {spec}: returned {type(model).__name__}, not a torch module")
    if weights is not None and (isinstance(weights, os.PathLike) or _looks_like_path(weights)):
        path = Path(weights)
        if not path.is_file():
            raise UsageError(f"{path}: weights file not found")
        _load_into(model, _unwrap_checkpoint(_torch_load(path), path), path, spec)
    elif weights not in (None, "DEFAULT"):
        raise UsageError(f"--model {spec} takes --weights DEFAULT (as built) or a file")
    return model


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises anything from pickle/zip errors upwards
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LltdError(f"{path}: not a readable PyTorch state_dict ({first})") from None


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise LltdError(
            f"{path}: does not fit {name} ({detail[:300]}{'...' if len(detail) > 300 else ''})"
        ) from None


def _load_published(name: str, weights: str) -> nn.Module:
    entry = weights_enum_member(name, weights)
    cached = weights_cache_file(entry)
    chatter = io.StringIO()
    try:
        # torch hub announces downloads on stdout and draws progress on stderr; keep both
        # out of the way of the one-line error, and off stdout when it works.
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            model = torchvision.models.get_model(name, weights=entry)
        sys.stderr.write(chatter.getvalue())
        return model
    except (OSError, RuntimeError, ValueError, EOFError) as exc:
        # URLError/HTTPError are OSErrors; a truncated or wrong cached file fails in torch.load
        # or the hash check with RuntimeError.
        why = "could not be downloaded" if not cached.exists() else "are unreadable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LltdError(
            f"the {entry} weights for {name} {why} ({reason}); place {entry.url} at {cached} "
            f"(the torch hub cache, $TORCH_HOME/hub/checkpoints) or pass --weights PATH"
        ) from None


def _load_state_dict_file(name: str, path: Path) -> nn.Module:
    _check_name(name)
    if not path.is_file():
        raise UsageError(f"{path}: weights file not found")
    state = _unwrap_checkpoint(_torch_load(path), path)
    kwargs: dict[str, Any] = {"num_classes": _infer_num_classes(state)}
    if name == "inception_v3":
        aux = any(key.startswith("AuxLogits.") for key in state)
        # torchvision's own Inception-v3 checkpoint expects its inputs re-scaled to [-1, 1]
        # (transform_input); a checkpoint shaped like it (aux head, 1000 classes) gets the same.
        kwargs |= {
            "aux_logits": aux,
            "init_weights": False,
            "transform_input": aux and kwargs["num_classes"] == 1000,
        }
    elif name == "googlenet":
        aux = any(key.startswith(("aux1.", "aux2.")) for key in state)
        kwargs |= {"aux_logits": aux, "init_weights": False}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    _load_into(model, state, path, name)
    return model


def _unwrap_checkpoint(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(
        isinstance(value, torch.Tensor) for value in loaded.values()
    ):
        raise LltdError(f"{path}: not a state_dict (expected a dict of tensors)")
    # Checkpoints saved from nn.DataParallel prefix every key.
    if loaded and all(key.startswith("module.") for key in loaded):
        loaded = {key.removeprefix("module."): value for key, value in loaded.items()}
    return loaded


def _infer_num_classes(state: dict[str, torch.Tensor]) -> int:
    # The classifier is the last layer with a bias in every torchvision classification model.
    for key in reversed(list(state)):
        if key.endswith(".bias") and state[key].ndim == 1 and not key.startswith("AuxLogits"):
            return int(state[key].shape[0])
    return 1000


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


def load_pixel_classifier(
    name: str,
    weights: str | os.PathLike[str] | None = "DEFAULT",
    device: str = "cpu",
    synsets: Path | None = None,
    *,
    strict_synsets: bool = True,
) -> PixelClassifier:
    """Load ``name`` with ``weights`` (see :func:`load_classifier`) ready for [0, 1] input.

    Class names come from ``synsets`` (a synset_words.txt) when given, else from torchvision's
    metadata when the model has 1000 outputs, else class indices. With ``strict_synsets`` false,
    a ``synsets`` list of the wrong length is ignored instead of refused.
    """
    device = resolve_device(device)
    if name == REFERENCE_MODEL:
        return _load_reference(device, synsets, strict_synsets)
    model = load_classifier(name, weights, device)
    size = int(getattr(model, "input_size", 0)) or input_size(name)
    num_classes = _num_outputs(model, size, device)
    classes = _synset_names(synsets, num_classes, strict_synsets, name) or _default_names(
        model, name, num_classes
    )
    wrapped = Normalized(model).to(device).eval()
    label = "random" if weights is None else str(weights)
    return PixelClassifier(name, wrapped, size, classes, label, device)


def _default_names(model: nn.Module, name: str, num_classes: int) -> ClassNames:
    """The model's own ``categories``, else torchvision's ImageNet names when they fit."""
    own = getattr(model, "categories", None)
    if own and len(own) == num_classes:
        return ClassNames(tuple(str(category) for category in own))
    if not is_factory_spec(name):
        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        if len(meta["categories"]) == num_classes:
            return class_names(meta)
    return class_names(None, num_classes)


def _synset_names(
    synsets: Path | None, num_classes: int, strict: bool, name: str
) -> ClassNames | None:
    classes = read_synset_words(synsets) if synsets is not None else None
    if classes is None or len(classes) == num_classes:
        return classes
    if not strict:
        return None  # a list found next to the inputs that is not for this model
    raise UsageError(
        f"{synsets}: lists {len(classes)} classes but {name} has {num_classes} outputs"
    )


def _num_outputs(model: nn.Module, size: int, device: str) -> int:
    for module in reversed(list(model.modules())):
        if isinstance(module, nn.Linear):
            return module.out_features
    with torch.no_grad():
        return int(model(torch.zeros(1, 3, size, size, device=device)).shape[1])


def _load_reference(device: str, synsets: Path | None, strict: bool) -> PixelClassifier:
    """``--model reference``: the small offline CNN of :mod:`lltd.evaluate.reference` (trained
    once, then cached), which already takes [0, 1] pixels."""
    try:
        from lltd.evaluate import reference
    except ImportError:
        raise UsageError("--model reference is not available in this installation") from None

    def say(line: str) -> None:
        print(f"lltd: {line}", file=sys.stderr, flush=True)

    model = reference.load_reference_model(device, progress=say).to(device).eval()
    size = int(reference.INPUT_SIZE)
    num_classes = _num_outputs(model, size, device)
    classes = _synset_names(synsets, num_classes, strict, REFERENCE_MODEL) or (
        ClassNames(tuple(reference.CLASS_NAMES))
        if len(reference.CLASS_NAMES) == num_classes
        else class_names(None, num_classes)
    )
    return PixelClassifier(REFERENCE_MODEL, model, size, classes, "reference", device)
