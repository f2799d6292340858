"""What lltd sends a model server: the defended image in the upstream protocol's body.

- ``raw``: the image bytes (PNG, or lossless WebP for ``Accept: image/webp``), as TorchServe's
  ``/predictions/NAME`` takes them.
- ``kserve-v1``: ``{"instances": [INSTANCE]}``, the instance in the shape the model reads
  (``image.b64``: ``{"image": {"b64": B64}}``; ``data``: ``{"data": B64}``; ``b64``: ``B64``).
- ``kserve-v2`` (Open Inference Protocol): one input; ``BYTES``: shape ``[1]``, the encoded
  image as base64 text (JSON carries no raw bytes); ``UINT8``: shape ``[H, W, 3]``, the RGB
  pixels row by row. The client's ``x-request-id`` becomes the request's ``id``.

Plain functions of bytes, run in a worker thread (base64 and JSON of a large image take ms).
"""

from __future__ import annotations

import base64
import json
from typing import NamedTuple


class Payload(NamedTuple):
    body: bytes
    content_type: str


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def kserve_v1(image: bytes, instance: str) -> Payload:
    encoded = b64(image)
    shapes: dict[str, object] = {
        "image.b64": {"image": {"b64": encoded}},
        "data": {"data": encoded},
        "b64": encoded,
    }
    return Payload(json.dumps({"instances": [shapes[instance]]}).encode(), "application/json")


def kserve_v2_bytes(image: bytes, name: str, request_id: str | None) -> Payload:
    tensor = {"name": name, "shape": [1], "datatype": "BYTES", "data": [b64(image)]}
    return _v2(tensor, request_id)


def kserve_v2_uint8(
    rgb: bytes, size: tuple[int, int], name: str, request_id: str | None
) -> Payload:
    width, height = size
    if len(rgb) != width * height * 3:
        raise ValueError(f"{len(rgb)} bytes are not {width}x{height} RGB pixels")
    tensor = {"name": name, "shape": [height, width, 3], "datatype": "UINT8", "data": "DATA"}
    head, tail = _v2(tensor, request_id).body.split(b'"DATA"')
    return Payload(b"".join((head, b"[", json_uint8(rgb), b"]", tail)), "application/json")


def _digit_table(place: int) -> bytes:
    # Byte v -> the ASCII of its digit at ``place`` (100, 10, 1), or a space where v has none.
    return bytes(
        ord(str(v // place % 10)) if v >= place or place == 1 else ord(" ") for v in range(256)
    )


DIGITS = tuple(_digit_table(place) for place in (100, 10, 1))


def json_uint8(values: bytes) -> bytes:
    """``values`` as the items of a JSON array, 4 characters each (``"  7,"``: JSON allows the
    spaces), built by ``bytes.translate`` at C speed. json.dumps of a list of ints took 12
    times as long at twice the peak memory (bench/serve/payloads.py)."""
    out = bytearray(4 * len(values))
    for position, table in enumerate(DIGITS):
        out[position::4] = values.translate(table)
    out[3::4] = b"," * len(values)
    return bytes(out[:-1])


def _v2(tensor: dict[str, object], request_id: str | None) -> Payload:
    request: dict[str, object] = {"inputs": [tensor]}
    if request_id:
        request = {"id": request_id, **request}
    return Payload(json.dumps(request, separators=(",", ":")).encode(), "application/json")
