"""A cached Debian root file system for booting systemd in a namespace.

Built once per machine with debootstrap and reused: the cache key is a hash of
everything that decides its contents, and a build goes to a temporary directory
that is renamed into place only when complete, so a killed build never leaves a
half-made cache behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv")
# Bump when the post-debootstrap steps below change, so old caches are not reused.
RECIPE_VERSION = "1"
BUILD_TIMEOUT_S = 1200


def cache_dir() -> Path:
    return Path(os.environ.get("LLTD_SYSTEST_CACHE", "/var/cache/lltd-systest"))


def mirror() -> str:
    return os.environ.get("LLTD_SYSTEST_MIRROR", "http://deb.debian.org/debian")


def rootfs_key() -> str:
    text = "\n".join([SUITE, mirror(), RECIPE_VERSION, *sorted(PACKAGES)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached_rootfs() -> Path:
    return cache_dir() / f"{SUITE}-{rootfs_key()}"


@contextmanager
def cache_lock() -> Iterator[None]:
    """Serialise builds between concurrent test runs on one machine."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_rootfs() -> Path:
    """Return the cached root file system, building it first if needed."""
    final = cached_rootfs()
    if (final / "lib/systemd/systemd").exists():
        return final
    with cache_lock():
        if (final / "lib/systemd/systemd").exists():
            return final
        # Leftovers of builds that were killed: nobody else holds the lock.
        for stale in cache_dir().glob(".build-*"):
            remove_tree(stale)
        build = cache_dir() / f".build-{final.name}-{os.getpid()}"
        try:
            _debootstrap(build)
            _finish(build)
            build.rename(final)
        finally:
            remove_tree(build)
    return final


def remove_tree(path: Path) -> None:
    """rmtree that refuses to descend into anything still mounted below path."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        mounted = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    if mounted:
        raise RuntimeError(f"refusing to delete {path}: still mounted below it: {mounted}")
    shutil.rmtree(path, ignore_errors=True)


def _debootstrap(target: Path) -> None:
    # In a private mount namespace: the /proc and /sys that debootstrap mounts
    # into the target vanish with it, even if it is killed half-way.
    argv = [
        "unshare",
        "--mount",
        "--propagation=private",
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(target),
        mirror(),
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        log = target / "debootstrap/debootstrap.log"
        detail = log.read_text(errors="replace")[-3000:] if log.exists() else proc.stderr[-3000:]
        raise RuntimeError(f"debootstrap failed ({proc.returncode}):\n{detail}")


def _finish(root: Path) -> None:
    # The downloaded .deb files are a third of the size and never used again.
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    # An empty machine-id makes systemd generate a fresh one in /run at each boot.
    (root / "etc/machine-id").write_text("")
