"""Issue 24 through the real CLI: decisions are taken on descriptors and identities, so an
uploader, a co-tenant or a racing writer that swaps a name between two steps loses nothing and
reads nothing.

* the fault-injection harness: ``LLTD_FS_SEAM`` runs a script at every step of the file layer
  (:mod:`lltd.fs.seam`); at each step it swaps the file for a link inside or outside the tree,
  a FIFO, another file, or nothing, for compress, ``--r``, defend and flip. After each run every
  picture's bytes still exist somewhere in the trees, and nothing outside them was read or
  written;
* ``--r`` and a writer saving a new version while the old one is converted;
* trees by identity: an output folder that is a parent of the input, the input through a link,
  through a bind mount (``unshare -m``);
* provenance from another user (``setpriv``) in a sticky folder is not ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import RunLltd, assert_one_line_error, digest
from PIL import Image

SECRET = b"the daemon user's secret, never to be read into a tree\n"


def picture(path: Path, k: int) -> Path:
    """A radial gradient (its WebP is far smaller than its PNG) whose pixels depend on ``k``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = Image.radial_gradient("L").point(lambda v: (v * k) % 256)
    Image.merge("RGB", (base, base.rotate(90), base.transpose(Image.FLIP_TOP_BOTTOM))).save(path)
    return path


def all_bytes(*roots: Path) -> set[str]:
    """The SHA-256 of every regular file under ``roots`` (dotfiles included)."""
    found = set()
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                found.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def accounted(roots: list[Path]) -> set[str]:
    """Every content the trees hold, and every input a recorded output there was made from
    (``--r`` replaces an original by its WebP by design)."""
    found = all_bytes(*roots)
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                try:
                    record = json.loads(os.getxattr(path, "user.lltd.made"))
                except OSError:
                    continue
                found.add(record["source"]["sha256"])
    return found


SEAM = textwrap.dedent(
    """
    import os
    STEP, KIND = None, os.environ["SEAM_KIND"]
    done = set()

    def seam(step, folder_fd, name):
        # Each step swaps the file named after it (publish: the output's name), once.
        if not name.startswith(step) or (step, name) in done:
            return
        done.add((step, name))
        # The node at the name goes aside (a dotfile: still in the tree), then the swap.
        try:
            os.rename(name, "." + name + ".aside", src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except FileNotFoundError:
            pass
        if KIND == "link-inside":
            os.symlink("keep.png", name, dir_fd=folder_fd)
        elif KIND == "link-outside":
            os.symlink(os.environ["SEAM_SECRET"], name, dir_fd=folder_fd)
        elif KIND == "fifo":
            os.mkfifo(name, dir_fd=folder_fd)
        elif KIND == "other":
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder_fd)
            with open(os.environ["SEAM_OTHER"], "rb") as handle:
                os.write(fd, handle.read())
            os.close(fd)
        # "gone": nothing at the name
    """
)

