"""`lltd serve` installed and run as the project's own systemd unit, under a real systemd.

One guest for the module: lltd with its ``serve`` extra from wheels of the working tree,
systemd/lltd-serve@.service installed unchanged (plus a drop-in with a short WatchdogSec= so
keep-alives and a hang can be observed in seconds), no static ``lltd`` user (so DynamicUser=
allocates a transient one), options from /etc/lltd/serve-PORT.env as the unit's comments say.
The tests run in order: readiness, hardening in force, one request answered with the pixels
`lltd defend` writes in the same guest, two of the largest images the defaults allow at once
within the unit's MemoryMax=, the watchdog catching a hang, a clean stop.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import PROJECT, booted
from .machine import Machine, wait_for, wait_keepalives
from .wheels import dependency_wheels, project_wheel

UNIT_FILE = PROJECT / "systemd" / "lltd-serve@.service"
PORT = 8080
UNIT = f"lltd-serve@{PORT}.service"
VENV = "/opt/lltd"
WATCHDOG_S = 10  # short enough to watch keep-alives, long enough for a loaded CI machine
SAMPLE = PROJECT / "sample_data" / "astronaut.png"

# Runs in the guest (its network namespace): one POST, the answer's status and headers as JSON.
CLIENT = """
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
conn.request(sys.argv[2], sys.argv[3], body=open(sys.argv[4], "rb").read() if sys.argv[4] else None,
             headers={"Content-Type": "image/png"})
answer = conn.getresponse()
body = answer.read()
open(sys.argv[5], "wb").write(body)
print(json.dumps({"status": answer.status, "headers": dict(answer.getheaders())}))
"""


# Runs in the guest: the same body posted by two clients at once, each retrying a 503 from lltd
# (busy: it waited --queue-timeout behind the other) a few times; statuses and answer sizes.
TWO_AT_ONCE = """
import http.client, io, json, sys, threading, time
from PIL import Image
body = open(sys.argv[2], "rb").read()
results = [[], []]
def post(slot):
    for _ in range(4):
        conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=600)
        try:
            conn.request("POST", "/v1/defend", body=body,
                         headers={"Content-Type": "image/png", "Accept": "image/webp"})
            answer = conn.getresponse()
            data = answer.read()
        except OSError as exc:  # the server died under the request (OOM-killed)
            results[slot].append({"status": None, "error": repr(exc)})
            return
        size = list(Image.open(io.BytesIO(data)).size) if answer.status == 200 else None
        results[slot].append({"status": answer.status, "size": size,
                              "problem": answer.getheader("X-Lltd-Problem"),
                              "retry_after": answer.getheader("Retry-After")})
        if answer.status != 503:
            return
        time.sleep(int(answer.getheader("Retry-After") or 1))
