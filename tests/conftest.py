"""Shared fixtures: real sample images, the real CLI as a subprocess, the seed data when present."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
SEED_DATA = REPO.parent / "shared" / "seed-data"

#: Every Python process the tests start loads tests/guard/sitecustomize.py, which refuses to delete
#: anything outside the system's temporary folder (where pytest's tmp_path lives) and the system
#: tests' root file system cache: a broken guard in lltd fails a test instead of deleting a home
#: folder or this checkout.
GUARD = Path(__file__).resolve().parent / "guard"
DELETABLE = (
    tempfile.gettempdir(),
    "/var/tmp",  # the system tests' guest layers (overlayfs wants short, option-safe paths)
    os.environ.get("LLTD_SYSTEST_CACHE", "/var/cache/lltd-systest"),
)


def guarded_pythonpath(*paths: str | os.PathLike[str]) -> str:
    """A ``PYTHONPATH`` for a subprocess that replaces the suite's: the guard first, then
    ``paths``. Every process a test starts must keep the guard (see :func:`_check_guarded`)."""
    return os.pathsep.join(dict.fromkeys([str(GUARD), *map(str, paths)]))


def _check_guarded(event: str, args: tuple) -> None:
    """An audit hook on every process the suite starts: one whose environment comes from the
    suite's (it names the deletable folders) but whose ``PYTHONPATH`` dropped the guard would run
    lltd unguarded, so it is refused before it starts. (Environments built from nothing, as the
    system tests' guest commands use, run nothing of this checkout on the host.)"""
    if event != "subprocess.Popen":
        return
    env = args[3] if args[3] is not None else os.environ
    try:
        derived = "LLTD_TEST_DELETABLE" in env
        pythonpath = env.get("PYTHONPATH") or ""
    except TypeError:  # a bytes-keyed environment
        return
    if derived and str(GUARD) not in str(pythonpath).split(os.pathsep):
        raise RuntimeError(
            f"a test started {args[1]!r} without the deletion guard on PYTHONPATH "
            "(build it with conftest.guarded_pythonpath)"
        )


def pytest_configure(config: pytest.Config) -> None:
    os.environ["PYTHONPATH"] = guarded_pythonpath(
        *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))
    )
    os.environ["LLTD_TEST_DELETABLE"] = os.pathsep.join(DELETABLE)
    if not getattr(sys, "_lltd_guard_hook", False):  # audit hooks cannot be removed: add once
        sys.addaudithook(_check_guarded)
        sys._lltd_guard_hook = True  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def _tool_caches_in_the_session_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    """Tools' own caches and scratch folders (dask workers' scratch space, torch's compile cache,
    pip's wheel cache, matplotlib's config) go into the session's temporary folder: a test
    writes nothing to $HOME, nor to the system's temporary folder outside pytest's."""
    root = tmp_path_factory.mktemp("tool-caches")
    names = ("DASK_TEMPORARY_DIRECTORY", "TORCHINDUCTOR_CACHE_DIR", "PIP_CACHE_DIR", "MPLCONFIGDIR")
    with pytest.MonkeyPatch.context() as patch:
        for name in names:
            if name not in os.environ:
                patch.setenv(name, str(root / name.lower()))
        if "dask" in sys.modules:  # dask read its environment when it was imported
            import dask

            dask.config.refresh()
        yield


@pytest.fixture(scope="session", autouse=True)
def _progress_lines_only_where_asked() -> Iterator[None]:
    """Off a terminal lltd prints a progress line every 10 s (lltd.common.progress); on a loaded
    machine any run may pass that mark, and tests reading stderr line by line would then see
    lines they did not ask for. The tests of those lines set LLTD_PROGRESS_INTERVAL themselves."""
    with pytest.MonkeyPatch.context() as patch:
        if "LLTD_PROGRESS_INTERVAL" not in os.environ:
            patch.setenv("LLTD_PROGRESS_INTERVAL", "1e9")
        yield


