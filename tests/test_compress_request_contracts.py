"""lltd/cli/lean/compress_request.py: the one table both ``lltd compress`` parsers read. Its
option names are the interface scripts call (webp-converter 4.1's names and cwebp's), its
defaults are the documented ones (docs/guide/batch-conversion.md), and its bounds are the
documented ranges: each pinned here, and each name shown to reach its field through the lean
parser, in-process."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lltd.cli.lean.compress_argv import KIND, parse
from lltd.cli.lean.compress_request import NAMES, RANGES, CompressRequest

DOCUMENTED_NAMES = {
    "quality": ("-q", "--q", "--quality", "--quality-ratio"),
    "output_directory": ("-o", "--output-directory"),
    "ignore_transparency_image": ("--ignore-transparency-image",),
    "replace": ("--r",),
    "clean": ("--c",),
    "ignore_filename_match": ("--ignore-filename-match",),
    "method": ("-m", "--method"),
    "lossless": ("-lossless", "--lossless"),
    "alpha_q": ("-alpha_q", "--alpha-q"),
    "exact": ("-exact", "--exact"),
    "metadata": ("-metadata", "--metadata"),
    "sharp_yuv": ("-sharp_yuv", "--sharp-yuv"),
    "preset": ("-preset", "--preset"),
    "backend": ("--backend",),
    "cwebp": ("--cwebp",),
    "auto_orient": ("--auto-orient",),
    "reason_files": ("--reason-files",),
    "jobs": ("-j", "--jobs"),
    "max_pixels": ("--max-pixels",),
    "max_bytes": ("--max-bytes",),
    "json_report": ("--json",),
    "quiet": ("--quiet",),
    "debug": ("--debug",),
    "dry_run": ("--dry-run",),
}

DOCUMENTED_DEFAULTS = {
    "directory": ".",  # DIR: the current directory
    "quality": 100.0,  # 100: lossless, as -lossless -q 100
    "output_directory": None,  # ./webp-converted/
    "ignore_transparency_image": False,
    "replace": False,
    "clean": False,
    "ignore_filename_match": None,
    "method": 4,  # cwebp's -m default
    "lossless": False,
    "alpha_q": 100,  # cwebp's -alpha_q default
    "exact": False,
    "metadata": "none",  # cwebp's -metadata default
    "sharp_yuv": False,
    "preset": None,
    "backend": "pillow",
    "cwebp": None,
    "auto_orient": False,
    "reason_files": False,  # no NAME.error.txt unless asked, as webp-converter
    "cwebp_args": (),
    "jobs": 0,  # all cores
    "max_pixels": 89_478_485,  # Pillow's decompression-bomb limit
    "max_bytes": 1 << 30,  # 1 GiB
    "json_report": None,
    "quiet": False,
    "debug": False,
    "scheduler": None,
    "dry_run": False,
}


def test_the_option_names_are_the_documented_interface() -> None:
    assert NAMES == DOCUMENTED_NAMES


def test_the_defaults_are_the_documented_ones() -> None:
    assert dataclasses.asdict(CompressRequest()) == DOCUMENTED_DEFAULTS


def test_the_bounds_are_the_documented_ranges() -> None:
    assert RANGES == {
        "quality": (0, 100),
        "alpha_q": (0, 100),
        "method": (0, 6),
        "jobs": (0, None),
        "max_pixels": (1, None),
        "max_bytes": (1, None),
    }


def test_a_request_cannot_be_changed_once_made() -> None:
    request = CompressRequest()
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.quality = 60.0  # type: ignore[misc]


SAMPLE = {"bool": None, "int": "3", "float": "3", "str": "x", "Path": "r.json"}


@pytest.mark.parametrize(("field", "name"), [(f, n) for f, ns in NAMES.items() for n in ns])
def test_each_name_reaches_its_field_through_the_lean_parser(
    field: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = SAMPLE[KIND[field]]
    request = parse([name] if text is None else [name, text], {})
    assert request is not None
    value = {"bool": True, "int": 3, "float": 3.0, "str": "x", "Path": Path("r.json")}[KIND[field]]
    assert dataclasses.replace(CompressRequest(), **{field: value}) == request
