"""A cgroup of the guest's own in every hierarchy the host has mounted.

The guest's systemd creates its slices below the root of its cgroup namespace,
in every hierarchy it finds: the unified one and, on hybrid hosts like this
one, the v1 ones (name=systemd, memory, pids...). The namespace's root in each
hierarchy is the cgroup its first process was in, so that process must first
be moved into a fresh child in every hierarchy; otherwise the guest writes
into the host's own cgroups and leaves its slices behind there.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: Path
    current: str  # this process's cgroup in it, relative to the mount's root


def hierarchies() -> list[Hierarchy]:
    mine: dict[str, str] = {}  # "0" for v2, else the controllers ("memory", "name=systemd")
    with open("/proc/self/cgroup") as f:
        for line in f:
            number, controllers, path = line.rstrip("\n").split(":", 2)
            mine["" if number == "0" else controllers] = path
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, (fstype, _, options) = left.split(), right.split()[:3]
            root, mountpoint = fields[3], fields[4]
            if fstype == "cgroup2":
                key = ""
            elif fstype == "cgroup":
                wanted = [o for o in options.split(",") if o not in ("rw", "ro")]
                key = next((c for c in mine if c and set(c.split(",")) <= set(wanted)), "-")
            else:
                continue
            if key not in mine or not mine[key].startswith(root.rstrip("/")):
                continue
            current = mine[key][len(root.rstrip("/")) :].lstrip("/")
            found.append(Hierarchy(Path(mountpoint), current))
    return found


def create(prefix: str) -> list[Path]:
    """A child cgroup below ours in every hierarchy where we may make one.

    Named prefix-<our PID>-<n>; ones left by a test process that was killed
    (its PID gone) are removed first.
    """
    name = f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"
    made = []
    for hierarchy in hierarchies():
        parent = hierarchy.mountpoint / hierarchy.current
        with contextlib.suppress(OSError):
            for stale in parent.glob(f"{prefix}-*-*"):
                owner = stale.name[len(prefix) + 1 :].split("-")[0]
                if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                    remove([stale], timeout=1)
        try:
            (parent / name).mkdir()
        except OSError:
            continue  # read-only or not ours to manage: the guest gets our cgroup there
        made.append(parent / name)
        # cpuset v1 cgroups start empty and accept no process until given CPUs and nodes.
        for knob in ("cpuset.cpus", "cpuset.mems"):
            child = parent / name / knob
            with contextlib.suppress(OSError):
                if child.exists() and not child.read_text().strip():
                    child.write_text((parent / knob).read_text())
    return made


def join(cgroups: list[Path]) -> None:
    """Move the calling process into each of them (runs in the child before exec)."""
    for cgroup in cgroups:
        (cgroup / "cgroup.procs").write_text("0")


def remove(cgroups: list[Path], timeout: float = 10) -> None:
    """Remove them with every cgroup the guest made below; waits for processes to go."""
    deadline = time.monotonic() + timeout
    for cgroup in cgroups:
        if not cgroup.exists():
            continue
        # Deepest first: a cgroup can only be removed once it has no children,
        # and only once its last process has been reaped.
        dirs = sorted(
            (p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        )
        for d in [*dirs, cgroup]:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
