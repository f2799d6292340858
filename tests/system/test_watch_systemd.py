"""`lltd watch` installed and run as the project's own systemd unit, under a real systemd.

One guest for the module: lltd is installed from a wheel of the working tree,
systemd/lltd-watch@.service and systemd/example.toml are installed unchanged
(the only addition is a drop-in with a shorter WatchdogSec= so keep-alives can be
observed in seconds), and `lltd-watch@example` is enabled and started. The
tests then run in order against that service: readiness and STATUS=, hardening
in force, files defended and corrupt ones set aside, a SIGKILL in the middle of
a backlog, the watchdog, a clean stop, and the journal.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from lltd.fs.atomic import TEMP_SUFFIX
from lltd.imaging.imageio import open_image
from lltd.transforms import defend_image

from .conftest import PROJECT, booted
from .machine import Machine, wait_for, wait_keepalives

UNIT_FILE = PROJECT / "systemd" / "lltd-watch@.service"
EXAMPLE_CONFIG = PROJECT / "systemd" / "example.toml"
# The example's status file lives in the unit's RuntimeDirectory=lltd/%i, so the
# instance is named after the config, as the unit's own instructions do.
INSTANCE = EXAMPLE_CONFIG.stem
UNIT = f"lltd-watch@{INSTANCE}.service"
IDENTIFIER = f"lltd-watch@{INSTANCE}"  # SyslogIdentifier= of the unit
# Short enough to see keep-alives in seconds, long enough that a loaded CI machine (tests/load.sh)
# never stalls the daemon past it: a 2 s watchdog killed healthy daemons there.
WATCHDOG_S = 10
WATCHDOG_DROPIN = f"[Service]\nWatchdogSec={WATCHDOG_S}\n"
VENV = "/opt/lltd"
COUNTERS = re.compile(r"processed (\d+), failed (\d+), queued (\d+), in flight (\d+)")


@dataclass
class Service:
    machine: Machine
    inbox: str  # guest paths, from the example config
    outbox: str
    status_file: str
    uid: int  # of the static "lltd" user the unit runs as
    jobs: int
    guest_pillow: str

    def host(self, guest_path: str) -> Path:
        return self.machine.path(guest_path)

    @property
    def inbox_host(self) -> Path:
        return self.host(self.inbox)

    @property
    def outbox_host(self) -> Path:
        return self.host(self.outbox)

    def show(self, *props: str) -> dict[str, str]:
        return self.machine.show(UNIT, *props)

    def counters(self) -> tuple[int, int]:
        """(processed, failed) as systemd shows them, from the daemon's STATUS=."""
        match = COUNTERS.search(self.show("StatusText")["StatusText"])
        assert match, f"no counters in StatusText: {self.show('StatusText')}"
        return int(match[1]), int(match[2])

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def wait_running(self, what: str, timeout: float = 30) -> None:
        def running() -> bool:
            state = self.show("ActiveState", "SubState")
            return state == {"ActiveState": "active", "SubState": "running"}

        wait_for(what, running, timeout, 0.2)

    def logs(self, *args: str) -> str:
        return self.machine.journal("-t", IDENTIFIER, "-o", "cat", *args)


@pytest.fixture(scope="module")
def service(rootfs: Path, lltd_wheels: list[Path]) -> Iterator[Service]:
    with booted(rootfs) as machine:
        yield _install_and_start(machine, lltd_wheels)


