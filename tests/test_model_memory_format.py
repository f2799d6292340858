"""EfficientNet-Lite0 keeps its weights channels-last on the CPU (faster depthwise convolutions)
and classifies as the NCHW network does."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lltd.evaluate.bpda import to_pixels  # noqa: E402
from lltd.evaluate.data import load_folder  # noqa: E402
from lltd.models import EFFICIENTNET_LITE0, load_pixel_classifier, model_entry  # noqa: E402

pytestmark = pytest.mark.torch


def test_only_efficientnet_is_channels_last() -> None:
    assert model_entry(EFFICIENTNET_LITE0).channels_last
    assert not model_entry("reference").channels_last  # the reference run's numbers stay put
    assert not model_entry("resnet18").channels_last


def test_efficientnet_channels_last_gives_the_nchw_logits(seed_data: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is not installed")
    classifier = load_pixel_classifier(EFFICIENTNET_LITE0, device="cpu")
    convolutions = [m for m in classifier.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions and all(
        c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions
    )
    data = load_folder(seed_data / "original", classifier.classes, classifier.size).subset(4)
    pixels = to_pixels(data.images)
    with torch.no_grad():
        fast = classifier.model(pixels)
        slow = classifier.model.to(memory_format=torch.contiguous_format)(pixels)
    assert torch.allclose(fast, slow, atol=1e-3)
    assert (fast.argmax(1).numpy() == data.labels).all()