STEPS = ["open", "read", "publish"]
COMMANDS = {
    "compress": (["compress", "{src}", "-q", "60", "-o", "{out}"], STEPS),
    "compress --r": (
        ["compress", "{src}", "--r", "-q", "60"],
        [*STEPS, "remove"],
    ),
    "defend": (["defend", "{src}", "-o", "{out}"], STEPS),
    "flip": (["flip", "{src}"], STEPS),
}
KINDS = ["link-inside", "link-outside", "fifo", "other", "gone"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_swap_at_every_step_loses_nothing_and_reads_nothing_outside(
    run_lltd: RunLltd, tmp_path: Path, command: str, kind: str
) -> None:
    """One run per command and kind of swap: the seam swaps, at each step, the file named
    after that step (``open.png`` as it is opened, ``read.png`` once open, the output of
    ``publish.png`` as it is renamed into place, ``remove.png`` as ``--r`` removes it)."""
    argv, steps = COMMANDS[command]
    src, out, elsewhere = tmp_path / "src", tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.png"
    secret.write_bytes(SECRET)
    other = picture(elsewhere / "other.png", 97)
    picture(src / "keep.png", 3)
    for k, step in enumerate(steps):
        picture(src / f"{step}.png", 11 + k)
    originals = all_bytes(src)
    seam = tmp_path / "seam.py"
    seam.write_text(SEAM)
    env = {
        "LLTD_FS_SEAM": str(seam), "SEAM_KIND": kind, "SEAM_SECRET": str(secret),
        "SEAM_OTHER": str(other),
    }  # fmt: skip
    result = run_lltd(*[a.format(src=src, out=out) for a in argv], "-j", "1", env=env)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    trees = [src, out] if out.exists() else [src]
    kept = accounted(trees)
    assert originals <= kept, f"a picture's bytes are gone\n{result.stderr}"
    if kind == "other":
        assert digest(other) in kept
    assert secret.read_bytes() == SECRET
    assert hashlib.sha256(SECRET).hexdigest() not in kept, "the outside file was read in"


# --- trees by identity --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "theirs"), [("defend", "a.png"), ("compress", "a.webp"), ("flip", "a_f.png")]
)
def test_an_output_folder_that_holds_the_input_replaces_no_unrelated_file(
    run_lltd: RunLltd, tmp_path: Path, command: str, theirs: str
) -> None:
    """``lltd defend photos/new -o photos``: ``photos/a.png`` is someone's original, not an
    earlier output of ``new/a.png``; it is kept and the output takes another name."""
    photos = tmp_path / "photos"
    picture(photos / "new" / "a.png", 5)
    unrelated = picture(photos / theirs, 9)
    before = digest(unrelated)
    result = run_lltd(command, photos / "new", "-o", photos)
    assert result.returncode == 0, result.stderr
    assert digest(unrelated) == before
    written = [p for p in photos.iterdir() if p.is_file() and p.name != theirs]
    assert len(written) == 1 and written[0].name.startswith("a."), written


def test_the_input_through_a_link_is_the_input(run_lltd: RunLltd, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    picture(photos / "a.png", 5)
    (tmp_path / "alias").symlink_to(photos)
    result = run_lltd("defend", photos, "-o", tmp_path / "alias")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "lltd: error:", "the output folder is the input folder")
    assert [p.name for p in photos.iterdir()] == ["a.png"]


def in_private_mounts(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (sh) in a private mount namespace; skip where one cannot be made."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a bind mount in a private mount namespace")
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare -m is refused here: {probe.stderr.decode().strip()}")
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-ec", script],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, "LLTD": sys.executable, "LLTD_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip


def test_a_bind_mount_of_the_input_is_the_input(tmp_path: Path) -> None:
    """``-o`` a bind mount of the input folder is refused; the input reached through a bind
    mount, with ``-o`` its real parent, replaces nothing of the parent's."""
    photos = tmp_path / "photos"
    picture(photos / "new" / "a.png", 5)
    unrelated = digest(picture(photos / "a.png", 9))
    (tmp_path / "mnt").mkdir()
    done = in_private_mounts(
        tmp_path,
        "mount --bind photos mnt\n"
        '"$LLTD" -m lltd defend photos -o mnt 2>same.err && exit 9 || echo "same $?"\n'
        '"$LLTD" -m lltd defend mnt/new -o photos\n',
    )
    assert done.returncode == 0, done.stderr
    assert "same 2" in done.stdout
    assert "the output folder is the input folder" in (tmp_path / "same.err").read_text()
    assert digest(photos / "a.png") == unrelated
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "a.png.png", "new"]


# --- --r and a racing writer --------------------------------------------------------------------

