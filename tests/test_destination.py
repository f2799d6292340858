"""lltd.fs.destination's temporary files in-process (the lean path of ``lltd cwebp`` makes them
without tempfile): their name, mode, exclusivity, and the give-up when every name is taken."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lltd.fs import destination
from lltd.fs.destination import TEMP_SUFFIX, new_temporary


def test_a_temporary_is_an_empty_private_dotfile_beside_its_destination(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "photo.webp"
    target.parent.mkdir()
    first, second = Path(new_temporary(target)), Path(new_temporary(str(target)))
    assert first != second
    for temp in (first, second):
        assert temp.parent == target.parent
        assert re.fullmatch(r"\.photo\.webp\.[0-9a-f]{12}\.lltd-tmp", temp.name), temp.name
        assert temp.is_file() and not temp.is_symlink() and temp.stat().st_size == 0
        assert temp.stat().st_mode & 0o777 == 0o600
    assert TEMP_SUFFIX == ".lltd-tmp" and not target.exists()


def test_a_taken_name_is_never_reused_and_after_100_tries_it_gives_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.png"
    taken = tmp_path / f".a.png.{'00' * 6}.lltd-tmp"
    taken.write_bytes(b"someone's")
    draws: list[int] = []

    def always_zero(count: int) -> bytes:
        draws.append(count)
        return bytes(count)

    monkeypatch.setattr(destination.os, "urandom", always_zero)
    with pytest.raises(FileExistsError) as caught:
        new_temporary(target)
    assert str(caught.value) == f"no free temporary name beside {target}"
    assert draws == [6] * 100 and taken.read_bytes() == b"someone's"
    monkeypatch.undo()
    assert Path(new_temporary(target)) != taken
