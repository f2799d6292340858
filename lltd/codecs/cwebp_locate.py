"""Finding the cwebp binary, and wording its failures: os only.

Shared by the cwebp backend (:mod:`lltd.codecs.cwebp`) and the lean path of ``lltd cwebp``
(:mod:`lltd.cli.lean.cwebp_spawn`), which must not import shutil or subprocess.
"""

from __future__ import annotations

import os
import stat

from lltd.common.errors import UsageError


def _executable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(mode) and os.access(path, os.X_OK)


def explicit_cwebp(explicit: str | os.PathLike[str] | None = None) -> str | None:
    """``explicit`` (``--cwebp``), else ``$LLTD_CWEBP``: refused when it is not executable."""
    for candidate, origin in ((explicit, "--cwebp"), (os.environ.get("LLTD_CWEBP"), "LLTD_CWEBP")):
        if candidate:
            path = os.fspath(candidate)
            if not _executable(path):
                raise UsageError(f"{origin}: {path} is not an executable file")
            return path
    return None


def cwebp_on_path() -> str | None:
    """``cwebp`` on ``$PATH``, as ``shutil.which`` finds it."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or os.curdir, "cwebp")
        if _executable(path):
            return path
    return None


def failure_reason(stderr: str, returncode: int) -> str:
    """One line from what a failed cwebp printed: its last error line is the specific one
    ("Cannot read input picture file ...")."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()] or lines
    return errors[-1] if errors else f"exit status {returncode}"
