"""Loading networks: torchvision's published weights (through the torch hub cache), local
state_dict files, and ``package.module:function`` factories. Returns raw networks that expect
normalised input; :mod:`lltd.models.registry` wraps them for pixel input."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from lltd.common.errors import LltdError, UsageError


def classification_models() -> list[str]:
    return list(torchvision.models.list_models(module=torchvision.models))


def check_torchvision_name(name: str, extra: tuple[str, ...] = ()) -> None:
    known = classification_models()
    if name not in known:
        close = difflib.get_close_matches(name, [*extra, *known], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        choices = ", ".join(extra) + ", " if extra else ""
        raise UsageError(
            f"unknown model {name!r}{hint}; choose {choices}a torchvision model "
            f"(torchvision.models.list_models()) or package.module:function"
        )


def weights_enum_member(name: str, weights: str = "DEFAULT") -> Any:
    """torchvision's weights entry for ``name``: ``DEFAULT`` or a member like ``IMAGENET1K_V1``."""
    check_torchvision_name(name)
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
        check_torchvision_name(name)
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
        load_weights_file(model, Path(weights), spec)
    elif weights not in (None, "DEFAULT"):
        raise UsageError(f"--model {spec} takes --weights DEFAULT (as built) or a file")
    return model


def load_weights_file(model: nn.Module, path: Path, name: str) -> None:
    """Load the state_dict (or checkpoint) at ``path`` into ``model``; one-line errors."""
    if not path.is_file():
        raise UsageError(f"{path}: weights file not found")
    _load_into(model, _unwrap_checkpoint(_torch_load(path), path), path, name)


def looks_like_path(weights: str | os.PathLike[str]) -> bool:
    return isinstance(weights, os.PathLike) or _looks_like_path(str(weights))


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
    check_torchvision_name(name)
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
