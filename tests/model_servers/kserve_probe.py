"""A real KServe ``ModelServer`` with probe models, for tests/test_serve_real_kserve.py.

Run with the model-servers venv: ``.venv-models/bin/python kserve_probe.py``. It listens on
127.0.0.1 only (KServe's REST server binds every address; patched here, in this process) on a
free port, and prints ``listening on PORT``. Its models answer with what they received:

- ``probe``: the image of a v1 instance (``image.b64``, ``data`` or a bare b64 string) or of a
  v2 input (BYTES: the encoded image, base64; UINT8: an ``[H, W, 3]`` tensor), decoded and
  described by mode, size and the SHA-256 of its pixels, and the ``x-request-id`` it was given;
- ``failing``: raises; ``slow``: answers after 5 s.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import socket
import sys

import kserve
import numpy as np
import uvicorn
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from PIL import Image


class LoopbackConfig(uvicorn.Config):
    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


uvicorn.Config = LoopbackConfig  # type: ignore[misc]  # KServe's RESTServer builds one


def describe(image: Image.Image, shape: str) -> dict[str, object]:
    digest = hashlib.sha256(image.mode.encode() + repr(image.size).encode() + image.tobytes())
    return {
        "shape": shape,
        "mode": image.mode,
        "size": list(image.size),
        "sha256": digest.hexdigest(),
    }


def from_v1(instance: object) -> dict[str, object]:
    if isinstance(instance, str):
        data, shape = instance, "b64"
    elif isinstance(instance, dict) and "data" in instance:
        data, shape = instance["data"], "data"
    else:
        data, shape = instance["image"]["b64"], "image.b64"  # type: ignore[index]
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        image.load()
        return describe(image, shape)


def from_v2(request: InferRequest) -> dict[str, object]:
    tensor = request.inputs[0]
    if tensor.datatype == "BYTES":
        encoded = tensor.data[0]
        encoded = encoded.encode() if isinstance(encoded, str) else encoded
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as image:
            image.load()
            found = describe(image, "BYTES")
    else:
        array = tensor.as_numpy()
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3, array.shape
        found = describe(Image.fromarray(array, "RGB"), f"UINT8{list(array.shape)}")
    found["input"] = tensor.name
    return found


class Probe(kserve.Model):
    def __init__(self, name: str) -> None:
        super().__init__(name, return_response_headers=True)
        self.ready = True

    async def predict(
        self,
        payload: dict | InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        if self.name == "failing":
            raise ValueError("the probe model failed on purpose")
        if self.name == "slow":
            await asyncio.sleep(5)
        request_id = (headers or {}).get("x-request-id")
        if response_headers is not None and request_id:
            response_headers["x-request-id"] = request_id
        if isinstance(payload, InferRequest):
            found = {**from_v2(payload), "x-request-id": request_id}
            output = InferOutput("probe", [1], "BYTES", [json.dumps(found)])
            return InferResponse(payload.id or "", self.name, [output])
        instances = payload["instances"]
        return {"predictions": [{**from_v1(i), "x-request-id": request_id} for i in instances]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    port = free_port()
    print(f"listening on {port}", flush=True)
    sys.argv = [sys.argv[0], "--http_port", str(port), "--enable_grpc", "false"]
    server = kserve.ModelServer(http_port=port, enable_grpc=False)
    server.start([Probe("probe"), Probe("failing"), Probe("slow")])
