"""lltd.fs.relation's contracts, in-process on real folders: which relations overlap, the
ancestors' descriptors (none kept unless asked, each kept one an open handle on that ancestor),
the name ``path_below`` reads from the directories (the real entry, never a link to it), and
that no call leaks a descriptor or closes the caller's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lltd.fs.identity import Identity
from lltd.fs.relation import Relation, ancestors, path_below, relation
from lltd.fs.tree import Folder


def _open_descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def test_each_relation_reads_as_its_lowercase_name() -> None:
    assert [r.value for r in Relation] == ["apart", "same", "inside", "contains"]


def test_only_apart_trees_do_not_overlap() -> None:
    assert [r.overlaps for r in Relation] == [False, True, True, True]
    assert Relation.APART.overlaps is False
    assert Relation.SAME.overlaps is True


def test_ancestors_are_nearest_first_up_to_the_root_and_keep_no_descriptor_by_default(
    tmp_path: Path,
) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    before = _open_descriptors()
    with Folder.open(tmp_path / "a" / "b") as folder:
        found = ancestors(folder)
        assert os.fstat(folder.fd)  # the caller's descriptor is still open
    assert _open_descriptors() == before
    expected = [Identity.of(os.stat(p)) for p in (tmp_path / "a", tmp_path, *tmp_path.parents)]
    assert [identity for identity, _ in found] == expected
    assert [fd for _, fd in found] == [-1] * len(expected)


def test_kept_ancestors_are_open_descriptors_of_those_folders_owned_by_the_caller(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    before = _open_descriptors()
    with Folder.open(tmp_path / "a") as folder:
        found = ancestors(folder, keep=True)
    try:
        assert found and all(fd >= 0 for _, fd in found)
        assert [Identity.of(os.fstat(fd)) for _, fd in found] == [i for i, _ in found]
        assert _open_descriptors() - before == {fd for _, fd in found}
    finally:
        for _, fd in found:
            os.close(fd)
    assert _open_descriptors() == before


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("in", "in", Relation.SAME),
        ("in/out", "in", Relation.INSIDE),
        ("in", "in/out", Relation.CONTAINS),
        ("in", "other", Relation.APART),
    ],
)
def test_relation_of_two_folders(tmp_path: Path, first: str, second: str, expected) -> None:
    for name in ("in/out", "other"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    before = _open_descriptors()
    with Folder.open(tmp_path / first) as a, Folder.open(tmp_path / second) as b:
        assert relation(a, b) is expected
    assert _open_descriptors() == before


def test_path_below_reads_the_real_entry_never_a_link_to_it_and_leaks_nothing(
    tmp_path: Path,
) -> None:
    inner = tmp_path / "outer" / "mid" / "real"
    inner.mkdir(parents=True)
    # Links to each level, under many names: scandir's order is the directory's hash order, so
    # some of them come before the real entry whatever that order is.
    for i in range(40):
        os.symlink("real", inner.parent / f"link{i}")
        os.symlink("mid", inner.parent.parent / f"link{i}")
    before = _open_descriptors()
    with Folder.open(inner) as folder, Folder.open(tmp_path / "outer") as outer:
        assert path_below(folder, outer) == "mid/real"
        assert path_below(folder, folder) == ""
        assert os.fstat(folder.fd) and os.fstat(outer.fd)  # neither closed by the call
    assert _open_descriptors() == before


def test_path_below_is_none_when_the_folder_is_not_inside(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = _open_descriptors()
    with Folder.open(tmp_path / "a") as a, Folder.open(tmp_path / "b") as b:
        assert path_below(a, b) is None
        assert path_below(b, a) is None
        with Folder.open(tmp_path) as parent:
            assert path_below(parent, a) is None  # outer inside inner: not below it
            assert os.fstat(parent.fd)
    assert _open_descriptors() == before
