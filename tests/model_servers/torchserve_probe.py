"""A TorchServe handler for tests/test_serve_real_torchserve.py: TorchServe's stock
``VisionHandler`` decodes the request's image (raw bytes, or the base64 ``data`` of a KServe
envelope instance); instead of a model, the answer describes the decoded pixels (mode, size,
SHA-256), so the test sees exactly what a model would have been given."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torchvision.transforms import PILToTensor
from ts.torch_handler.vision_handler import VisionHandler

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


class ProbeHandler(VisionHandler):
    image_processing = PILToTensor()  # uint8 [C, H, W]: the decoded pixels, unchanged

    def initialize(self, context: Any) -> None:
        self.context = context
        self.device = torch.device("cpu")
        self.initialized = True

    def inference(self, data: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return data

    def postprocess(self, data: torch.Tensor) -> list[dict[str, object]]:
        answers = []
        for tensor in data:
            channels, height, width = tensor.shape
            pixels = tensor.permute(1, 2, 0).contiguous().numpy().tobytes()
            mode = MODES[channels]
            digest = hashlib.sha256(mode.encode() + repr((width, height)).encode() + pixels)
            answers.append({"mode": mode, "size": [width, height], "sha256": digest.hexdigest()})
        return answers