def _install_and_start(machine: Machine, wheels: list[Path]) -> Service:
    # lltd from the working tree's wheel, offline, into a venv on the service's PATH.
    wheel_dir = machine.path("/var/tmp/lltd-wheels")
    wheel_dir.mkdir()
    for wheel in wheels:
        shutil.copy(wheel, wheel_dir)
    # Debian's pip wheel runs pip without installing it into the venv (ensurepip is slow).
    (pip_wheel,) = machine.path("/usr/share/python-wheels").glob("pip-*.whl")
    machine.run("python3", "-m", "venv", "--without-pip", VENV)
    pip = [f"{VENV}/bin/python", f"/usr/share/python-wheels/{pip_wheel.name}/pip", "install"]
    pip += ["--disable-pip-version-check", "--quiet", "--no-index", "--find-links"]
    machine.run(*pip, "/var/tmp/lltd-wheels", "lltd", timeout=300)
    machine.run("ln", "-s", f"{VENV}/bin/lltd", "/usr/local/bin/lltd")

    # The unit and config exactly as shipped, plus the static user its comments recommend.
    config = tomllib.loads(EXAMPLE_CONFIG.read_text())
    (folder,) = config["folder"]
    machine.run("useradd", "--system", "--user-group", "--no-create-home", "lltd")
    machine.run("mkdir", "-p", folder["input"], folder["output"])
    machine.run("chown", "lltd:lltd", folder["input"], folder["output"])
    machine.path("/etc/lltd").mkdir()
    shutil.copyfile(EXAMPLE_CONFIG, machine.path(f"/etc/lltd/{INSTANCE}.toml"))
    shutil.copyfile(UNIT_FILE, machine.path(f"/etc/systemd/system/{UNIT_FILE.name}"))
    dropin = machine.path(f"/etc/systemd/system/{UNIT}.d")
    dropin.mkdir()
    (dropin / "watchdog.conf").write_text(WATCHDOG_DROPIN)
    machine.systemctl("daemon-reload")
    machine.systemctl("enable", "--now", "--no-block", UNIT)
    try:  # our own bound on the READY=1 handshake, rather than TimeoutStartSec=
        wait_for(f"{UNIT} to report READY=1", lambda: _state(machine) in ("active", "failed"), 60)
        assert _state(machine) == "active", f"{UNIT} is {_state(machine)}"
    except AssertionError as e:
        status = machine.systemctl("status", UNIT, check=False).stdout
        raise AssertionError(f"{e}\n{status}\n{machine.journal('-u', UNIT)}") from None
    uid = int(machine.run("id", "-u", "lltd").stdout)
    pillow = next(w.name.split("-")[1] for w in wheels if w.name.lower().startswith("pillow-"))
    return Service(
        machine,
        inbox=folder["input"],
        outbox=folder["output"],
        status_file=config["status_file"],
        uid=uid,
        jobs=config["jobs"],
        guest_pillow=pillow,
    )


def _state(machine: Machine) -> str:
    return machine.show(UNIT, "ActiveState")["ActiveState"]


# -- images ----------------------------------------------------------------------------------


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (96, 80)) -> bytes:
    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx * (3 + seed % 5) + yy * 2 + seed) % 256).astype(np.uint8)
    pixels = np.dstack([base, base[::-1], np.roll(base, seed % 17, 1)])
    pixels = pixels + rng.integers(0, 12, pixels.shape, dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format=fmt)
    return out.getvalue()


