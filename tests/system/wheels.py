"""Wheels to install lltd inside the booted root file system, offline.

The runtime dependencies are fetched once and cached; lltd itself is built at
every run from a copy of the working tree (tracked and not-ignored files), so
the test exercises exactly what is checked out and never writes build
directories into the checkout.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from .rootfs import cache_dir, cache_lock

PIP_TIMEOUT_S = 600


def runtime_dependencies(project: Path) -> list[str]:
    with open(project / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def extra_dependencies(project: Path, extra: str) -> list[str]:
    with open(project / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["optional-dependencies"][extra])


def dependency_wheels(project: Path, extras: tuple[str, ...] = ()) -> Path:
    """Directory of wheels for the runtime dependencies and those of ``extras`` (cached by
    requirement set)."""
    deps = sorted(
        runtime_dependencies(project) + [d for e in extras for d in extra_dependencies(project, e)]
    )
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    key = hashlib.sha256("\n".join([tag, *deps]).encode()).hexdigest()[:12]
    final = cache_dir() / f"wheels-{tag}-{key}"
    if (final / ".complete").exists():
        return final
    with cache_lock():
        if (final / ".complete").exists():
            return final
        shutil.rmtree(final, ignore_errors=True)
        _pip("wheel", "--wheel-dir", str(final), *deps)
        (final / ".complete").write_text("\n".join(deps) + "\n")
    return final


def project_wheel(project: Path, dest: Path) -> Path:
    """Build lltd's wheel from the working tree into dest and return its path."""
    listed = subprocess.run(
        ["git", "-C", str(project), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    with tempfile.TemporaryDirectory(prefix="lltd-src-") as tmp:
        src = Path(tmp)
        for raw in filter(None, listed):
            rel = raw.decode()
            origin = project / rel
            if origin.is_file():  # deleted but still tracked files are skipped
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, src / rel)
        dest.mkdir(parents=True, exist_ok=True)
        try:  # offline with the setuptools at hand, else in pip's isolated build env
            _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dest), str(src))
        except RuntimeError:
            _pip("wheel", "--no-deps", "--wheel-dir", str(dest), str(src))
    (wheel,) = dest.glob("lltd-*.whl")
    return wheel


def _pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
