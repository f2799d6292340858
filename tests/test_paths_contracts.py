"""lltd's cache folder (``lltd.fs.paths.cache_dir``): where the located cwebp copy and the
reference model's weights live. The order is the XDG base-directory one, with lltd's own
variable first."""

from __future__ import annotations

from pathlib import Path

import pytest

from lltd.fs.paths import cache_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LLTD_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home"


def test_without_variables_the_cache_is_dot_cache_lltd_in_the_home_folder(home: Path) -> None:
    assert cache_dir() == home / ".cache" / "lltd"


def test_xdg_cache_home_replaces_dot_cache(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert cache_dir() == Path("/var/cache/someone/lltd")


def test_an_empty_xdg_cache_home_counts_as_unset(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_dir() == home / ".cache" / "lltd"


def test_lltd_cache_dir_is_the_folder_itself_and_wins_over_xdg(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    monkeypatch.setenv("LLTD_CACHE_DIR", "/srv/lltd-cache")
    assert cache_dir() == Path("/srv/lltd-cache")  # no "lltd" added below it


def test_an_empty_lltd_cache_dir_counts_as_unset(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLTD_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/someone")
    assert cache_dir() == Path("/var/cache/someone/lltd")
