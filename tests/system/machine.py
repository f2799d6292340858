"""Boot a real systemd as PID 1 of fresh namespaces over a cached root file system.

Much like a tiny systemd-nspawn made of util-linux tools: every mount is made
inside a private mount namespace (so none can leak onto the host, and all of
them vanish with the namespace), the root is an overlay whose writable layer is
a tmpfs of the guest's own (so the cache stays pristine), and /dev is a small tmpfs
with a few device nodes bound in rather than the host's /dev (journald and
systemd create links there). /proc/sys and /sys are read-only so the guest
cannot change host kernel settings. The machine lives in cgroups of its own
(and a cgroup namespace) so its slices are made, and removed, below them.

Driving it: `run()` enters all its namespaces with nsenter and runs a program
there; files are reached from outside through /proc/<pid>/root.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import cgroups
from .rootfs import remove_tree

T = TypeVar("T")

GUEST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_PAGER": "",
    "TERM": "dumb",
}

# Units that would touch the host kernel (sysctl, modules, binfmt), wait for
# hardware that a namespace does not have, or ask for a login on a console.
MASKED_UNITS = (
    "systemd-sysctl.service",
    "systemd-modules-load.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-hwdb-update.service",
    "systemd-firstboot.service",
    "systemd-random-seed.service",
    "systemd-remount-fs.service",
    "systemd-timesyncd.service",
    "kmod-static-nodes.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "getty.target",
    "console-getty.service",
    "getty@tty1.service",
    "serial-getty@.service",
)

# Runs in the new namespaces (its arguments, never string-built, are the paths).
# It assembles the root and replaces itself with systemd via pivot_root (not
# chroot): a real root mount lets systemd set up namespaces for units. The
# writable layer is a tmpfs (this VM's disk makes thousands of small files, a
# venv, slow to write and to delete), seeded with the files written before boot.
BOOT_SCRIPT = r"""
set -eu
lower=$1 seed=$2 layer=$3 root=$4
mount -t tmpfs -o mode=0755,size=4g lltd-systest "$layer"
mkdir "$layer/upper" "$layer/work"
cp -a "$seed/." "$layer/upper/"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$layer/upper,workdir=$layer/work" "$root"
mount -t tmpfs -o mode=0755,nosuid,size=16m tmpfs "$root/dev"
for node in null zero full random urandom tty; do
    : > "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
: > "$root/dev/console"
mount --bind /dev/null "$root/dev/console"
mkdir "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --bind "$root/proc/sys" "$root/proc/sys"
mount -o remount,bind,ro "$root/proc/sys"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mkdir -p "$root/.host-root"
cd "$root"
pivot_root . .host-root
umount -l /.host-root
rmdir /.host-root
exec /lib/systemd/systemd --system --log-target=journal-or-kmsg
"""

PR_SET_PDEATHSIG = 1


class BootError(RuntimeError):
    pass


def unavailable_reason() -> str | None:
    """Why this machine cannot boot a guest at all, or None if it can."""
    if os.geteuid() != 0:
        return "needs root (mount, pivot_root and namespaces)"
    for tool in ("unshare", "nsenter", "mount", "pivot_root"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            return "the kernel has no overlay file system"
    return None


def wait_for(what: str, check: Callable[[], T | None], timeout: float, step: float = 0.2) -> T:
    """Poll check() until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def wait_keepalives(what: str, stamp: Callable[[], str], count: int, timeout: float) -> set[str]:
    """Wait until ``count`` distinct keep-alive times (``stamp()``: systemd's
    WatchdogTimestampMonotonic) have been seen: the keep-alives themselves, not a guessed time."""
    seen: set[str] = set()

    def enough() -> bool:
        value = stamp()
        if value and value != "0":
            seen.add(value)
        return len(seen) >= count

    wait_for(f"{count} watchdog keep-alives from {what}", enough, timeout, step=0.25)
    return seen


