"""``compress --r`` deletes an original only once its WebP would survive a power cut: the WebP and
its folder are fsynced before the original is unlinked (watched with strace on the real CLI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")


def test_each_webp_is_fsynced_before_its_original_is_deleted(tmp_path: Path, make_image) -> None:
    src = tmp_path / "in"
    for name in ("a.png", "b.png", "c.jpg"):
        make_image(src / name, size=(96, 80))
    trace = tmp_path / "trace"
    subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=openat,fsync,unlink,unlinkat",
         sys.executable, "-m", "lltd", "compress", str(src), "-q", "60", "--r", "-j", "1",
         "--quiet"],
        check=True, timeout=300,
    )  # fmt: skip
    assert sorted(p.name for p in src.iterdir()) == ["a.webp", "b.webp", "c.webp"]

    fd_path: dict[str, str] = {}
    synced: set[str] = set()
    for line in trace.read_text().splitlines():
        if opened := re.search(r'openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)', line):
            fd_path[opened.group(2)] = opened.group(1)
        elif synced_fd := re.search(r"fsync\((\d+)\) += 0", line):
            synced.add(fd_path.get(synced_fd.group(1), "?"))
        elif removed := re.search(r'unlink(?:at\(AT_FDCWD, )?\(?"([^"]+)"', line):
            name = Path(removed.group(1))
            if name.parent == src and name.suffix in (".png", ".jpg"):
                webp = str(name.with_suffix(".webp"))
                assert webp in synced, f"{name} deleted before {webp} was fsynced"
                assert str(src) in synced, f"{name} deleted before its folder was fsynced"
