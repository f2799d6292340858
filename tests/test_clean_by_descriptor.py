"""``--c`` decides on the output folder's descriptor and empties that same descriptor: the name
swapped for a link to the input folder between the decision and the clear deletes nothing of
the input (issue 24: never re-resolve a path after a check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lltd.fs.relation
from lltd.batch.pipeline import clean_output_directory
from lltd.common.errors import UsageError


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"original a")
    (photos / "b.png").write_bytes(b"original b")
    out.mkdir()
    (out / "old.webp").write_bytes(b"an old output")
    return photos, out


def test_clean_empties_the_folder_it_checked_not_what_its_name_names_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos, out = _tree(tmp_path)
    real = lltd.fs.relation.relation
    moved = tmp_path / "out-moved"

    def swap_then_relate(first, second):  # type: ignore[no-untyped-def]
        # The swap lands between clean's opening of the folder and its decision (the earlier
        # name checks in check_clean relate trees too, and must see the real folder).
        if sys._getframe(1).f_code.co_name == "clean_output_directory":
            out.rename(moved)  # the folder that was opened and checked ...
            out.symlink_to(photos, target_is_directory=True)  # ... its name now names the input
        return real(first, second)

    monkeypatch.setattr(lltd.fs.relation, "relation", swap_then_relate)
    assert clean_output_directory(out, photos) is True
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "b.png"]
    assert (photos / "a.png").read_bytes() == b"original a"
    assert list(moved.iterdir()) == []  # the checked folder is the one emptied


def test_clean_refuses_the_input_folder_reached_through_a_link(tmp_path: Path) -> None:
    photos, _ = _tree(tmp_path)
    alias = tmp_path / "alias"
    alias.symlink_to(photos, target_is_directory=True)
    with pytest.raises(UsageError, match="input folder"):
        clean_output_directory(alias, photos)
    assert sorted(p.name for p in photos.iterdir()) == ["a.png", "b.png"]


def test_clean_inside_the_input_names_a_file_lltd_did_not_write(tmp_path: Path) -> None:
    photos, _ = _tree(tmp_path)
    album = photos / "album"
    album.mkdir()
    (album / "mine.png").write_bytes(b"a user's original")
    with pytest.raises(UsageError, match=r"album/mine\.png, which lltd did not write"):
        clean_output_directory(album, photos)
    assert (album / "mine.png").read_bytes() == b"a user's original"