class Machine:
    """A booted guest. Create with Machine.boot(); always call shutdown()."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.seed = workdir / "seed"  # files for the writable layer, written before boot
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # host PID of the guest's systemd (its PID 1)
        self.cgroups: list[Path] = []
        self.console = workdir / "console.log"

    @classmethod
    def boot(cls, rootfs: Path, workdir: Path, timeout: float = 90) -> Machine:
        machine = cls(workdir)
        try:
            machine._start(rootfs)
            machine._wait_booted(timeout)
        except BaseException:
            machine.shutdown()
            raise
        return machine

    # -- setting up ------------------------------------------------------------

    def _start(self, rootfs: Path) -> None:
        for path in (rootfs, self.workdir):
            if any(c in str(path) for c in ",:\\"):
                raise BootError(f"path unsuitable for overlay options: {path}")
        layer, merged = self.workdir / "layer", self.workdir / "merged"
        for d in (self.seed, layer, merged):
            d.mkdir(parents=True)
        masks = self.seed / "etc/systemd/system"
        masks.mkdir(parents=True)
        for unit in MASKED_UNITS:
            (masks / unit).symlink_to("/dev/null")
        self.cgroups = cgroups.create("lltd-systest")
        argv = ["unshare", "--fork", "--kill-child=SIGKILL", "--pid", "--mount", "--uts"]
        argv += ["--ipc", "--net", "--propagation", "private"]
        if self.cgroups:
            argv.append("--cgroup")
        argv += ["sh", "-c", BOOT_SCRIPT, "boot", str(rootfs), str(self.seed), str(layer)]
        argv.append(str(merged))
        mine = self.cgroups

        def in_child() -> None:
            # If the test process dies, unshare dies and takes the guest with it.
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            cgroups.join(mine)

        with open(self.console, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=GUEST_ENV,
                preexec_fn=in_child,
            )
        self.pid = wait_for("the guest's PID 1 to exist", self._find_init, 10, 0.05)

    def _find_init(self) -> int | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BootError(f"boot script failed ({self.proc.returncode}):\n{self.console_text()}")
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError):
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
        return None

    def _wait_booted(self, timeout: float) -> None:
        def state() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                raise BootError(f"guest exited ({self.proc.returncode}):\n{self.console_text()}")
            out = self.run("systemctl", "is-system-running", check=False, timeout=10).stdout
            return out.strip() if out.strip() in ("running", "degraded") else None

        try:
            wait_for("the guest to finish booting", state, timeout, 0.3)
        except AssertionError as e:
            jobs = self.run("systemctl", "list-jobs", check=False).stdout
            raise BootError(f"{e}\npending jobs:\n{jobs}\n{self.console_text()}") from None

    # -- using it --------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The guest's / as seen from the host."""
        return Path(f"/proc/{self.pid}/root")

    def path(self, guest_path: str) -> Path:
        return self.root / guest_path.lstrip("/")

    def run(
        self, *argv: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        enter = ["nsenter", f"--target={self.pid}", "--mount", "--uts", "--ipc", "--net", "--pid"]
        if self.cgroups:
            enter.append("--cgroup")
        enter += ["--root", "--wd", "--"]
        proc = subprocess.run(
            [*enter, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=GUEST_ENV,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"in guest: {argv} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
            )
        return proc

    def host_pid(self, guest_pid: int) -> int:
        """The host's number for the guest's process guest_pid (to signal it from outside)."""
        namespace = os.readlink(f"/proc/{self.pid}/ns/pid")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns/pid") != namespace:
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("NSpid:") and line.split()[-1] == str(guest_pid):
                        return int(entry.name)
        raise LookupError(f"no process {guest_pid} in the guest")

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--no-pager", *args, check=check)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args: str) -> str:
        return self.run("journalctl", "--no-pager", "--quiet", *args).stdout

    def failed_units(self) -> list[str]:
        out = self.systemctl("list-units", "--failed", "--plain", "--no-legend").stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def console_text(self) -> str:
        try:
            return self.console.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- tearing down ----------------------------------------------------------

    def shutdown(self) -> None:
        """Kill the guest (PID 1 first: the kernel then kills the rest) and clean up."""
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()  # unshare itself; --kill-child takes the guest along
                    self.proc.wait(timeout=30)
            self.proc = None
        cgroups.remove(self.cgroups)
        # The overlay and its tmpfs layer died with the mount namespace.
        remove_tree(self.workdir)