threads = [threading.Thread(target=post, args=(slot,)) for slot in (0, 1)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(results))
"""


def _state(machine: Machine) -> str:
    return machine.show(UNIT, "ActiveState")["ActiveState"]


def _wait_active(machine: Machine) -> None:
    try:  # our own bound on the READY=1 handshake, rather than TimeoutStartSec=
        wait_for(f"{UNIT} to report READY=1", lambda: _state(machine) in ("active", "failed"), 90)
        assert _state(machine) == "active", f"{UNIT} is {_state(machine)}"
    except AssertionError as e:
        status = machine.systemctl("status", UNIT, check=False).stdout
        raise AssertionError(f"{e}\n{status}\n{machine.journal('-u', UNIT)}") from None


@pytest.fixture(scope="module")
def machine(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    deps = dependency_wheels(PROJECT, extras=("serve",))
    wheels = [project_wheel(PROJECT, tmp_path_factory.mktemp("lltd-wheel")), *deps.glob("*.whl")]
    with booted(rootfs) as guest:
        wheel_dir = guest.path("/var/tmp/lltd-wheels")
        wheel_dir.mkdir()
        for wheel in wheels:
            shutil.copy(wheel, wheel_dir)
        (pip_wheel,) = guest.path("/usr/share/python-wheels").glob("pip-*.whl")
        guest.run("python3", "-m", "venv", "--without-pip", VENV)
        pip = [f"{VENV}/bin/python", f"/usr/share/python-wheels/{pip_wheel.name}/pip", "install"]
        pip += ["--disable-pip-version-check", "--quiet", "--no-index", "--find-links"]
        guest.run(*pip, "/var/tmp/lltd-wheels", "lltd[serve]", timeout=300)
        guest.run("ln", "-s", f"{VENV}/bin/lltd", "/usr/local/bin/lltd")
        shutil.copyfile(UNIT_FILE, guest.path(f"/etc/systemd/system/{UNIT_FILE.name}"))
        dropin = guest.path(f"/etc/systemd/system/{UNIT}.d")
        dropin.mkdir()
        (dropin / "watchdog.conf").write_text(f"[Service]\nWatchdogSec={WATCHDOG_S}\n")
        guest.path("/etc/lltd").mkdir()
        guest.path(f"/etc/lltd/serve-{PORT}.env").write_text(
            "LLTD_SERVE_OPTIONS=-q 50 --direction vertical\n"
        )
        guest.systemctl("daemon-reload")
        guest.systemctl("start", "--no-block", UNIT)
        _wait_active(guest)
        yield guest


def request(machine: Machine, method: str, path: str, body: bytes | None = None):
    if body is not None:
        machine.path("/var/tmp/request.bin").write_bytes(body)
    out = machine.run(
        f"{VENV}/bin/python",
        "-c",
        CLIENT,
        str(PORT),
        method,
        path,
        "/var/tmp/request.bin" if body is not None else "",
        "/var/tmp/answer.bin",
    ).stdout
    answer = json.loads(out)
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    return answer["status"], headers, machine.path("/var/tmp/answer.bin").read_bytes()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode.encode() + repr(image.size).encode() + image.tobytes()


def test_starts_ready_as_notify(machine: Machine) -> None:
    state = machine.show(UNIT, "Type", "ActiveState", "SubState", "NRestarts", "StatusText")
    assert state["Type"] == "notify" and state["SubState"] == "running", state
    assert state["NRestarts"] == "0"
    assert state["StatusText"] == f"listening on 127.0.0.1:{PORT}"
    status, _, body = request(machine, "GET", "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready"}


def test_hardening_is_in_force(machine: Machine) -> None:
    pid = machine.show(UNIT, "MainPID")["MainPID"]
    text = machine.run("cat", f"/proc/{pid}/status").stdout
    status = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    uid = int(status["Uid"].split()[0])
    assert uid != 0 and 61184 <= uid <= 65519, status["Uid"]  # DynamicUser's transient range
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    mounts = {}
    for line in machine.run("cat", f"/proc/{pid}/mountinfo").stdout.splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")
    assert "ro" in mounts["/"], "ProtectSystem=strict: / must be read-only"
    assert "/tmp" in mounts and "/dev" in mounts


def test_one_request_gets_the_pixels_lltd_defend_writes(machine: Machine) -> None:
    status, headers, body = request(machine, "POST", "/v1/defend", SAMPLE.read_bytes())
    assert status == 200, body[:300]
    assert headers["content-type"] == "image/png"
    # The options of /etc/lltd/serve-PORT.env are in force.
    assert headers["x-lltd-quality"] == "50" and headers["x-lltd-flip"] == "vertical"
    folder = machine.path("/var/tmp/in")
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    machine.run(
        "lltd", "defend", "/var/tmp/in", "-o", "/var/tmp/out", "-q", "50", "--direction", "vertical"
    )
    assert pixels(body) == pixels(machine.path(f"/var/tmp/out/{SAMPLE.name}").read_bytes())
    status, _, metrics = request(machine, "GET", "/metrics")
    assert b'lltd_serve_requests_total{route="/v1/defend",status="200"} 1.0' in metrics


def _memory_files(machine: Machine) -> tuple[str, str] | None:
    """The service's cgroup memory limit and peak, cgroup v2 or v1, where the guest has them
    (read in the guest: its /sys is not in the overlay :meth:`Machine.path` reaches)."""
    group = machine.show(UNIT, "ControlGroup")["ControlGroup"]  # under system-lltd\x2dserve.slice
    for base, limit, peak in (
        ("/sys/fs/cgroup", "memory.max", "memory.peak"),
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.max_usage_in_bytes"),
    ):
        folder = f"{base}{group}"
        if (
            machine.run(
                "test", "-f", f"{folder}/{limit}", "-a", "-f", f"{folder}/{peak}", check=False
            ).returncode
            == 0
        ):
            return f"{folder}/{limit}", f"{folder}/{peak}"
    return None


def _read(machine: Machine, path: str) -> int:
    return int(machine.run("cat", path).stdout)


@pytest.mark.slow
def test_two_largest_allowed_images_at_once_and_the_service_survives(machine: Machine) -> None:
    from lltd.common.limits import BYTES_PER_PIXEL, DEFAULT_INFLIGHT_PIXELS, DEFAULT_MAX_PIXELS

    memory_max = 2 * 1024**3
    assert machine.show(UNIT, "MemoryMax")["MemoryMax"] == str(memory_max)
    files = _memory_files(machine)
    if files is None:
        pytest.skip("the guest has no memory cgroup for the unit: MemoryMax= is not enforced")
    limit, peak = files
    assert _read(machine, limit) == memory_max
    pid = machine.show(UNIT, "MainPID")["MainPID"]
    # The largest image the defaults take: --max-pixels is the in-flight budget. Without the
    # budget the two, with lossless WebP answers (the costliest), need about 2.7 GB at once.
    side = 5000
    largest = min(DEFAULT_MAX_PIXELS, DEFAULT_INFLIGHT_PIXELS)
    assert largest % side == 0
    size = (largest // side, side)
    # Gray noise: it fits --max-bytes (one byte a pixel), and it is the costliest content for
    # the lossless WebP answer (a smooth picture costs half as much: the test would prove
    # nothing with it).
    noise = np.random.default_rng(24).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise, "L").save(buffer, "PNG", compress_level=1)
    assert len(buffer.getvalue()) <= 32 * 1024 * 1024  # the default --max-bytes
    machine.path("/var/tmp/largest.png").write_bytes(buffer.getvalue())
    out = machine.run(
        f"{VENV}/bin/python", "-c", TWO_AT_ONCE, str(PORT), "/var/tmp/largest.png", timeout=1800
    ).stdout
    results = json.loads(out)
    for tries in results:
        # Either served, or refused by lltd itself as busy (503 marked, Retry-After), then served.
        *refused, last = tries
        assert last["status"] == 200 and last["size"] == list(size), tries
        assert all(t["status"] == 503 and t["problem"] == "busy" for t in refused), tries
    state = machine.show(UNIT, "ActiveState", "MainPID", "NRestarts")
    assert state == {"ActiveState": "active", "MainPID": pid, "NRestarts": "0"}, state
    # The kernel keeps the peak under MemoryMax by killing, and two such images at once may
    # just fit in it: the peak must also be what the budget admits, one image at a time (the
    # derivation of docs/operations/serve-capacity.md: the process, both bodies, the pixels at
    # BYTES_PER_PIXEL). Both at once measured about 2.2 GB (or were killed), one at a time 1.1.
    bound = 128 * 1024**2 + 2 * len(buffer.getvalue()) + BYTES_PER_PIXEL * largest
    used = _read(machine, peak)
    print(f"two {size[0]}x{size[1]} images: {results}; cgroup peak {used} B of {bound}")
    assert used <= bound, f"peak {used} B: more than one largest image at once"
    journal = machine.journal("-u", UNIT).lower()
    assert "oom-kill" not in journal and "oom killer" not in journal, journal[-3000:]


def test_watchdog_keepalives_and_a_hang_is_restarted(machine: Machine) -> None:
    wait_keepalives(  # keep-alives arrive: no restart
        UNIT,
        lambda: machine.show(UNIT, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"],
        3,
        6 * WATCHDOG_S,
    )
    assert machine.show(UNIT, "NRestarts")["NRestarts"] == "0"
    pid = int(machine.show(UNIT, "MainPID")["MainPID"])
    os.kill(machine.host_pid(pid), signal.SIGSTOP)  # a hung event loop sends no keep-alives
    wait_for(
        "the watchdog to restart the hung server",
        lambda: machine.show(UNIT, "NRestarts")["NRestarts"] == "1",
        60,
    )
    _wait_active(machine)
    assert int(machine.show(UNIT, "MainPID")["MainPID"]) != pid
    assert request(machine, "GET", "/healthz")[0] == 200


def test_clean_stop_and_plain_journal(machine: Machine) -> None:
    machine.systemctl("stop", UNIT)
    state = machine.show(UNIT, "ActiveState", "Result", "ExecMainStatus")
    assert state["ActiveState"] == "inactive", state
    journal = machine.journal("-u", UNIT, "-o", "cat")
    assert "Traceback" not in journal, journal[-3000:]
    assert "Application startup complete" in journal
    assert state["ExecMainStatus"] == "0"  # SIGTERM: requests finished, exit status 0
    assert "watchdog timeout" in machine.journal("-u", UNIT).lower()
