"""The light install: every command answers, and a feature whose extra is missing says which
extra to install in one line (exit status 2), never with a traceback.

The light venv is real rather than simulated: a ``python -m venv`` without system site-packages
into which only lltd's base dependencies (Pillow, typer, watchdog, webptools and what they require,
markers evaluated for this machine) are linked from the development venv. ``import torch`` there
fails exactly as on a user's light install, and a light-path module that quietly imported numpy
(an ``attack`` dependency) would fail here too. Linking needs no network and takes about a second.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from importlib.metadata import distribution
from pathlib import Path

import pytest
from conftest import REPO, SAMPLE_DATA, guarded_pythonpath
from packaging.requirements import Requirement

BASE_DEPENDENCIES = ("Pillow", "typer", "watchdog", "webptools")
HEAVY = (
    *("torch", "torchvision", "foolbox", "numpy", "dask", "distributed", "fsspec", "matplotlib"),
    *("starlette", "uvicorn"),
)


def _closure(names: tuple[str, ...]) -> list:
    """The installed distributions of ``names`` and their runtime requirements, recursively."""
    found: dict[str, object] = {}
    todo = [Requirement(name) for name in names]
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        dist = distribution(requirement.name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        todo += [Requirement(text) for text in dist.requires or ()]
    return list(found.values())


@pytest.fixture(scope="session")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("light") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    ours = Path(sysconfig.get_paths()["purelib"])
    for dist in _closure(BASE_DEPENDENCIES):
        tops = {Path(str(file)).parts[0] for file in dist.files or ()}
        for top in tops - {"..", "__pycache__"}:
            if (ours / top).exists() and not (site / top).exists():
                (site / top).symlink_to(ours / top)
    return python


def run_light(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRT"))
    }
    env |= {
        "PYTHONPATH": guarded_pythonpath(REPO),
        "LLTD_CACHE_DIR": str(cwd / ".cache"),
        "LLTD_SCHEDULER": "",
    }
    return subprocess.run(
        [python, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_light_venv_has_no_extra(light_python: Path, tmp_path: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    found = run_light(light_python, tmp_path, "-c", probe, *HEAVY, "PIL", "typer", "webptools")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "['PIL', 'typer', 'webptools']"


def test_light_install_defends_and_reports_its_version(light_python: Path, tmp_path: Path) -> None:
    done = run_light(light_python, tmp_path, "-m", "lltd", "defend", str(SAMPLE_DATA), "-o", "out")
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").rglob("*.png"))) >= 8
    shown = run_light(light_python, tmp_path, "-m", "lltd", "--version")
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert shown.returncode == 0
    assert shown.stdout == f"lltd {version.group(1)}\n"


@pytest.mark.parametrize(
    ("args", "extra", "feature"),
    [
        (("attack", "{data}", "-o", "adv", "--model", "reference"), "attack", "lltd attack"),
        (("evaluate", "--model", "reference", "-o", "report"), "evaluate", "lltd evaluate"),
        (("defend", "{data}", "-o", "out", "--scheduler", "local"), "dask", "--scheduler"),
        (("compress", "file://{data}", "-o", "out"), "dask", "scheme:// URL"),
        (("flip", "{data}", "-o", "file://{tmp}/flipped"), "dask", "scheme:// URL"),
        (("serve", "--port", "0"), "serve", "lltd serve"),
    ],
    ids=["attack", "evaluate", "scheduler-local", "file-url-input", "file-url-output", "serve"],
)
def test_missing_extra_is_one_line_naming_it(
    light_python: Path, tmp_path: Path, args: tuple[str, ...], extra: str, feature: str
) -> None:
    filled = [arg.format(data=SAMPLE_DATA, tmp=tmp_path) for arg in args]
    result = run_light(light_python, tmp_path, "-m", "lltd", *filled)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # compress first says where the images will go (an informational line, not an lltd: one).
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("lltd")]
    assert line.startswith("lltd: error: ")
    assert f"needs the '{extra}' extra" in line
    assert f"'.[{extra}]'" in line
    assert feature in line


def test_lltd_torch_import_error_names_the_extra(light_python: Path, tmp_path: Path) -> None:
    code = (
        "try:\n    from lltd.torch import WebPFlip\n"
        "except ImportError as exc:\n    print(type(exc).__name__, exc)\n"
    )
    result = run_light(light_python, tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError lltd.torch needs the 'attack' extra")
    assert re.search(r"\((numpy|torch) is not installed\)", result.stdout)


@pytest.mark.parametrize(
    ("module", "command", "extra"),
    [
        ("torch", "attack", "attack"),
        ("torch", "evaluate", "evaluate"),  # evaluate's extra includes attack's modules
        ("skimage", "attack", "evaluate"),  # attack --model reference needs scikit-image
        ("distributed.client", "defend", "dask"),
        ("uvicorn", "serve", "serve"),
        ("prometheus_client", "serve", "serve"),
        ("prometheus_client", "watch", "metrics"),  # watch --metrics-port
        ("efficientnet_lite_pytorch", "evaluate", "imagenet"),
        ("PIL", "defend", None),  # a base dependency: a broken install, not a missing extra
    ],
)
def test_extra_for_names_the_extra_that_installs_the_module(module, command, extra) -> None:
    from lltd.common.extras import extra_for

    assert extra_for(module, command) == extra
