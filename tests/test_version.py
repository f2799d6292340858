"""lltd's version: the installed package's metadata, else the pyproject.toml beside the package
(a source checkout run without installing), else "0+unknown"; read once per process.

The fallback is run from a copy of lltd/common/version.py in a tree of its own, by an interpreter
that sees no installed packages (``-I -S``): no lltd metadata is found there, as in a checkout
that was never installed."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lltd
from lltd.common import version as version_module

REPO = Path(__file__).resolve().parents[1]

#: Loads the copied module by path (no package import: nothing installed is needed) and prints
#: version() twice, rewriting pyproject.toml in between when it exists.
_SCRIPT = """
import importlib.util, sys
from pathlib import Path
root = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("v", root / "lltd" / "common" / "version.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.version())
pyproject = root / "pyproject.toml"
if pyproject.is_file():
    pyproject.write_text('version = "9.9.9"\\n')
print(module.version())
"""


def _uninstalled_checkout(root: Path, pyproject: str | None) -> list[str]:
    """Copy version.py into ``root``/lltd/common, write ``pyproject`` beside the package, and
    return what version() printed, twice, in a process with no installed packages."""
    (root / "lltd" / "common").mkdir(parents=True)
    (root / "lltd" / "common" / "version.py").write_bytes(
        Path(version_module.__file__).read_bytes()
    )
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    shown = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _SCRIPT, str(root)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return shown.stdout.splitlines()


def test_an_installed_lltd_reports_its_metadata_version() -> None:
    try:
        installed = importlib.metadata.version("lltd")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("lltd is not installed in this environment")
    version_module.version.cache_clear()
    assert version_module.version() == installed == lltd.__version__


def test_the_metadata_wins_over_a_pyproject_that_says_otherwise(tmp_path: Path) -> None:
    """An installed lltd whose module sits beside another project's pyproject.toml still
    reports the installed version (the copy runs with site-packages, so it finds lltd's)."""
    try:
        installed = importlib.metadata.version("lltd")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("lltd is not installed in this environment")
    (tmp_path / "lltd" / "common").mkdir(parents=True)
    copy = tmp_path / "lltd" / "common" / "version.py"
    copy.write_bytes(Path(version_module.__file__).read_bytes())
    (tmp_path / "pyproject.toml").write_text('version = "0.0.0-not-this"\n')
    shown = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert shown.stdout.splitlines() == [installed, installed]


def test_a_checkout_never_installed_reads_the_version_line_of_its_pyproject(
    tmp_path: Path,
) -> None:
    pyproject = '[project]\nname = "lltd"\nrequires-version = "3"\nversion = "4.5.6rc1"\n'
    assert _uninstalled_checkout(tmp_path, pyproject)[0] == "4.5.6rc1"


def test_the_version_is_read_once_per_process(tmp_path: Path) -> None:
    first, second = _uninstalled_checkout(tmp_path, 'version = "1.2.3"\n')
    assert (first, second) == ("1.2.3", "1.2.3")


def test_only_a_version_line_of_its_own_counts_not_a_key_ending_in_version(
    tmp_path: Path,
) -> None:
    pyproject = 'target-version = "py311"\nmin_version = "2"\n'
    assert _uninstalled_checkout(tmp_path, pyproject)[0] == "0+unknown"


def test_a_checkout_without_pyproject_reports_0_unknown(tmp_path: Path) -> None:
    assert _uninstalled_checkout(tmp_path, None) == ["0+unknown", "0+unknown"]


def test_an_unreadable_pyproject_reports_0_unknown(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").mkdir()  # reading a folder fails with an OSError
    assert _uninstalled_checkout(tmp_path, None)[0] == "0+unknown"


def test_the_checkouts_own_pyproject_and_the_package_agree() -> None:
    declared = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert declared is not None and lltd.__version__ == declared.group(1)
