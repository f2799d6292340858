"""``lltd serve`` in front of a real KServe ``ModelServer`` (the ``kserve`` package, on
loopback): the probe models of tests/model_servers/kserve_probe.py answer with what they
received, so the model is seen to get exactly ``lltd defend``'s pixels, over KServe v1 (each
instance shape) and v2 (the Open Inference Protocol, BYTES and UINT8)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from model_server_helpers import (
    PROBES,
    SOURCE,
    defended_digest,
    free_port,
    json_body,
    models_venv,
    process_group,
    wait_for,
)
from serve_helpers import json_error, running


@pytest.fixture(scope="module")
def kserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a KServe model server with the models probe, failing and slow."""
    python = models_venv("kserve")
    tmp = tmp_path_factory.mktemp("kserve")
    with process_group([str(python), str(PROBES / "kserve_probe.py")], tmp, {}) as process:
        log = tmp / "server.log"
        found = None
        for _ in range(600):  # the probe prints its port before the server starts
            found = re.search(r"listening on (\d+)", log.read_text())
            if found or process.poll() is not None:
                break
            time.sleep(0.1)
        assert found, log.read_text()
        url = f"http://127.0.0.1:{found.group(1)}"
        wait_for(f"{url}/v2/models/probe/ready", "probe", process, log, 120)
        yield url


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> str:
    return defended_digest(tmp_path_factory.mktemp("defended"))


@pytest.mark.parametrize("instance", [None, "data", "b64"])
def test_kserve_v1_each_instance_shape_gives_the_model_the_defended_pixels(
    kserve: str, expected: str, instance: str | None
) -> None:
    shape = ["--upstream-instance", instance] if instance else []
    url = f"{kserve}/v1/models/probe:predict"
    with running("--upstream", url, "--upstream-protocol", "kserve-v1", *shape) as server:
        status, headers, body = server.defend(SOURCE.read_bytes(), **{"x-request-id": "req-v1"})
    assert status == 200, body
    (seen,) = json_body(body)["predictions"]  # type: ignore[misc]
    assert seen["sha256"] == expected and seen["shape"] == (instance or "image.b64")
    # The request id went to the model and came back; the answer is marked as the model's.
    assert seen["x-request-id"] == "req-v1" and headers["x-request-id"] == "req-v1"
    assert headers["x-lltd-upstream-status"] == "200" and headers["x-lltd-quality"] == "60"


@pytest.mark.parametrize(
    ("options", "shape", "name"),
    [
        ([], "BYTES", "image"),
        (
            ["--upstream-datatype", "UINT8", "--upstream-input", "pixels"],
            "UINT8[299, 299, 3]",
            "pixels",
        ),
    ],
)
def test_kserve_v2_gives_the_model_the_defended_pixels(
    kserve: str, expected: str, options: list[str], shape: str, name: str
) -> None:
    url = f"{kserve}/v2/models/probe/infer"
    with running("--upstream", url, "--upstream-protocol", "kserve-v2", *options) as server:
        status, headers, body = server.defend(SOURCE.read_bytes(), **{"x-request-id": "req-v2"})
    assert status == 200, body
    answer = json_body(body)
    assert answer["model_name"] == "probe" and answer["id"] == "req-v2"
    (output,) = answer["outputs"]  # type: ignore[misc]
    seen = json.loads(output["data"][0])
    assert seen["sha256"] == expected and seen["shape"] == shape and seen["input"] == name
    assert headers["content-type"] == "application/json"
    assert headers["x-lltd-upstream-status"] == "200"


def test_kserve_errors_come_back_as_documented(kserve: str) -> None:
    v1, v2 = ["--upstream-protocol", "kserve-v1"], ["--upstream-protocol", "kserve-v2"]
    # The model raises: KServe's 500 and its message, passed through and marked as the model's.
    with running("--upstream", f"{kserve}/v1/models/failing:predict", *v1) as server:
        status, headers, body = server.defend(SOURCE.read_bytes())
    assert status == 500 and "failed on purpose" in json_body(body)["error"]  # type: ignore[operator]
    assert headers["x-lltd-upstream-status"] == "500" and "x-lltd-problem" not in headers
    # No such model: KServe's 404.
    with running("--upstream", f"{kserve}/v2/models/nope/infer", *v2) as server:
        status, headers, body = server.defend(SOURCE.read_bytes())
    assert status == 404 and "nope" in json_body(body)["error"]  # type: ignore[operator]
    assert headers["x-lltd-upstream-status"] == "404"
    # Too slow: lltd's own 504 (no upstream status: the model server never answered).
    slow = f"{kserve}/v1/models/slow:predict"
    with running("--upstream", slow, *v1, "--upstream-timeout", "1") as server:
        status, headers, body = server.defend(SOURCE.read_bytes())
    assert status == 504 and "within 1 s" in json_error(body)["error"]
    assert "x-lltd-upstream-status" not in headers and headers["x-lltd-problem"] == "error"
    # Down: lltd's own 502.
    down = f"http://127.0.0.1:{free_port()}/v2/models/probe/infer"
    with running("--upstream", down, *v2) as server:
        status, headers, body = server.defend(SOURCE.read_bytes())
    assert status == 502 and "unreachable" in json_error(body)["error"]
    assert "x-lltd-upstream-status" not in headers and headers["x-lltd-problem"] == "error"
