"""File names as long as the file system takes (255 bytes): an input may have one.

lltd writes every output through a temporary ``.NAME.TOKEN.lltd-tmp``: for a 250-byte name
that was 274 bytes, no name at all, and every such file failed with "internal error: OSError:
File name too long", its copy to failed/ included.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from PIL import Image

from lltd.fs.destination import NAME_MAX, TEMP_SUFFIX, temporary_name


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.radial_gradient("L").resize((16, 16)).save(path, "PNG")
    return path


@pytest.mark.parametrize(
    "name",
    ["a.png", "a" * 246 + ".png", "é" * 125 + ".png", os.fsdecode(b"\xff" * 250 + b".png")],
    ids=["short", "250 bytes", "250 bytes of UTF-8", "250 bytes, not UTF-8"],
)
def test_a_temporary_name_fits_where_its_destination_fits(name: str) -> None:
    temp = temporary_name(name, "0a1b2c3d4e5f")
    assert len(os.fsencode(temp)) <= NAME_MAX
    assert temp.startswith(".") and temp.endswith(f".0a1b2c3d4e5f{TEMP_SUFFIX}")
    if len(os.fsencode(name)) + 24 <= NAME_MAX:
        assert temp == f".{name}.0a1b2c3d4e5f{TEMP_SUFFIX}"  # short names keep the full name


def test_defend_writes_the_output_of_a_250_byte_name(tmp_path: Path, run_lltd) -> None:
    name = "a" * 246 + ".png"
    picture(tmp_path / "in" / name)
    result = run_lltd("defend", tmp_path / "in", "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / name).is_file()
    assert not [n for n in os.listdir(tmp_path / "out") if n.endswith(TEMP_SUFFIX)]


def test_an_output_name_past_255_bytes_fails_in_one_line_and_the_input_is_set_aside(
    tmp_path: Path, run_lltd
) -> None:
    name = "a" * 250 + ".png"  # its flip, "..._f.png", would be 256 bytes
    source = picture(tmp_path / "in" / name)
    result = run_lltd("flip", tmp_path / "in", "-o", tmp_path / "out")
    assert result.returncode == 1, result.stderr
    assert_one_line_error(
        result.stderr, name, "its output's name is longer than the file system takes (255 bytes)"
    )
    assert "internal error" not in result.stderr
    assert (tmp_path / "out" / "failed" / name).read_bytes() == source.read_bytes()
