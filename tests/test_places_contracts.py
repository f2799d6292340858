"""lltd.fs.places' contracts, in-process on real folders (issue 27): a tree root is opened once
per process and path, by the path given, and made only when asked; a task's input is split at
the root it was planned under, else opened in its own folder; an output's folder is reached
beneath its tree by descriptor when it lies in it, made when missing unless told not to, and the
flag says exactly when the caller must close the folder it got."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

# This module by its own name only: a test file that names the tree or identity modules joins
# (and stales) their mutation rows.
import lltd.fs.places as places
from lltd.fs.places import place_of, split_task, tree_at


@pytest.fixture(autouse=True)
def _forget_trees(tmp_path: Path) -> Iterator[None]:
    """Close what a test opened below its tmp_path: the cache keeps a run's trees for good."""
    yield
    for key in [key for key in places._open if key.startswith(os.fspath(tmp_path))]:
        pid, folder = places._open.pop(key)
        if pid == os.getpid():
            folder.close()


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _held(folder: places.Folder) -> tuple[int, int]:
    st = os.fstat(folder.fd)
    return st.st_dev, st.st_ino


# --- tree_at ------------------------------------------------------------------------------------


def test_a_tree_is_opened_once_per_process_the_same_folder_every_time(tmp_path: Path) -> None:
    first = tree_at(tmp_path)
    assert tree_at(tmp_path) is first
    assert tree_at(tmp_path, create=True) is first
    assert first.path == tmp_path
    assert _held(first) == _identity(tmp_path)


def test_a_tree_once_opened_stays_the_folder_that_was_opened_not_what_its_path_names_later(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "planned.png").write_bytes(b"planned")
    held = tree_at(root)
    root.rename(tmp_path / "moved")
    root.mkdir()  # another folder under the same path
    again = tree_at(root)
    assert again is held
    assert _held(again) == _identity(tmp_path / "moved")
    assert os.listdir(again.fd) == ["planned.png"]


