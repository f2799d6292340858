"""``lltd.fs.walk``: the tree walk every scan uses (batch runs, the watch daemon's start and
rescans, the cluster's listing) and the two process limits the daemon raises for deep trees.

In-process on small real trees (the 1,100-level trees and real commands are
``test_deep_trees.py``'s). Each walk's result is taken in full and compared exactly; the
consumer sorts or prunes ``subfolders`` in place, as the callers do, so the order is exact.
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lltd.fs.walk import (
    DEEPEST_PATH,
    allow_recursive_walks,
    deep_descriptors_soft_limit,
    walk,
)

REPO = Path(__file__).resolve().parents[1]

Step = tuple[str, list[str], list[str]]


def make(root: Path, *folders: str, files: tuple[str, ...] = ()) -> Path:
    for folder in folders:
        (root / folder).mkdir(parents=True)
    for file in files:
        (root / file).write_bytes(b"x")
    return root


def walked(
    top: str | os.PathLike[str],
    consumer: Callable[[str, list[str]], None] = lambda folder, subfolders: subfolders.sort(),
) -> tuple[list[Step], list[OSError]]:
    """Every step of the walk (lists copied as the walk left them) and every error, in order;
    ``consumer`` edits each ``subfolders`` list in place, as a caller prunes."""
    errors: list[OSError] = []
    steps: list[Step] = []
    for folder, subfolders, names in walk(top, errors.append):
        consumer(folder, subfolders)
        steps.append((folder, list(subfolders), sorted(names)))
    return steps, errors


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make(
        tmp_path / "top",
        "a/x",
        "a/y",
        "b",
        "c/z",
        files=("top.png", "a/x/deep.png", "c/z/one", "c/z/two"),
    )


def test_parents_come_first_and_each_subtree_in_the_order_of_its_sorted_list(tree: Path) -> None:
    t = str(tree)
    steps, errors = walked(tree)
    assert steps == [
        (t, ["a", "b", "c"], ["top.png"]),
        (f"{t}/a", ["x", "y"], []),
        (f"{t}/a/x", [], ["deep.png"]),
        (f"{t}/a/y", [], []),
        (f"{t}/b", [], []),
        (f"{t}/c", ["z"], []),
        (f"{t}/c/z", [], ["one", "two"]),
    ]
    assert errors == []


def test_a_list_reordered_in_place_is_the_order_its_subtrees_are_walked(tree: Path) -> None:
    t = str(tree)
    steps, _ = walked(tree, lambda folder, subfolders: subfolders.sort(reverse=True))
    assert [folder for folder, _, _ in steps] == [
        t, f"{t}/c", f"{t}/c/z", f"{t}/b", f"{t}/a", f"{t}/a/y", f"{t}/a/x",
    ]  # fmt: skip


def test_a_folder_pruned_from_the_list_is_never_entered(tree: Path) -> None:
    t = str(tree)

    def prune(folder: str, subfolders: list[str]) -> None:
        subfolders[:] = sorted(name for name in subfolders if name not in ("a", "z"))

    steps, errors = walked(tree, prune)
    assert steps == [(t, ["b", "c"], ["top.png"]), (f"{t}/b", [], []), (f"{t}/c", [], [])]
    assert errors == []
    assert walked(tree, lambda folder, subfolders: subfolders.clear()) == (
        [(t, [], ["top.png"])],
        [],
    )


def test_links_fifos_and_files_are_listed_as_other_names_and_no_link_is_entered(
    tmp_path: Path,
) -> None:
    elsewhere = make(tmp_path / "elsewhere", "inner", files=("secret.png",))
    top = make(tmp_path / "top", "real", files=("file.png",))
    (top / "to-folder").symlink_to(elsewhere)
    (top / "to-file").symlink_to(top / "file.png")
    (top / "dangling").symlink_to(tmp_path / "nothing")
    (top / "loop").symlink_to("loop")
    os.mkfifo(top / "fifo")
    steps, errors = walked(top)
    assert steps == [
        (str(top), ["real"], ["dangling", "fifo", "file.png", "loop", "to-file", "to-folder"]),
        (f"{top}/real", [], []),
    ]
    assert errors == []


def test_a_top_given_as_a_link_is_walked_as_the_folder_it_names_under_the_links_path(
    tree: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(tree)
    direct, _ = walked(tree)
    t = str(tree)
    # The link is followed for top alone: the folder's steps, under the link's path.
    assert walked(link) == ([(f"{link}{f[len(t) :]}", s, n) for f, s, n in direct], [])
    assert walked(link)[0][0] == (str(link), ["a", "b", "c"], ["top.png"])


def test_top_may_be_a_path_like_and_every_folder_comes_back_as_a_string(tree: Path) -> None:
    folders = [folder for folder, _, _ in walk(tree)]
    assert len(folders) == 7
    assert all(type(folder) is str for folder in folders)
    assert folders[0] == str(tree)


def test_a_missing_top_goes_to_onerror_with_its_name_and_nothing_is_yielded(
    tmp_path: Path,
) -> None:
    steps, errors = walked(tmp_path / "missing")
    assert steps == []
    assert [(type(e), e.errno, e.filename) for e in errors] == [
        (FileNotFoundError, errno.ENOENT, str(tmp_path / "missing"))
    ]


def test_without_onerror_a_folder_that_cannot_be_listed_is_skipped_silently(
    tree: Path, tmp_path: Path
) -> None:
    assert list(walk(tmp_path / "missing")) == []
    seen = []
    for folder, subfolders, _ in walk(tree):
        subfolders.sort()
        if folder == str(tree):
            (tree / "b").rmdir()  # listed, gone before it is entered
        seen.append(folder)
    assert seen == [
        str(tree / name) if name else str(tree) for name in ("", "a", "a/x", "a/y", "c", "c/z")
    ]


def test_a_folder_gone_after_its_parent_was_listed_goes_to_onerror_and_the_walk_goes_on(
    tree: Path,
) -> None:
    t = str(tree)

    def remove_b_and_a_x(folder: str, subfolders: list[str]) -> None:
        subfolders.sort()
        if folder == t:
            (tree / "b").rmdir()
        if folder == f"{t}/a":
            (tree / "a" / "x" / "deep.png").unlink()
            (tree / "a" / "x").rmdir()

    steps, errors = walked(tree, remove_b_and_a_x)
    assert [folder for folder, _, _ in steps] == [t, f"{t}/a", f"{t}/a/y", f"{t}/c", f"{t}/c/z"]
    assert [(type(e), e.errno, e.filename) for e in errors] == [
        (FileNotFoundError, errno.ENOENT, f"{t}/a/x"),
        (FileNotFoundError, errno.ENOENT, f"{t}/b"),
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists a folder whatever its mode")
def test_a_folder_without_permission_goes_to_onerror_and_its_siblings_are_walked(
    tree: Path,
) -> None:
    t = str(tree)
    (tree / "a").chmod(0)
    try:
        steps, errors = walked(tree)
    finally:
        (tree / "a").chmod(0o755)
    assert [folder for folder, _, _ in steps] == [t, f"{t}/b", f"{t}/c", f"{t}/c/z"]
    assert [(type(e), e.errno, e.filename) for e in errors] == [
        (PermissionError, errno.EACCES, f"{t}/a")
    ]


@pytest.fixture
def long_path_tree(tmp_path: Path) -> Iterator[tuple[Path, str, int]]:
    """``top`` with one 250-byte folder name per level, 20 levels: made by descriptor (no path
    is ever longer than one name); the name and the first level whose path passes PATH_MAX."""
    top = tmp_path / "top"
    top.mkdir()
    name = "n" * 250
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(20):
        os.mkdir(name, dir_fd=fd)
        below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    # PATH_MAX counts the terminating NUL: a path of 4,096 bytes is one too many.
    first_too_long = next(k for k in range(21) if len(str(top)) + 251 * k >= 4096)
    yield top, name, first_too_long
    shutil.rmtree(top)  # by descriptor (os.open with dir_fd): no path it uses is too long


def test_a_path_longer_than_the_kernel_takes_goes_to_onerror_and_nothing_below_is_walked(
    long_path_tree: tuple[Path, str, int],
) -> None:
    top, name, first_too_long = long_path_tree
    steps, errors = walked(top)
    expected = [os.path.join(top, *[name] * k) for k in range(first_too_long)]
    assert [folder for folder, _, _ in steps] == expected
    assert all(subfolders == [name] for _, subfolders, _ in steps)
    assert [(e.errno, e.filename) for e in errors] == [
        (errno.ENAMETOOLONG, os.path.join(top, *[name] * first_too_long))
    ]


def test_a_folder_met_a_second_time_goes_to_onerror_as_eloop_and_is_not_listed_again(
    tree: Path,
) -> None:
    t = str(tree)

    def revisit(folder: str, subfolders: list[str]) -> None:
        # "." is this folder again, ".." the one above: the same (st_dev, st_ino) as walked.
        subfolders[:] = [".", ".."] if folder == f"{t}/b" else sorted(subfolders)

    steps, errors = walked(tree, revisit)
    assert [folder for folder, _, _ in steps] == [
        t, f"{t}/a", f"{t}/a/x", f"{t}/a/y", f"{t}/b", f"{t}/c", f"{t}/c/z",
    ]  # fmt: skip
    assert [(type(e), e.errno, e.strerror, e.filename) for e in errors] == [
        (OSError, errno.ELOOP, "the same folder as one already walked", f"{t}/b/."),
        (OSError, errno.ELOOP, "the same folder as one already walked", f"{t}/b/.."),
    ]


@pytest.mark.parametrize("target", ["top", "outside"])
def test_a_listed_folder_swapped_for_a_link_is_not_entered_wherever_the_link_leads(
    tree: Path, tmp_path: Path, target: str
) -> None:
    """Between the listing and the visit, b becomes a link: to top (a folder walked already)
    or to a folder outside the tree that nothing walked (``/`` would be walked whole)."""
    t = str(tree)
    outside = make(tmp_path / "outside", "secret")

    def swap(folder: str, subfolders: list[str]) -> None:
        subfolders.sort()
        if folder == t:
            (tree / "b").rmdir()
            (tree / "b").symlink_to(tree if target == "top" else outside)

    steps, errors = walked(tree, swap)
    assert [folder for folder, _, _ in steps] == [
        t, f"{t}/a", f"{t}/a/x", f"{t}/a/y", f"{t}/c", f"{t}/c/z",
    ]  # fmt: skip
    assert [(e.errno, e.filename) for e in errors] == [(errno.ENOTDIR, f"{t}/b")]


def test_a_listed_folder_replaced_by_another_folder_is_not_walked_as_it(
    tree: Path, tmp_path: Path
) -> None:
    """b moved away and another folder moved in under its name: what is there now is not what
    the listing said (its identity differs), so it is refused, not walked in b's place."""
    t = str(tree)
    other = make(tmp_path / "other", "inside")

    def replace(folder: str, subfolders: list[str]) -> None:
        subfolders.sort()
        if folder == t:
            (tree / "b").rename(tmp_path / "b-moved-away")
            other.rename(tree / "b")

    steps, errors = walked(tree, replace)
    assert [folder for folder, _, _ in steps] == [
        t, f"{t}/a", f"{t}/a/x", f"{t}/a/y", f"{t}/c", f"{t}/c/z",
    ]  # fmt: skip
    assert [(e.errno, e.strerror, e.filename) for e in errors] == [
        (errno.ESTALE, "not the folder listed there (replaced since)", f"{t}/b")
    ]