def drop(path: Path, data: bytes, *, via_partial: bool = False, chunks: int = 1) -> None:
    """Write as an uploader would: in place (maybe slowly), or to a partial name then rename."""
    target = path.with_name(path.name + ".part") if via_partial else path
    step = -(-len(data) // chunks)
    with open(target, "wb") as f:
        for start in range(0, len(data), step):
            f.write(data[start : start + step])
            f.flush()
            if chunks > 1:
                # A slow writer. Not synchronisation: the file stays open, and the close rule
                # waits for the close however long the pause is.
                time.sleep(0.3)
    if via_partial:
        target.rename(path)


def temporaries(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob(f"*{TEMP_SUFFIX}*")]


def images_in(folder: Path) -> set[str]:
    """Relative paths of the files in folder, outside the daemon's .lltd state folder."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and ".lltd" not in p.relative_to(folder).parts
    }


# -- the tests, in order ---------------------------------------------------------------------


def test_starts_ready_with_status_counters(service: Service) -> None:
    state = service.show("Type", "ActiveState", "SubState", "NRestarts", "UnitFileState")
    assert state == {
        "Type": "notify",
        "ActiveState": "active",
        "SubState": "running",
        "NRestarts": "0",
        "UnitFileState": "enabled",
    }
    assert service.counters() == (0, 0)
    status = service.machine.systemctl("status", UNIT).stdout
    assert "Active: active (running)" in status
    assert 'Status: "processed 0, failed 0, queued 0, in flight 0"' in status
    # The daemon's own status file, in the unit's RuntimeDirectory=.
    report = service.host(service.status_file)
    wait_for("the status file", report.exists, 5)
    assert '"state": "running"' in report.read_text()


def _proc(service: Service, pid: int, name: str) -> str:
    return service.machine.run("cat", f"/proc/{pid}/{name}").stdout


def test_hardening_is_in_force(service: Service) -> None:
    pid = service.main_pid()
    status = dict(
        line.split(":\t", 1) for line in _proc(service, pid, "status").splitlines() if ":\t" in line
    )
    assert status["Uid"].split() == [str(service.uid)] * 4  # the static user, not root
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"  # SystemCallFilter= is a seccomp filter
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapBnd"], 16) == 0  # CapabilityBoundingSet= (empty)

    mounts = {}
    for line in _proc(service, pid, "mountinfo").splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")  # mount point -> its options; last one wins
    assert "ro" in mounts["/"], "ProtectSystem=strict: / must be read-only"
    assert "rw" in mounts["/srv/lltd"], "ReadWritePaths=/srv/lltd must stay writable"
    assert "/tmp" in mounts, "PrivateTmp=yes: /tmp must be a mount of its own"
    assert "/home" in mounts, "ProtectHome=yes: /home must be covered"
    assert "/dev" in mounts, "PrivateDevices=yes: /dev must be a private mount"


def test_memory_and_task_limits_are_in_force(service: Service) -> None:
    wanted = service.show("MemoryMax", "TasksMax", "ControlGroup")
    assert wanted["MemoryMax"].isdigit() and wanted["TasksMax"].isdigit(), wanted
    group = wanted["ControlGroup"]
    # The kernel's own limits on the service's cgroup: cgroup v2 files, or the v1
    # memory and pids hierarchies on hybrid hosts such as this one.
    candidates = {
        "memory": ["memory.max", "unified/memory.max", "memory/memory.limit_in_bytes"],
        "tasks": ["pids.max", "unified/pids.max", "pids/pids.max"],
    }
    limits = {}
    for what, names in candidates.items():
        for name in names:
            base, _, knob = name.rpartition("/")
            path = service.machine.path(f"/sys/fs/cgroup/{base}{group}/{knob}".replace("//", "/"))
            if path.exists():
                limits[what] = path.read_text().strip()
                break
    assert limits == {"memory": wanted["MemoryMax"], "tasks": wanted["TasksMax"]}


def test_defends_good_files_and_sets_aside_corrupt_ones(service: Service) -> None:
    inbox, outbox = service.inbox_host, service.outbox_host
    before = service.counters()
    good = {
        "photo-1.png": image_bytes(1),
        "photo 2.jpg": image_bytes(2, "JPEG", (120, 90)),
        "nested/photo-3.png": image_bytes(3, size=(64, 64)),
        "photo-4.png": image_bytes(4),
    }
    jpeg = image_bytes(5, "JPEG", (200, 160))
    corrupt = {"corrupt.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "cut.jpg": jpeg[:900]}

    nested = inbox / "nested"
    nested.mkdir()
    shutil.chown(nested, service.uid, service.uid)  # the uploader's folder, writable by lltd
    drop(inbox / "photo-1.png", good["photo-1.png"])
    drop(inbox / "photo 2.jpg", good["photo 2.jpg"], chunks=3)
    drop(inbox / "nested/photo-3.png", good["nested/photo-3.png"])
    drop(inbox / "photo-4.png", good["photo-4.png"], via_partial=True)
    for name, data in corrupt.items():
        drop(inbox / name, data)

    expected_outputs = {str(Path(name).with_suffix(".png")) for name in good}
    expected_failed = {*corrupt, *(f"{name}.error.txt" for name in corrupt)}
    expected = expected_outputs | {f"failed/{name}" for name in expected_failed}
    wait_for("outputs and failed/ copies", lambda: images_in(outbox) == expected, 30)
    wait_for(
        "STATUS= to count them",
        lambda: service.counters() == (before[0] + len(good), before[1] + len(corrupt)),
        10,
    )

    done = inbox / ".lltd" / "done"
    for name, data in good.items():
        assert (done / name).read_bytes() == data, f"{name}: original changed or not moved"
        output = outbox / Path(name).with_suffix(".png")
        assert output.stat().st_uid == service.uid
        _assert_defended(output, done / name, service.guest_pillow)
    for name, data in corrupt.items():
        assert (outbox / "failed" / name).read_bytes() == data
        reason = (outbox / "failed" / f"{name}.error.txt").read_text()
        assert f"{service.inbox}/{name}" in reason and len(reason.splitlines()) == 1
        assert (inbox / ".lltd" / "failed" / name).read_bytes() == data
    assert images_in(inbox) == set(), "every input left the drop folder"
    assert temporaries(inbox, outbox) == []


def _assert_defended(output: Path, original: Path, guest_pillow: str) -> None:
    """The output holds flip(decode(webp_q60(original))), as `lltd defend` computes it."""
    expected = np.asarray(
        defend_image(open_image(original, None), 60, "horizontal", "webp-flip", method=4)
    )
    with Image.open(output) as im:
        assert im.format == "PNG"
        got = np.asarray(im.convert("RGB"))
    assert got.shape == expected.shape
    if guest_pillow == PIL.__version__:  # same libwebp: bit-identical
        assert np.array_equal(got, expected), f"{output} differs from the defended image"
    else:
        assert np.abs(got.astype(int) - expected.astype(int)).mean() < 2, output


def test_sigkill_mid_backlog_restarts_and_loses_or_duplicates_nothing(service: Service) -> None:
    inbox, outbox = service.inbox_host, service.outbox_host
    machine = service.machine
    count = 240
    size = (160, 120)
    batch = {f"backlog/img-{i:03d}.png": image_bytes(100 + i, size=size) for i in range(count)}
    # A backlog: the files are there before the daemon starts, as after an outage.
    machine.systemctl("stop", UNIT)
    (inbox / "backlog").mkdir()
    shutil.chown(inbox / "backlog", service.uid, service.uid)
    for name, data in batch.items():
        drop(inbox / name, data)
    machine.systemctl("start", UNIT)
    restarts = int(service.show("NRestarts")["NRestarts"])
    killed = service.main_pid()

    def outputs() -> set[str]:
        folder = outbox / "backlog"
        return {p.name for p in folder.glob("*")} if folder.exists() else set()

    wait_for("the backlog to be under way", lambda: len(outputs()) >= 10, 30, 0.02)
    os.kill(machine.host_pid(killed), signal.SIGKILL)  # from outside, like the OOM killer
    wait_for("systemd to notice the kill", lambda: service.main_pid() != killed, 10, 0.05)
    left = len(list((inbox / "backlog").glob("*.png")))
    assert left > 0, "the backlog finished before the kill: the test proves nothing; grow it"

    service.wait_running("systemd to restart the service (RestartSec=5)", 30)
    assert int(service.show("NRestarts")["NRestarts"]) == restarts + 1
    assert service.main_pid() not in (0, killed)
    expected = {Path(name).with_suffix(".png").name for name in batch}
    wait_for("the backlog to finish after the restart", lambda: outputs() == expected, 90)

    # Exactly one complete output per input; every input done once; nothing half-written.
    for name in expected:
        with Image.open(outbox / "backlog" / name) as im:
            im.load()
            assert im.size == size
    done = inbox / ".lltd" / "done" / "backlog"
    assert {p.name for p in done.iterdir()} == {Path(n).name for n in batch}
    assert images_in(inbox) == set()
    assert not (outbox / "failed" / "backlog").exists()
    assert temporaries(inbox, outbox) == []
    journal = machine.journal("-u", UNIT, "-o", "cat")
    assert "Main process exited, code=killed, status=9/KILL" in journal
    print(f"SIGKILL with {left} of {count} inputs left; all {count} done after the restart")


def test_watchdog_keepalives_keep_it_up_and_a_hang_is_caught(service: Service) -> None:
    machine = service.machine
    service.wait_running("the service to be up")
    assert service.show("WatchdogUSec")["WatchdogUSec"] == f"{WATCHDOG_S}s"
    pid = service.main_pid()
    restarts = int(service.show("NRestarts")["NRestarts"])
    # Every WATCHDOG_S/2 s: three distinct keep-alives, and no restart meanwhile, prove they
    # arrive in time (waiting for them, not for a guessed time).
    wait_keepalives(
        UNIT,
        lambda: service.show("WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"],
        3,
        6 * WATCHDOG_S,
    )
    assert service.main_pid() == pid
    assert int(service.show("NRestarts")["NRestarts"]) == restarts

    # The watchdog is really armed: a frozen daemon is killed and restarted.
    os.kill(machine.host_pid(pid), signal.SIGSTOP)
    wait_for(
        "the watchdog to restart a frozen daemon",
        lambda: int(service.show("NRestarts")["NRestarts"]) == restarts + 1,
        WATCHDOG_S + 60,
    )
    service.wait_running("the service to come back after the watchdog", 30)
    assert service.main_pid() != pid
    assert "Watchdog timeout" in machine.journal("-u", UNIT, "-o", "cat")


def test_systemctl_stop_is_clean(service: Service) -> None:
    service.wait_running("the service to be up")
    service.machine.systemctl("stop", UNIT)
    state = service.show("ActiveState", "SubState", "Result", "ExecMainCode", "ExecMainStatus")
    assert state == {
        "ActiveState": "inactive",
        "SubState": "dead",
        "Result": "success",
        # CLD_EXITED: it exited by itself on SIGTERM, before systemd's stop timeout would have
        # killed it (a timing bound would add nothing but flakiness on a loaded machine).
        "ExecMainCode": "1",
        "ExecMainStatus": "0",
    }
    failed = service.machine.systemctl("is-failed", UNIT, check=False)
    assert failed.stdout.strip() == "inactive"
    assert service.logs("-n", "1").strip().startswith("lltd watch: stopped: processed ")


def test_journal_lines_are_plain_and_useful(service: Service) -> None:
    text = service.logs()
    lines = text.splitlines()
    assert lines
    for line in lines:
        # Each line is the daemon's own (its <N> priority prefix consumed by journald),
        # with no colours and no traceback.
        assert line.startswith("lltd watch: "), f"{line!r} in:\n{text}"
        assert "\x1b[" not in line and "Traceback" not in line, f"{line!r} in:\n{text}"
    inbox, outbox = service.inbox, service.outbox
    assert f"lltd watch: watching 1 folder(s) with {service.jobs} worker(s)" in text
    assert f"{inbox}/photo 2.jpg -> {outbox}/photo 2.png" in text
    assert re.search(rf"failed: {re.escape(inbox)}/corrupt.png: \S", text)
    # Priorities reach the journal: failures are errors, conversions are not.
    errors = service.logs("--priority=err")
    assert f"{inbox}/corrupt.png" in errors and f"{inbox}/cut.jpg" in errors
    assert "photo-1.png" not in errors