@pytest.fixture(autouse=True)
def _environment_as_it_was() -> Iterator[None]:
    """In-process code sets variables for the processes it starts (the watch pool's
    ``PYTHONWARNINGS``, serve's ``PROMETHEUS_MULTIPROC_DIR``, ``OMP_WAIT_POLICY``): each test
    leaves ``os.environ`` as it found it, so no later test's subprocess inherits them. (After
    test_watch_pool_drain, every daemon started with ``-W ignore:resource_tracker:...`` in its
    workers' command lines: the test order decided what a test saw.)"""
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _no_rmtree_outside_temp(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process code under test (clean_output_directory, storage cleaners) gets the guard too."""
    from guard.sitecustomize import _guard

    if not hasattr(shutil.rmtree, "__wrapped__"):
        monkeypatch.setattr(shutil, "rmtree", _guard(shutil.rmtree, "rmtree", single=False))


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    """A private copy of sample_data/ (names with spaces and an apostrophe, a subfolder)."""
    target = tmp_path / "images"
    shutil.copytree(SAMPLE_DATA, target)
    return target


@pytest.fixture
def seed_data() -> Path:
    if not SEED_DATA.is_dir():
        pytest.skip(f"seed data not present at {SEED_DATA} (only in the development checkout)")
    return SEED_DATA


RunLltd = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_lltd(tmp_path: Path) -> RunLltd:
    """Run the real command line (``python -m lltd``) and capture its output."""

    def run(
        *args: str | os.PathLike[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "LLTD_CACHE_DIR": str(tmp_path / ".lltd-cache"), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "lltd", *map(str, args)],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def assert_one_line_error(stderr: str, *needles: str) -> None:
    """The error is one line naming what it must, and no traceback reached the user."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if all(n in line for n in needles)]
    assert lines, f"no line with {needles} in:\n{stderr}"


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., Path]:
    """Write a deterministic image of the given mode and size: ``make_image(path, mode, size)``."""
    import numpy as np
    from PIL import Image

    def make(path: Path, mode: str = "RGB", size: tuple[int, int] = (48, 40), **save) -> Path:
        # crc32, not hash(): str hashes change from one process to the next.
        rng = np.random.default_rng(zlib.crc32(f"{path.name}\0{mode}".encode()))
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = ((xx * 5 + yy * 3) % 256).astype(np.uint8)
        noise = rng.integers(0, 16, (h, w), dtype=np.uint8)
        base = smooth + noise
        if mode == "RGB":
            image = Image.fromarray(np.dstack([base, base[::-1], np.roll(base, 7, 1)]))
        elif mode == "RGBA":
            alpha = np.full((h, w), 255, np.uint8)
            alpha[: h // 3] = 128
            image = Image.fromarray(
                np.dstack([base, base[::-1], base.T[:h, :w] if h == w else base, alpha]), "RGBA"
            )
        elif mode == "L":
            image = Image.fromarray(base, "L")
        elif mode == "I;16":
            image = Image.fromarray(base.astype(np.uint16) * 257)
        else:
            image = Image.fromarray(np.dstack([base, base[::-1], base]), "RGB").convert(mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, **save)
        return path

    return make


#: Python prints every import to stderr: the light commands must not load the heavy stack.
IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}
HEAVY = {"torch", "torchvision", "foolbox", "dask", "distributed", "matplotlib", "skimage"}


def heavy_imports(stderr: str) -> set[str]:
    names = {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line}
    assert "lltd" in names  # the import log really is there
    return {name for name in names if name.split(".")[0] in HEAVY}


@pytest.fixture(scope="session")
def reference_cache(tmp_path_factory: pytest.TempPathFactory):
    """One trained reference model for the whole session, in ``$LLTD_CACHE_DIR`` (set
    ``LLTD_TEST_CACHE_DIR`` to keep it between runs; else it trains, 2-3 min on 2 cores)."""
    pytest.importorskip("torch")
    from lltd.evaluate import reference

    folder = os.environ.get("LLTD_TEST_CACHE_DIR") or str(tmp_path_factory.mktemp("lltd-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLTD_CACHE_DIR", folder)
        reference.load_reference_model()  # trains when this code's weights are not cached
        yield Path(folder)


@pytest.fixture(scope="session")
def reference_model(reference_cache: Path):
    from lltd.evaluate import reference

    return reference.load_reference_model(train_if_missing=False)


@pytest.fixture(scope="module")
def reference_slice(reference_model):
    """The reference CNN and 24 of its test images, 2 per class (for the adaptive attacks)."""
    from lltd.evaluate import reference

    images, labels = reference.reference_dataset("test")
    return reference_model, images[::12], labels[::12]


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (attack results do not depend on the thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def systemd_exposure(unit: str) -> str:
    """``systemd-analyze security --offline=true UNIT`` (a path relative to the checkout): the
    overall exposure figure it prints, e.g. ``"2.2"``."""
    import re

    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", unit],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    measured = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert measured, result.stdout[-2000:] + result.stderr[-2000:]
    return measured[1]
