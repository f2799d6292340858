"""``lltd serve`` in front of a real TorchServe (the ``torchserve`` package and Java, on
loopback), with the small handler of tests/model_servers/torchserve_probe.py: TorchServe's stock
``VisionHandler`` decodes what lltd sends and the answer describes the decoded pixels. Two
servers, started together once for the module (a JVM start is the slow part): raw
``/predictions``, and the KServe envelope (``service_envelope=kserve``, a global setting)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import model_server_helpers as servers
import pytest
from serve_helpers import running

ENVELOPES = ("raw", "kserve")


def config(tmp: Path, envelope: str) -> tuple[Path, dict[str, int]]:
    ports = {
        name: servers.free_port() for name in ("inference", "management", "metrics", "gi", "gm")
    }
    lines = [
        f"inference_address=http://127.0.0.1:{ports['inference']}",
        f"management_address=http://127.0.0.1:{ports['management']}",
        f"metrics_address=http://127.0.0.1:{ports['metrics']}",
        "grpc_inference_address=127.0.0.1",
        "grpc_management_address=127.0.0.1",
        f"grpc_inference_port={ports['gi']}",
        f"grpc_management_port={ports['gm']}",
        "default_workers_per_model=1",
        "disable_token_authorization=true",
    ]
    if envelope != "raw":
        lines.append(f"service_envelope={envelope}")
    path = tmp / "config.properties"
    path.write_text("\n".join(lines) + "\n")
    return path, ports


@pytest.fixture(scope="module")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``{"raw": URL, "kserve": URL}``: the inference address of each server."""
    servers.models_venv("ts", "model_archiver", "yaml", "captum", "torchvision")
    if shutil.which("java") is None:
        pytest.skip("no java: TorchServe's frontend needs a JRE (.ci/setup installs Debian's)")
    root = tmp_path_factory.mktemp("torchserve")
    store = root / "store"
    store.mkdir()
    archived = subprocess.run(
        [str(servers.MODELS / "torch-model-archiver"), "--model-name", "probe", "--version", "1",
         "--handler", str(servers.PROBES / "torchserve_probe.py"), "--export-path", str(store)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert archived.returncode == 0, archived.stderr
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        started = []
        for envelope in ENVELOPES:
            home = root / envelope
            (home / "tmp").mkdir(parents=True)
            path, ports = config(home, envelope)
            argv = [
                str(servers.MODELS / "torchserve"), "--start", "--foreground", "--ncs",
                "--disable-token-auth", "--model-store", str(store),
                "--models", "probe=probe.mar", "--ts-config", str(path),
            ]  # fmt: skip
            # TMPDIR: TorchServe keeps a PID file there and refuses to start beside another.
            process = stack.enter_context(
                servers.process_group(argv, home, {"TMPDIR": str(home / "tmp")})
            )
            started.append((envelope, process, home, ports))
        for envelope, process, home, ports in started:
            management = f"http://127.0.0.1:{ports['management']}/models/probe"
            servers.wait_for(management, '"READY"', process, home / "server.log", 300)
            urls[envelope] = f"http://127.0.0.1:{ports['inference']}"
        yield urls


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> str:
    return servers.defended_digest(tmp_path_factory.mktemp("defended"))


def test_raw_predictions_get_the_defended_image(torchserve: dict[str, str], expected: str) -> None:
    with running("--upstream", f"{torchserve['raw']}/predictions/probe") as server:
        status, headers, body = server.defend(servers.SOURCE.read_bytes())
        assert status == 200, body
        assert servers.json_body(body)["sha256"] == expected
        # TorchServe's request id and its other end-to-end headers come back.
        assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-request-id"]), headers
        assert "no-store" in headers["cache-control"]
        assert headers["x-lltd-upstream-status"] == "200"
        # Lossless WebP (Accept: image/webp) reaches the model as the same pixels.
        status, _, body = server.defend(servers.SOURCE.read_bytes(), Accept="image/webp")
        assert status == 200 and servers.json_body(body)["sha256"] == expected


def test_kserve_envelope_takes_the_data_instance_shape(
    torchserve: dict[str, str], expected: str
) -> None:
    url = f"{torchserve['kserve']}/predictions/probe"
    v1 = ["--upstream-protocol", "kserve-v1"]
    with running("--upstream", url, *v1, "--upstream-instance", "data") as server:
        status, headers, body = server.defend(servers.SOURCE.read_bytes())
    assert status == 200, body
    (seen,) = servers.json_body(body)["predictions"]  # type: ignore[misc]
    assert seen["sha256"] == expected
    # KServe's sample shape is not what this envelope reads: TorchServe's 503 comes back, marked
    # as the model server's (no X-Lltd-Problem, no Retry-After: not lltd's own overload).
    with running("--upstream", url, *v1) as server:
        status, headers, body = server.defend(servers.SOURCE.read_bytes())
    assert status == 503 and servers.json_body(body)["message"] == "Prediction failed"
    assert headers["x-lltd-upstream-status"] == "503"
    assert "x-lltd-problem" not in headers and "retry-after" not in headers