NEW_VERSION_SEAM = textwrap.dedent(
    """
    import os

    def seam(step, folder_fd, name):
        # The user saves a new version of a.png while the old one is converted.
        if step != "publish" or not name.startswith("a."):
            return
        fd = os.open(".a.png.new", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder_fd)
        with open(os.environ["NEW_VERSION"], "rb") as handle:
            os.write(fd, handle.read())
        os.close(fd)
        if os.environ["HOW"] == "rename":
            os.rename(".a.png.new", "a.png", src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        else:  # in place: the same inode, new bytes
            with open(os.environ["NEW_VERSION"], "rb") as handle:
                data = handle.read()
            fd = os.open("a.png", os.O_WRONLY | os.O_TRUNC, dir_fd=folder_fd)
            os.write(fd, data)
            os.close(fd)
            os.unlink(".a.png.new", dir_fd=folder_fd)
    """
)


@pytest.mark.parametrize("how", ["rename", "in-place"])
@pytest.mark.parametrize("backend", ["pillow", "cwebp"])
def test_r_keeps_a_new_version_saved_during_the_conversion(
    run_lltd: RunLltd, tmp_path: Path, how: str, backend: str
) -> None:
    if backend == "cwebp" and shutil.which("cwebp") is None:
        pytest.skip("cwebp is not installed (Debian's webp package)")
    photos = tmp_path / "photos"
    picture(photos / "a.png", 5)
    new_version = picture(tmp_path / "new.png", 200)
    seam = tmp_path / "seam.py"
    seam.write_text(NEW_VERSION_SEAM)
    env = {"LLTD_FS_SEAM": str(seam), "NEW_VERSION": str(new_version), "HOW": how}
    result = run_lltd("compress", photos, "--r", "-q", "60", "--backend", backend, env=env)
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result.stderr, "a.png", "original kept", "changed since")
    assert digest(photos / "a.png") == digest(new_version)  # the new version is kept
    with Image.open(photos / "a.webp") as webp:  # and a.webp holds the old picture
        assert webp.size == (256, 256)
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "a.webp"]


# --- provenance from another user ---------------------------------------------------------------


