"""The bodies lltd posts to a model server (lltd/serve/payloads.py), parsed back as JSON: every
byte value survives the UINT8 encoding, and each KServe v1 shape puts the image where its name
says. (The real servers reading them: tests/test_serve_real_*.py.)"""

from __future__ import annotations

import base64
import json

import pytest

from lltd.serve import payloads


def test_uint8_json_holds_every_byte_value_exactly() -> None:
    values = bytes(range(256)) * 3 + bytes([0])
    assert json.loads(b"[" + payloads.json_uint8(values) + b"]") == list(values)
    assert payloads.json_uint8(b"") == b""
    body = payloads.kserve_v2_uint8(bytes(range(12)), (2, 2), "pixels", "req-1").body
    request = json.loads(body)
    assert request["id"] == "req-1"
    assert request["inputs"] == [
        {"name": "pixels", "shape": [2, 2, 3], "datatype": "UINT8", "data": list(range(12))}
    ]
    with pytest.raises(ValueError, match="not 2x2 RGB"):
        payloads.kserve_v2_uint8(bytes(11), (2, 2), "pixels", None)


@pytest.mark.parametrize(
    ("shape", "where"),
    [
        ("image.b64", lambda i: i["image"]["b64"]),
        ("data", lambda i: i["data"]),
        ("b64", lambda i: i),
    ],
)
def test_kserve_v1_shapes(shape: str, where) -> None:
    body, content_type = payloads.kserve_v1(b"\x89PNG image", shape)
    (instance,) = json.loads(body)["instances"]
    assert base64.b64decode(where(instance)) == b"\x89PNG image"
    assert content_type == "application/json"


@pytest.mark.parametrize("request_id", ["req-7", None, ""])
def test_kserve_v2_bytes_is_one_bytes_input_of_shape_1_holding_the_image_as_base64(
    request_id: str | None,
) -> None:
    body, content_type = payloads.kserve_v2_bytes(b"\x89PNG \x00\xff", "image", request_id)
    tensor = {"name": "image", "shape": [1], "datatype": "BYTES", "data": ["iVBORyAA/w=="]}
    # The client's x-request-id becomes the id; without one (or an empty one) there is none.
    expected = {"id": request_id, "inputs": [tensor]} if request_id else {"inputs": [tensor]}
    assert json.loads(body) == expected
    assert content_type == "application/json"
    assert b" " not in body  # compact separators: a large image's base64 is most of the body


@pytest.mark.parametrize("request_id", ["r", None])
def test_kserve_v2_uint8_is_json_and_a_wrong_pixel_count_is_named_exactly(
    request_id: str | None,
) -> None:
    assert payloads.kserve_v2_uint8(bytes(6), (2, 1), "p", request_id).content_type == (
        "application/json"
    )
    with pytest.raises(ValueError) as refused:
        payloads.kserve_v2_uint8(bytes(5), (2, 1), "p", request_id)
    assert str(refused.value) == "5 bytes are not 2x1 RGB pixels"
