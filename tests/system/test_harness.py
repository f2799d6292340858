"""The harness itself: a guest systemd boots, runs a Type=notify service, and
leaves nothing behind on the host when it is torn down."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from . import cgroups
from .machine import Machine, wait_for

NOTIFY_SERVICE = """\
[Unit]
Description=harness check: Type=notify handshake

[Service]
Type=notify
ExecStart=/usr/bin/python3 /usr/local/lib/notify-check.py
"""

# sd_notify by hand, as a daemon does: one datagram per message to NOTIFY_SOCKET.
NOTIFY_SCRIPT = """\
import os, socket, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\\0" + addr[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.sendto(b"READY=1\\nSTATUS=harness ok: 3 ticks", addr)
while True:
    time.sleep(60)
"""


def test_notify_service_reaches_active_running_with_status(machine: Machine) -> None:
    machine.path("/usr/local/lib/notify-check.py").write_text(NOTIFY_SCRIPT)
    machine.path("/etc/systemd/system/notify-check.service").write_text(NOTIFY_SERVICE)
    machine.systemctl("daemon-reload")
    machine.systemctl("start", "notify-check.service")  # blocks until READY=1

    state = machine.show("notify-check.service", "ActiveState", "SubState", "StatusText")
    assert state == {
        "ActiveState": "active",
        "SubState": "running",
        "StatusText": "harness ok: 3 ticks",
    }
    status = machine.systemctl("status", "notify-check.service").stdout
    assert "Active: active (running)" in status
    assert 'Status: "harness ok: 3 ticks"' in status


def _host_mounts() -> list[str]:
    # Mount IDs aside, the host's mount table must come back exactly as it was.
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:]) for line in f)


def _processes_in(pid_namespace: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns/pid") == pid_namespace:
                    found.append(int(entry.name))
            except OSError:
                continue  # exited meanwhile
    return found


def _host_cgroups() -> set[Path]:
    """Every cgroup below ours, in every hierarchy (where a guest's slices would appear)."""
    return {
        p
        for h in cgroups.hierarchies()
        for p in (h.mountpoint / h.current).rglob("*")
        if p.is_dir()
    }


def test_teardown_leaves_no_process_mount_or_cgroup(rootfs: Path) -> None:
    before, cgroups_before = _host_mounts(), _host_cgroups()
    workdir = Path(tempfile.mkdtemp(prefix="lltd-systest-", dir="/var/tmp")) / "guest"
    guest = Machine.boot(rootfs, workdir)
    try:
        init = guest.pid
        assert guest.cgroups, "the guest got no cgroup of its own"
        # Its slices are made below its own cgroups (in the hierarchies it uses).
        assert any((c / "system.slice").is_dir() for c in guest.cgroups), guest.cgroups
        pid_namespace = os.readlink(f"/proc/{init}/ns/pid")
        assert guest.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
        assert _host_mounts() == before, "a guest mount is visible on the host"
        guest.systemctl("start", "dbus.service")
        assert len(_processes_in(pid_namespace)) >= 3  # systemd, journald, dbus
    finally:
        guest.shutdown()
        os.rmdir(workdir.parent)
    wait_for("the guest's processes to be gone", lambda: not _processes_in(pid_namespace), 10)
    assert not Path(f"/proc/{init}").exists()
    assert _host_cgroups() == cgroups_before, "the guest's cgroups are left behind"
    assert not workdir.exists()
    assert _host_mounts() == before