@pytest.fixture
def sticky(tmp_path: Path):
    """A sticky, world-writable folder (as /tmp is) that another user can reach."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to act as a second user")
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lltd-sticky-", dir="/tmp"))
    folder.chmod(0o1777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def write_as_nobody(path: Path, data: bytes) -> None:
    """``path`` created and written by uid 65534 (argv only: the name is an argument)."""
    subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         "sh", "-c", 'cat > "$1"', "sh", str(path)],
        input=data, check=True,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["compress --r", "defend"])
def test_a_record_on_another_users_file_is_not_ours(
    run_lltd: RunLltd, tmp_path: Path, sticky: Path, command: str
) -> None:
    """A co-tenant plants ``a.webp`` with a record naming our ``a.png`` (and its own content,
    so it looks intact): it is somebody else's file, kept; ``--r`` never deletes ``a.png`` on
    its word."""
    original = picture(sticky / "a.png", 5)
    original_digest = digest(original)
    out = sticky / "out"
    out.mkdir()
    out.chmod(0o1777)
    planted = (sticky if command == "compress --r" else out) / (
        "a.webp" if command == "compress --r" else "a.png"
    )
    theirs = picture(tmp_path / "theirs.png", 77)
    write_as_nobody(planted, theirs.read_bytes())
    assert planted.stat().st_uid == 65534
    st = original.stat()
    content = planted.read_bytes()
    record = {
        "command": command.split()[0],
        "output_sha256": hashlib.sha256(content).hexdigest(),
        "output_size": len(content),
        "source": {
            "mtime_ns": st.st_mtime_ns, "name": "a.png", "sha256": original_digest,
            "size": st.st_size,
        },
    }  # fmt: skip
    os.setxattr(planted, "user.lltd.made", json.dumps(record, separators=(",", ":")).encode())
    argv = ["compress", sticky, "--r", "-q", "60"] if command == "compress --r" else []
    argv = argv or ["defend", sticky, "-o", out]
    result = run_lltd(*argv)
    assert result.returncode == 0, result.stderr
    assert planted.read_bytes() == content  # theirs, untouched
    if command == "compress --r":
        # a.png went only once its own WebP (under the other name) was in place.
        assert not original.exists()
        with Image.open(sticky / "a.png.webp") as webp:
            assert webp.size == (256, 256)
    else:
        assert (out / "a.png.png").exists()


def test_another_users_unrecorded_file_in_a_shared_output_folder_is_kept(
    run_lltd: RunLltd, tmp_path: Path, sticky: Path
) -> None:
    """An unrecorded file in a folder of lltd's own (``-o``) is redone as a leftover of an
    interrupted run only when it is the running user's: a co-tenant's is theirs."""
    src = tmp_path / "src"
    picture(src / "a.png", 5)
    theirs = picture(tmp_path / "theirs.png", 77).read_bytes()
    write_as_nobody(sticky / "a.png", theirs)
    result = run_lltd("defend", src, "-o", sticky)
    assert result.returncode == 0, result.stderr
    assert (sticky / "a.png").read_bytes() == theirs
    assert (sticky / "a.png.png").stat().st_uid == os.geteuid()


# --- overlapping runs -----------------------------------------------------------------------------

PAUSE_SEAM = textwrap.dedent(
    """
    import os, pathlib, time

    def seam(step, folder_fd, name):
        control = pathlib.Path(os.environ["CONTROL"])
        if step != "open" or (control / "paused").exists():
            return
        (control / "paused").touch()
        deadline = time.monotonic() + 60
        while not (control / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    """
)


REPLACE, ELSEWHERE = ["--r"], ["-o", "{tmp}/out"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("photos/new", REPLACE), ("photos", REPLACE)),
        (("photos", REPLACE), ("photos/new", REPLACE)),
        (("photos", REPLACE), ("alias", REPLACE)),
        (("photos", ELSEWHERE), ("photos/new", REPLACE)),  # a reader of the parent, a writer
        (("photos/new", REPLACE), ("photos", ELSEWHERE)),
    ],
    ids=["child-parent", "parent-child", "alias", "reader-then-inner", "inner-then-reader"],
)
def test_runs_on_overlapping_trees_exclude_each_other_when_one_replaces(
    tmp_path: Path, first: tuple[str, list[str]], second: tuple[str, list[str]]
) -> None:
    """A ``--r`` run on a folder and any run on its parent, its child, or itself through a
    link: whichever starts second is refused with one line, and the first finishes."""
    picture(tmp_path / "photos" / "a.png", 5)
    picture(tmp_path / "photos" / "new" / "b.png", 6)
    (tmp_path / "alias").symlink_to(tmp_path / "photos")
    control = tmp_path / "control"
    control.mkdir()
    seam = tmp_path / "seam.py"
    seam.write_text(PAUSE_SEAM)
    env = {**os.environ, "LLTD_FS_SEAM": str(seam), "CONTROL": str(control)}

    def argv(run: tuple[str, list[str]]) -> list[str]:
        folder, options = run
        return [
            sys.executable, "-m", "lltd", "compress", str(tmp_path / folder), "-q", "60",
            "-j", "1", *(option.format(tmp=tmp_path) for option in options),
        ]  # fmt: skip

    running = subprocess.Popen(
        argv(first), env=env, stderr=subprocess.PIPE, text=True, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not (control / "paused").exists() and running.poll() is None:
            assert time.monotonic() < deadline, "the first run never reached its first file"
            time.sleep(0.05)
        refused = subprocess.run(argv(second), env=env, capture_output=True, text=True, check=False)
        assert refused.returncode == 2, refused.stderr
        assert_one_line_error(refused.stderr, "lltd: error:", "another lltd run is")
    finally:
        (control / "go").touch()
        _, stderr = running.communicate(timeout=120)
    assert running.returncode == 0, stderr