def test_an_entry_whose_type_cannot_be_learnt_is_listed_with_the_other_names(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file system that reports no type (DT_UNKNOWN) makes is_dir() lstat the entry, which can
    # fail with EACCES; none here does, so the listing's entries are wrapped to fail that way.
    real_scandir = os.scandir

    class Unknown:
        def __init__(self, entry: os.DirEntry[str]) -> None:
            self.name = entry.name

        def is_dir(self, *, follow_symlinks: bool = True) -> bool:
            raise PermissionError(errno.EACCES, "Permission denied", self.name)

    class Listing:
        def __init__(self, path: str) -> None:
            self.listing = real_scandir(path)

        def __enter__(self) -> Iterator[object]:
            entries = self.listing.__enter__()
            return (Unknown(e) if e.name == "b" else e for e in entries)

        def __exit__(self, *exc: object) -> None:
            self.listing.__exit__(*exc)

    monkeypatch.setattr(os, "scandir", Listing)
    steps, errors = walked(tree)
    monkeypatch.undo()
    assert steps[0] == (str(tree), ["a", "c"], ["b", "top.png"])
    assert errors == []


def test_deepest_path_is_path_max_over_the_two_bytes_of_the_shortest_level() -> None:
    assert os.pathconf("/", "PC_PATH_MAX") == 4096
    assert DEEPEST_PATH == 2048
    assert type(DEEPEST_PATH) is int


@pytest.fixture
def recursion_limit() -> Iterator[None]:
    before = sys.getrecursionlimit()
    yield
    sys.setrecursionlimit(before)


@pytest.mark.usefixtures("recursion_limit")
@pytest.mark.parametrize(("before", "after"), [(1000, 3048), (3047, 3048), (3048, 3048)])
def test_allow_recursive_walks_raises_the_limit_to_deepest_path_and_1000_frames(
    before: int, after: int
) -> None:
    sys.setrecursionlimit(before)
    allow_recursive_walks()
    assert sys.getrecursionlimit() == after == DEEPEST_PATH + 1000


@pytest.mark.usefixtures("recursion_limit")
@pytest.mark.parametrize("before", [3049, 10_000])
def test_allow_recursive_walks_never_lowers_a_higher_limit(before: int) -> None:
    sys.setrecursionlimit(before)
    allow_recursive_walks()
    assert sys.getrecursionlimit() == before


def nofile_after(soft: int, hard: int) -> tuple[int, int]:
    """RLIMIT_NOFILE once ``allow_deep_descriptors`` ran in a fresh process started at
    ``(soft, hard)`` (a process that lowers its hard limit cannot raise it again)."""
    code = (
        "import resource, sys\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))\n"
        "except ValueError:\n"  # above fs.nr_open, or raising the hard limit without the right
        "    sys.exit(3)\n"
        "from lltd.fs.walk import allow_deep_descriptors\n"
        "allow_deep_descriptors()\n"
        "print(*resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(soft), str(hard)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode == 3:
        pytest.skip(f"this machine gives no process a hard limit of {hard} descriptors")
    assert result.returncode == 0, result.stderr
    new_soft, new_hard = map(int, result.stdout.split())
    return new_soft, new_hard


def test_allow_deep_descriptors_raises_the_soft_limit_to_the_hard_one() -> None:
    assert nofile_after(256, 4096) == (4096, 4096)
    assert nofile_after(4095, 4096) == (4096, 4096)
    assert nofile_after(4096, 4096) == (4096, 4096)


UNLIMITED = resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("soft", "hard", "wanted"),
    [
        (1024, 4096, 4096),  # up to the hard limit
        (4095, 4096, 4096),
        (4096, 4096, 4096),
        (1024, 1 << 20, 1 << 20),
        (1024, (1 << 20) + 1, 1 << 20),  # at most 1 << 20 (fs.nr_open raised above it)
        (1024, 1 << 21, 1 << 20),
        (1024, UNLIMITED, 1 << 20),  # unlimited (macOS's default hard limit): 1 << 20
        ((1 << 20) + 1, 1 << 21, (1 << 20) + 1),  # never lowered
        ((1 << 20) + 1, UNLIMITED, (1 << 20) + 1),
        (UNLIMITED, UNLIMITED, UNLIMITED),  # unlimited is not lowered either
    ],
)
def test_the_deep_descriptors_soft_limit_is_the_hard_one_at_most_1_shl_20_never_lower(
    soft: int, hard: int, wanted: int
) -> None:
    assert deep_descriptors_soft_limit(soft, hard) == wanted
