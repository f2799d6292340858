"""``lltd.batch.scan`` in-process on real folders (issue 27): the extension sets, a task's
defaults, ``is_within`` by whole components, ``--ignore-filename-match`` as glob or substring,
a bare name's suffix as pathlib's, and ``scan``: sorted, recursive, case-insensitive, dotfiles,
excluded folders and links left out, a folder that cannot be listed reported with its reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePath

import pytest
from test_walk_contracts import long_path_tree  # noqa: F401 (the fixture: 20 levels of 250-byte names)

from lltd.batch.scan import (
    COMPRESS_EXTENSIONS,
    IMAGE_EXTENSIONS,
    Task,
    is_within,
    matches_name,
    scan,
    suffix,
)


def test_the_extension_sets_word_for_word() -> None:
    assert {".png", ".jpg", ".jpeg"} == COMPRESS_EXTENSIONS
    assert {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"} == IMAGE_EXTENSIONS


def test_a_task_nobody_planned_may_replace_any_file_and_names_no_output() -> None:
    task = Task(Path("/in/a.png"), Path("a.png"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.output = Path("/out/a.webp")  # type: ignore[misc]
    assert {task: 1}[Task(Path("/in/a.png"), Path("a.png"))] == 1  # frozen: hashable by value
    assert (task.output, task.display, task.replaces, task.opened) == (None, None, True, None)
    assert task == Task(Path("/in/a.png"), Path("a.png"), opened=object())  # type: ignore[arg-type]
    assert "opened" not in repr(task)


def test_is_within_compares_whole_components() -> None:
    assert is_within(Path("/a/b"), Path("/a/b"))
    assert is_within(Path("/a/b/c/d"), Path("/a/b"))
    assert not is_within(Path("/a/bc"), Path("/a/b"))
    assert not is_within(Path("/a"), Path("/a/b"))
    assert not is_within(Path("/x/b"), Path("/a/b"))


@pytest.mark.parametrize(
    ("name", "pattern", "matched"),
    [
        ("holiday.png", "*.png", True),
        ("holiday.PNG", "*.png", False),  # a glob matches case-sensitively
        ("abc.png", "a?c.png", True),
        ("abbc.png", "a?c.png", False),
        ("b1.png", "[ab]1.png", True),
        ("c1.png", "[ab]1.png", False),
        ("concat.png", "cat", True),  # no wildcard: a substring anywhere in the name
        ("dog.png", "cat", False),
        ("aXYb.png", "XY", True),
        ("a.png", "a.png", True),
        ("xa.png", "a.png", True),  # a substring, not the whole name
        ("a.png", "a.png.bak", False),
    ],
)
def test_a_pattern_with_wildcards_is_a_glob_and_any_other_a_substring(
    name: str, pattern: str, matched: bool
) -> None:
    assert matches_name(name, pattern) is matched


@pytest.mark.parametrize(
    "name", ["a.png", "a.b.c", "a.b", ".png", "a.", "ab.", "abc", "", ".", "a..", "..b", "x.tar.gz"]
)
def test_a_bare_names_suffix_is_pathlibs(name: str) -> None:
    assert suffix(name) == (PurePath(name).suffix if name else "")


def test_suffixes_at_the_edges() -> None:
    assert suffix("a.b") == ".b"
    assert suffix("ab.") == ""
    assert suffix(".png") == ""
    assert suffix("abc") == ""
    assert suffix("a.jpeg") == ".jpeg"


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for name in ("b.png", "a.JPG", "c.jpeg", "d.webp", "e.gif", "noext", ".hidden.png", "f.",
                 "sub/z.png", "sub/deeper/y.tif", ".dot/x.png", "sub/.dot/w.png", "sub/.v.png",
                 "zz/q.bmp", "a_dir/m.tiff"):  # fmt: skip
        touch(root / name)
    (root / "b_link.png").symlink_to(root / "b.png")  # files after it are still listed
    (root / "linked_dir").symlink_to(root / "sub")
    return root


def listed(tasks: list[Task]) -> list[str]:
    return [task.relative.as_posix() for task in tasks]


def test_every_image_below_root_sorted_by_folder_and_name(tree: Path) -> None:
    tasks = scan(tree)
    assert listed(tasks) == [
        "a.JPG", "b.png", "c.jpeg", "d.webp",
        "a_dir/m.tiff", "sub/z.png", "sub/deeper/y.tif", "zz/q.bmp",
    ]  # fmt: skip
    assert [task.source for task in tasks] == [tree / rel for rel in listed(tasks)]
    assert all(task == Task(task.source, task.relative) for task in tasks)


def test_the_extensions_asked_for_in_any_case(tree: Path) -> None:
    assert listed(scan(tree, COMPRESS_EXTENSIONS)) == ["a.JPG", "b.png", "c.jpeg", "sub/z.png"]
    assert listed(scan(tree, [".PNG", ".Tif"])) == ["b.png", "sub/z.png", "sub/deeper/y.tif"]
    assert listed(scan(tree, [])) == []


def test_excluded_folders_and_everything_below_them_are_left_out(tree: Path) -> None:
    assert listed(scan(tree, exclude=[tree / "sub"])) == [
        "a.JPG", "b.png", "c.jpeg", "d.webp", "a_dir/m.tiff", "zz/q.bmp",
    ]  # fmt: skip
    assert "sub/z.png" in listed(scan(tree, exclude=[tree / "sub" / "deeper"]))
    assert "sub/deeper/y.tif" not in listed(scan(tree, exclude=[tree / "sub" / "deeper"]))
    # Given as a link, or relative to here: compared once resolved.
    (tree.parent / "to_zz").symlink_to(tree / "zz")
    assert "zz/q.bmp" not in listed(scan(tree, exclude=[tree.parent / "to_zz"]))
    # A folder whose name only starts like an excluded one is kept.
    assert "zz/q.bmp" in listed(scan(tree, exclude=[tree / "z"]))


def test_a_root_given_through_a_link_is_resolved(tree: Path) -> None:
    (tree.parent / "alias").symlink_to(tree)
    tasks = scan(tree.parent / "alias", [".bmp"])
    assert [(task.source, task.relative) for task in tasks] == [
        (tree / "zz" / "q.bmp", Path("zz/q.bmp"))
    ]


def test_a_missing_root_lists_nothing_and_is_not_reported_as_unlisted(tmp_path: Path) -> None:
    unlisted: list[tuple[Path, str]] = []
    assert scan(tmp_path / "gone", unlisted=unlisted) == []
    assert unlisted == []


def test_a_folder_that_cannot_be_listed_is_reported_with_its_reason(
    long_path_tree: tuple[Path, str, int],  # noqa: F811 (the fixture imported above)
) -> None:
    top, name, first_too_long = long_path_tree
    touch(top / "a.png")
    touch(top / name / "p.png")
    unlisted: list[tuple[Path, str]] = []
    tasks = scan(top, unlisted=unlisted)
    assert listed(tasks) == ["a.png", f"{name}/p.png"]
    assert unlisted == [
        (Path(top, *[name] * first_too_long), "folder not scanned: File name too long")
    ]
    # Nobody asking: the same files, nothing raised.
    assert listed(scan(top)) == listed(tasks)
