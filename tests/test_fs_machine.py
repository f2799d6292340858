"""A Hypothesis state machine over what users do to a shared folder while lltd runs on it.

The user creates pictures, saves new versions in place and by rename, links files in (a hard
link, a symbolic link to a file outside), a second user (uid 65534 through ``setpriv``) plants
files with forged provenance records in the sticky folder, and lltd runs over it: ``compress
--r``, ``compress -o``, ``defend -o``, a ``compress --r`` killed with SIGKILL part-way, reruns.
After every step: every version of a picture the user still has a name for exists somewhere in
the trees (or was replaced by a WebP whose trusted record names exactly its bytes, ``--r``'s
job), the second user's files are untouched, and nothing of the outside file was read in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule  # noqa: E402
from PIL import Image  # noqa: E402

NAMES = st.sampled_from(["a.png", "b.png", "c.jpg", "sub/d.png"])
SECRET = b"outside the trees: never to be read in\n"
NOBODY = 65534
#: Steps taken, by rule: the test checks the machine really ran lltd (and killed it).
TAKEN: dict[str, int] = {}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def picture_bytes(k: int, fmt: str) -> bytes:
    import io

    base = Image.radial_gradient("L").resize((96, 96)).point(lambda v: (v * k) % 256)
    buffer = io.BytesIO()
    Image.merge("RGB", (base, base.rotate(90), base)).save(buffer, format=fmt)
    return buffer.getvalue()


def lltd(*args: str | Path, **kwargs) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.Popen(
        [sys.executable, "-m", "lltd", *map(str, args), "-j", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, **kwargs,
    )  # fmt: skip


class SharedFolder(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="lltd-machine-", dir="/tmp"))
        self.root.chmod(0o1777)
        self.photos = self.root / "photos"
        self.photos.mkdir()
        self.photos.chmod(0o1777)
        self.out = self.root / "out"
        self.out.mkdir()
        self.out.chmod(0o1777)
        self.secret = Path(tempfile.mkdtemp(prefix="lltd-secret-")) / "secret.png"
        self.secret.write_bytes(SECRET)
        self.live: dict[str, str] = {}  # name -> digest of the version the user has there
        self.theirs: dict[Path, bytes] = {}  # the second user's files
        self.k = 1

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.secret.parent, ignore_errors=True)

    def _next(self, name: str) -> bytes:
        self.k += 7
        return picture_bytes(self.k, "JPEG" if name.endswith(".jpg") else "PNG")

    # --- the user ------------------------------------------------------------------------------

    @initialize()
    def some_pictures(self) -> None:
        for name in ("a.png", "sub/d.png"):
            self.create_or_replace_in_place(name)

    def _folder_of(self, path: Path) -> None:
        if not path.parent.exists():
            path.parent.mkdir()
            path.parent.chmod(0o1777)  # shared, as the folder above

    @rule(name=NAMES)
    def create_or_replace_in_place(self, name: str) -> None:
        path = self.photos / name
        if path.is_symlink() or path.is_fifo():
            return
        self._folder_of(path)
        data = self._next(name)
        with open(path, "wb") as handle:  # same inode when it exists: a save in place
            handle.write(data)
        self.live = {n: d for n, d in self.live.items() if not self._same_file(n, name)}
        self.live[name] = sha(data)

    @rule(name=NAMES)
    def save_by_rename(self, name: str) -> None:
        path = self.photos / name
        self._folder_of(path)
        staging = self.root / ".staging"
        data = self._next(name)
        staging.write_bytes(data)
        os.rename(staging, path)
        self.live[name] = sha(data)

    @rule(name=NAMES, other=NAMES)
    def hardlink(self, name: str, other: str) -> None:
        source, path = self.photos / name, self.photos / other
        if name == other or name not in self.live or os.path.lexists(path):
            return
        if not os.path.exists(source) or os.path.islink(source):
            return
        self._folder_of(path)
        os.link(source, path)
        self.live[other] = self.live[name]

    @rule(name=NAMES)
    def symlink_outside_in(self, name: str) -> None:
        path = self.photos / name
        if os.path.lexists(path):
            return
        self._folder_of(path)
        path.symlink_to(self.secret)

    @rule(name=NAMES)
    def second_user_plants_a_forged_record(self, name: str) -> None:
        """uid 65534 writes ``NAME.webp`` (or defend's ``out/NAME``) with a record naming our
        picture, as intact as it can make it."""
        if name not in self.live:
            return
        TAKEN["forged"] = TAKEN.get("forged", 0) + 1
        for planted in (self.photos / name).with_suffix(".webp"), self.out / name:
            if os.path.lexists(planted) or not planted.parent.is_dir():
                continue
            data = picture_bytes(250, "WEBP")
            done = subprocess.run(
                ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "sh", "-c", 'cat > "$1"', "sh", str(planted)],
                input=data, capture_output=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:  # a folder lltd made (0755): not theirs to write
                continue
            st_ = (self.photos / name).stat()
            record = {
                "command": "compress" if planted.suffix == ".webp" else "defend",
                "output_sha256": sha(data), "output_size": len(data),
                "source": {"mtime_ns": st_.st_mtime_ns, "name": name,
                           "sha256": self.live[name], "size": st_.st_size},
            }  # fmt: skip
            os.setxattr(planted, "user.lltd.made", json.dumps(record).encode())
            self.theirs[planted] = data

    # --- lltd ----------------------------------------------------------------------------------

    def _run(self, how: str) -> None:
        TAKEN[how] = TAKEN.get(how, 0) + 1
        argv: list[str | Path] = {
            "compress --r": ["compress", self.photos, "--r", "-q", "60"],
            "compress -o": ["compress", self.photos, "-q", "60", "-o", self.out],
            "defend -o": ["defend", self.photos, "-o", self.out],
        }[how]
        process = lltd(*argv)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode in (0, 1), stderr.decode()
        assert b"Traceback" not in stderr, stderr.decode()

    @rule()
    def compress_replacing(self) -> None:
        self._run("compress --r")

    @rule()
    def compress_elsewhere(self) -> None:
        self._run("compress -o")

    @rule()
    def defend_elsewhere(self) -> None:
        self._run("defend -o")

    @rule(delay=st.floats(0.0, 0.6))
    def sigkill_a_replacing_run(self, delay: float) -> None:
        TAKEN["sigkill"] = TAKEN.get("sigkill", 0) + 1
        process = lltd("compress", self.photos, "--r", "-q", "60")
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)

    # --- what must hold ------------------------------------------------------------------------

    def _same_file(self, a: str, b: str) -> bool:
        try:
            return os.path.samefile(self.photos / a, self.photos / b)
        except OSError:
            return False

    def _accounted(self) -> set[str]:
        found: set[str] = set()
        for tree in (self.photos, self.out):
            for path in tree.rglob("*") if tree.exists() else ():
                if not path.is_file() or path.is_symlink():
                    continue
                found.add(sha(path.read_bytes()))
                if path.stat().st_uid != os.geteuid():
                    continue  # its record is not ours to believe
                with contextlib.suppress(OSError, ValueError, KeyError):
                    found.add(json.loads(os.getxattr(path, "user.lltd.made"))["source"]["sha256"])
        return found

    @invariant()
    def nothing_lost_nothing_read_in(self) -> None:
        found = self._accounted()
        missing = {name for name, digest in self.live.items() if digest not in found}
        assert not missing, f"pictures lost: {sorted(missing)}"
        assert sha(SECRET) not in found, "the outside file was read into a tree"
        for planted, data in self.theirs.items():
            assert planted.read_bytes() == data, f"{planted} (the second user's) was changed"
        assert self.secret.read_bytes() == SECRET


def test_users_and_runs_on_a_shared_folder_lose_nothing() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to act as a second user")
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        SharedFolder,
        settings=settings(
            max_examples=8, stateful_step_count=10, deadline=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )  # fmt: skip
    print(TAKEN)
    assert {"compress --r", "sigkill", "forged"} <= set(TAKEN), TAKEN