def test_a_forked_process_opens_the_tree_afresh_by_its_path(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    parents = tree_at(root)
    root.rename(tmp_path / "moved")
    root.mkdir()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer in one line, then leave without pytest's teardown
        try:
            os.close(read)
            mine = tree_at(root)
            answer = (
                f"{mine is parents} {mine.fd == parents.fd} "
                f"{_held(mine) == _identity(root)} {tree_at(root) is mine}"
            )
            os.write(write, answer.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    assert answer == "False False True True"
    assert tree_at(root) is parents  # the parent keeps its own


def test_a_missing_tree_is_not_made_unless_asked(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError):
        tree_at(missing)
    assert not missing.exists()
    assert os.fspath(missing) not in places._open


def test_a_tree_asked_to_be_made_is_made_with_every_missing_parent(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "c"
    tree = tree_at(root, create=True)
    assert root.is_dir()
    assert _held(tree) == _identity(root)


def test_a_tree_asked_to_be_made_that_exists_already_is_opened_as_it_is(tmp_path: Path) -> None:
    root = tmp_path / "there"
    root.mkdir()
    (root / "kept.png").write_bytes(b"kept")
    tree = tree_at(root, create=True)
    assert _held(tree) == _identity(root)
    assert os.listdir(tree.fd) == ["kept.png"]


# --- split_task ---------------------------------------------------------------------------------


def test_a_planned_input_is_split_at_the_root_it_was_planned_under() -> None:
    assert split_task(Path("/in/a/b/c.png"), PurePosixPath("a/b/c.png")) == (
        Path("/in"),
        "a/b/c.png",
    )
    assert split_task(Path("/in/c.png"), Path("c.png")) == (Path("/in"), "c.png")
    assert split_task(Path("/c.png"), Path("c.png")) == (Path("/"), "c.png")


def test_an_input_that_does_not_end_with_its_relative_path_is_opened_in_its_own_folder() -> None:
    # A copy elsewhere: the same name, another folder above it.
    assert split_task(Path("/x/y/c.png"), PurePosixPath("a/c.png")) == (Path("/x/y"), "c.png")
    assert split_task(Path("/x/a/b.png"), PurePosixPath("a/c.png")) == (Path("/x/a"), "b.png")
    # No relative path at all.
    assert split_task(Path("/x/y/c.png"), PurePosixPath()) == (Path("/x/y"), "c.png")


def test_a_source_that_is_its_whole_relative_path_is_opened_in_its_own_folder_not_the_cwd() -> None:
    # No root above it is known: the tree is the file's own folder, never the working folder.
    assert split_task(Path("a/b.png"), PurePosixPath("a/b.png")) == (Path("a"), "b.png")
    assert split_task(Path("b.png"), PurePosixPath("b.png")) == (Path("."), "b.png")


def test_split_task_opens_the_very_file_that_was_planned(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "c.png").write_bytes(b"planned")
    root, name = split_task(tmp_path / "a" / "c.png", PurePosixPath("a/c.png"))
    with tree_at(root).open_input(name) as opened:
        assert opened.read_all() == b"planned"
    assert tree_at(root) is tree_at(tmp_path)


# --- place_of -----------------------------------------------------------------------------------


def test_an_output_directly_in_its_tree_is_the_trees_own_folder_not_to_be_closed(
    tmp_path: Path,
) -> None:
    folder, name, owned = place_of(tmp_path / "out.webp", tmp_path)
    assert (folder, name, owned) == (tree_at(tmp_path), "out.webp", False)
    assert folder is tree_at(tmp_path)


def test_an_output_deeper_in_its_tree_is_reached_beneath_it_and_must_be_closed(
    tmp_path: Path,
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    folder, name, owned = place_of(tmp_path / "a" / "b" / "out.webp", tmp_path)
    try:
        assert (name, owned) == ("out.webp", True)
        assert folder.path == tmp_path / "a" / "b"
        assert _held(folder) == _identity(tmp_path / "a" / "b")
        assert folder is not tree_at(tmp_path)
    finally:
        folder.close()


def test_an_output_folder_is_reached_by_descriptor_beneath_the_tree_not_by_its_path(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    (root / "a").mkdir(parents=True)
    tree_at(root)  # the run's tree, opened when planned
    root.rename(tmp_path / "moved")
    (root / "a").mkdir(parents=True)  # what the path names now
    folder, name, owned = place_of(root / "a" / "out.webp", root)
    try:
        assert (name, owned) == ("out.webp", True)
        assert _held(folder) == _identity(tmp_path / "moved" / "a")
    finally:
        folder.close()


def test_missing_output_folders_in_a_tree_are_made_by_default(tmp_path: Path) -> None:
    root = tmp_path / "out"
    folder, name, owned = place_of(root / "a" / "b" / "x.webp", root)
    try:
        assert (name, owned) == ("x.webp", True)
        assert (root / "a" / "b").is_dir()
        assert _held(folder) == _identity(root / "a" / "b")
    finally:
        folder.close()


def test_nothing_is_made_in_a_tree_when_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        place_of(tmp_path / "out" / "x.webp", tmp_path / "out", create=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(FileNotFoundError):
        place_of(tmp_path / "a" / "x.webp", tmp_path, create=False)
    assert os.listdir(tmp_path) == []


def test_an_output_outside_its_tree_is_the_folder_its_path_names_and_must_be_closed(
    tmp_path: Path,
) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for create in (True, False):
        folder, name, owned = place_of(
            tmp_path / "elsewhere" / "r.json", tmp_path / "tree", create=create
        )
        try:
            assert (name, owned) == ("r.json", True)
            assert folder.path == tmp_path / "elsewhere"
            assert _held(folder) == _identity(tmp_path / "elsewhere")
        finally:
            folder.close()
    assert os.fspath(tmp_path / "tree") not in places._open  # the tree was not opened for it


def test_the_tree_root_itself_is_no_place_beneath_it(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    folder, name, owned = place_of(root, root)
    try:
        assert (name, owned) == ("tree", True)
        assert _held(folder) == _identity(tmp_path)
    finally:
        folder.close()


def test_without_a_tree_the_folder_its_path_names_is_made_by_default(tmp_path: Path) -> None:
    folder, name, owned = place_of(tmp_path / "a" / "b" / "report.json", None)
    try:
        assert (name, owned) == ("report.json", True)
        assert (tmp_path / "a" / "b").is_dir()
        assert _held(folder) == _identity(tmp_path / "a" / "b")
    finally:
        folder.close()


def test_without_a_tree_nothing_is_made_when_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        place_of(tmp_path / "a" / "report.json", None, create=False)
    assert os.listdir(tmp_path) == []
    (tmp_path / "a").mkdir()
    folder, name, owned = place_of(tmp_path / "a" / "report.json", None, create=False)
    try:
        assert (name, owned) == ("report.json", True)
        assert _held(folder) == _identity(tmp_path / "a")
    finally:
        folder.close()
