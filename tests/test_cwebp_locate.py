"""lltd.codecs.cwebp_locate: which cwebp runs (``--cwebp``, then ``$LLTD_CWEBP``, then
``$PATH``; only an executable regular file counts) and the one line a failed cwebp is reported
by."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lltd.codecs.cwebp_locate import cwebp_on_path, explicit_cwebp, failure_reason
from lltd.common.errors import UsageError


def _program(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_explicit_wins_over_the_environment(tmp_path: Path, monkeypatch) -> None:
    mine, theirs = _program(tmp_path / "a" / "cwebp"), _program(tmp_path / "b" / "cwebp")
    monkeypatch.setenv("LLTD_CWEBP", str(theirs))
    assert explicit_cwebp(mine) == str(mine)
    assert explicit_cwebp(None) == str(theirs)
    monkeypatch.delenv("LLTD_CWEBP")
    assert explicit_cwebp(None) is None


CASES = [
    (origin, what)
    for origin in ("--cwebp", "LLTD_CWEBP")
    for what in ("not executable", "a folder", "missing", "a NUL")
    if (origin, what) != ("LLTD_CWEBP", "a NUL")  # an environment variable holds no NUL
]


@pytest.mark.parametrize(("origin", "what"), CASES)
def test_only_an_executable_regular_file_is_taken_and_the_refusal_names_where_it_came_from(
    tmp_path: Path, monkeypatch, origin: str, what: str
) -> None:
    path = {
        "not executable": str(_program(tmp_path / "cwebp", 0o644)),
        "a folder": str(tmp_path),  # a folder has its x bits: not a program all the same
        "missing": str(tmp_path / "nothing"),
        "a NUL": "cw\0ebp",
    }[what]
    if origin == "--cwebp":
        monkeypatch.delenv("LLTD_CWEBP", raising=False)
        explicit: str | None = path
    else:
        monkeypatch.setenv("LLTD_CWEBP", path)
        explicit = None
    with pytest.raises(UsageError) as refused:
        explicit_cwebp(explicit)
    assert str(refused.value) == f"{origin}: {path} is not an executable file"


def test_path_is_searched_in_order_for_an_executable_regular_file(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "dir" / "cwebp").mkdir(parents=True)  # a folder named cwebp: skipped
    _program(tmp_path / "plain" / "cwebp", 0o644)  # not executable: skipped
    found = _program(tmp_path / "bin" / "cwebp")
    _program(tmp_path / "later" / "cwebp")
    folders = [tmp_path / "none", tmp_path / "dir", tmp_path / "plain", found.parent]
    monkeypatch.setenv("PATH", os.pathsep.join(map(str, [*folders, tmp_path / "later"])))
    assert cwebp_on_path() == str(found)
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert cwebp_on_path() is None


def test_an_empty_path_entry_is_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    _program(tmp_path / "cwebp")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", os.pathsep + str(tmp_path / "none"))
    assert cwebp_on_path() == os.path.join(os.curdir, "cwebp")


@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        ("Saving file 'x'\nError! Could not process file a\nError! Cannot encode\nDone\n",
         "Error! Cannot encode"),
        ("  first ERROR here  \nlast line\n", "first ERROR here"),
        ("no problem named\n  the last words  \n\n", "the last words"),
        ("only one line", "only one line"),
        ("", "exit status 3"),
        (" \n\t\n", "exit status 3"),
    ],
)  # fmt: skip
def test_a_failure_is_reported_by_its_last_error_line_else_its_last_line(
    stderr: str, reason: str
) -> None:
    assert failure_reason(stderr, 3) == reason
