"""Folder trees as deep as an uploader makes them (``mkdir d; cd d`` in a loop).

Python 3.11's ``os.walk`` and watchdog's walks recurse once per level: a 1,000-deep folder made
every batch command on the tree end in a traceback and killed the watch daemon at every start.
Each test builds the tree by descriptor (no path is ever longer than one name) and runs the
real command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from PIL import Image
from test_watch_daemon import Watch
from waiting import wait_until

from lltd.fs.walk import walk

DEEP = 1_100  # past Python's default recursion limit of 1,000
TOO_DEEP = 2_100  # "/d" per level: past PATH_MAX (4,096 bytes) from any root


def picture() -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.radial_gradient("L").resize((16, 16)).save(buffer, "PNG")
    return buffer.getvalue()


def deep_file(root: Path, depth: int, name: str = "deep.png") -> str:
    """Write ``name`` ``depth`` folders ``d`` below ``root``; its path relative to ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            with contextlib.suppress(FileExistsError):
                os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = below
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as file:
            file.write(picture())
    finally:
        os.close(fd)
    return "/".join(["d"] * depth + [name])


def remove_tree(path: Path) -> None:
    """``rm -r`` by descriptor and without recursion (shutil.rmtree recurses once per level,
    pytest's clean-up with it)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    stack = [(os.open(path, flags), "")]
    while stack:
        fd, name = stack[-1]
        below = None
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    below = entry.name
                else:
                    os.unlink(entry.name, dir_fd=fd)
        if below is not None:
            stack.append((os.open(below, flags, dir_fd=fd), below))
            continue
        os.close(fd)
        stack.pop()
        if stack:
            os.rmdir(name, dir_fd=stack[-1][0])
    os.rmdir(path)


@pytest.fixture
def deep_tmp(tmp_path: Path):
    yield tmp_path
    for child in list(tmp_path.iterdir()):
        if child.is_dir() and not child.is_symlink():
            remove_tree(child)


def test_walk_visits_what_os_walk_visits_in_the_same_order(tmp_path: Path, sample_dir) -> None:
    (sample_dir / "nested" / "inner").mkdir(parents=True, exist_ok=True)
    (sample_dir / "linked").symlink_to(sample_dir / "nested", target_is_directory=True)
    ours = [(folder, sorted(subs), sorted(names)) for folder, subs, names in walk(sample_dir)]
    theirs = []
    for folder, subs, names in os.walk(sample_dir):
        links = [name for name in subs if os.path.islink(os.path.join(folder, name))]
        subs[:] = [name for name in subs if name not in links]  # os.walk lists, never enters
        theirs.append((folder, sorted(subs), sorted(names + links)))
    assert sorted(ours) == sorted(theirs)
    assert [entry[0] for entry in ours] == [entry[0] for entry in theirs]


def test_walk_survives_a_tree_deeper_than_the_recursion_limit(deep_tmp: Path) -> None:
    relative = deep_file(deep_tmp / "in", DEEP)
    found = [
        os.path.join(folder, name) for folder, _, names in walk(deep_tmp / "in") for name in names
    ]
    assert found == [str(deep_tmp / "in" / relative)]


def test_defend_converts_an_image_1100_folders_down_and_names_a_folder_past_path_max(
    deep_tmp: Path, run_lltd
) -> None:
    inp, out = deep_tmp / "in", deep_tmp / "out"
    relative = deep_file(inp, DEEP)
    deep_file(inp, TOO_DEEP, "deeper.png")
    (inp / "top.png").write_bytes(picture())
    result = run_lltd("defend", inp, "-o", out)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode == 1, result.stderr[-2000:]  # the folder it cannot list fails
    assert_one_line_error(result.stderr, "folder not scanned: File name too long")
    assert (out / "top.png").exists()
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:  # the output path is longer than one open() takes: reach it beneath OUT
        os.close(os.open(relative, os.O_RDONLY, dir_fd=fd))
    finally:
        os.close(fd)


def test_watch_runs_on_a_deep_drop_folder_and_takes_a_deep_tree_moved_in(
    deep_tmp: Path,
) -> None:
    inp, out = deep_tmp / "in", deep_tmp / "out"
    before = deep_file(inp, DEEP, "there-before.png")
    watch = Watch(deep_tmp, inp, "-o", out, "-j", "1", "--settle", "200")
    try:
        watch.wait_ready()
        wait_until((out / before).exists, 120, "the deep file's output")
        # A tree built elsewhere and renamed in at once: watchdog walks it to watch it.
        moved = deep_file(deep_tmp / "elsewhere", DEEP, "moved-in.png")
        os.rename(deep_tmp / "elsewhere" / "d", inp / "e")
        wait_until((out / "e" / moved[2:]).exists, 120, "the moved-in file's output")
        assert watch.process.poll() is None, watch.stderr[-2000:]
    finally:
        assert watch.stop() == 0, watch.stderr[-2000:]
    assert "Traceback" not in watch.stderr


def test_watch_takes_a_deep_tree_made_level_by_level_without_flooding_its_log(
    deep_tmp: Path,
) -> None:
    """An uploader's ``mkdir d; cd d`` loop, run inside the watched folder: folders appear
    faster than inotify's thread reads their events, so watchdog watches many of them twice,
    and watchdog 7 warned each time with every watched path spelled out (1,100 levels: 3.4 GB
    on stderr, a minute in which the daemon read no event and could not stop)."""
    inp, out = deep_tmp / "in", deep_tmp / "out"
    inp.mkdir()
    watch = Watch(deep_tmp, inp, "-o", out, "-j", "1", "--settle", "200")
    try:
        watch.wait_ready()
        made = deep_file(inp, DEEP, "made-here.png")
        wait_until((out / made).exists, 120, "the output of the file at the bottom")
        assert watch.process.poll() is None, watch.stderr[-2000:]
    finally:
        assert watch.stop() == 0, watch.stderr[-2000:]
    assert "already exists for watch" not in watch.stderr
    assert len(watch.log_err.read_bytes()) < 10_000, watch.stderr[:2000]


def test_watchdogs_duplicate_watch_warning_costs_one_path_and_is_silenced() -> None:
    """The mechanism of the test above, without its race: a watch whose folder group watches
    1,100 long paths reprs as its own path, and the warning is filtered."""
    import warnings

    inotify_c = pytest.importorskip("watchdog.observers.inotify_c")
    from lltd.watch.discovery import native_observer

    class Group:  # what watchdog hangs on a watch: its folder group, which knows every path
        def __repr__(self) -> str:
            return "/d" * 2_000 * 1_100

    native_observer()
    watch = inotify_c.Watch(7, 0, b"/in/d")
    watch.callbacks[1] = Group()
    assert len(f"{watch.short_str}") < 300  # what watchdog 7's warning formats
    with warnings.catch_warnings(record=True) as caught:
        duplicate = f"Callback with id '1' already exists for watch {watch.short_str}."
        warnings.warn(duplicate, RuntimeWarning, stacklevel=1)
        warnings.warn("Callback with id '1' is another warning", RuntimeWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["Callback with id '1' is another warning"]


def test_a_second_run_over_a_deep_output_tree_reuses_it(deep_tmp: Path, run_lltd) -> None:
    """The start-up sweep for stale temporaries walks OUT, which mirrors IN's depth (it used
    ``os.fwalk``, which recursed once per level)."""
    inp, out = deep_tmp / "in", deep_tmp / "out"
    relative = deep_file(inp, DEEP)
    assert run_lltd("defend", inp, "-o", out).returncode == 0
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:  # a temporary an interrupted run left at the bottom
        bottom = os.open(os.path.dirname(relative), os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(os.open(".deep.png.0a1b2c.lltd-tmp", os.O_CREAT | os.O_WRONLY, dir_fd=bottom))
    finally:
        os.close(fd)
    second = run_lltd("defend", inp, "-o", out)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "1 already done" in second.stderr + second.stdout
    assert os.listdir(bottom) == ["deep.png"]  # the stale temporary is gone
    os.close(bottom)


def test_clean_empties_a_deep_output_tree_under_a_low_descriptor_limit(deep_tmp: Path) -> None:
    """``--c`` empties OUT by descriptor, one held open per level (shutil.rmtree recursed once
    per level); it raises its own soft descriptor limit, here 512, to reach the bottom."""
    import resource

    inp, out = deep_tmp / "in", deep_tmp / "out"
    (inp / "a.png").parent.mkdir(parents=True)
    (inp / "a.png").write_bytes(picture())
    deep_file(out, DEEP, "earlier.webp")  # what an earlier run over a deep input left
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * DEEP:
        pytest.skip(f"the hard descriptor limit ({hard}) is below the tree's depth")
    done = subprocess.run(
        [sys.executable, "-m", "lltd", "compress", inp, "-o", out, "-q", "60", "--c"],
        capture_output=True, text=True, timeout=300, check=False,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard)),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(out)) == ["a.webp"]  # the deep tree is gone, the new output made


def test_a_bind_mount_loop_is_walked_once_and_named(tmp_path: Path) -> None:
    """A folder bind-mounted inside itself (in a private mount namespace, ``unshare -m``:
    nothing changes for the machine) is a loop os.walk follows until the path is too long,
    converting every picture again at each of some 2,000 levels."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to bind-mount in a private mount namespace")
    inp, out = tmp_path / "in", tmp_path / "out"
    (inp / "loop").mkdir(parents=True)
    (inp / "a.png").write_bytes(picture())
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" "$1/loop" && exec "$2" -m lltd defend "$1" -o "$3"', "sh",
         str(inp), sys.executable, str(out)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if done.returncode not in (0, 1) and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stderr[-2000:]
    assert_one_line_error(done.stderr, f"{inp}/loop", "the same folder as one already walked")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png"]
