"""Fixtures for the system tests: a cached root file system and a booted guest."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .machine import Machine, unavailable_reason
from .rootfs import cached_rootfs, ensure_rootfs
from .wheels import dependency_wheels, project_wheel

PROJECT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    slots = [index for index, item in enumerate(items) if here in Path(item.path).parents]
    for index in slots:
        items[index].add_marker(pytest.mark.systemd)
    # The tests of one module run in order against one booted guest (ready, use, watchdog, stop):
    # a random order (tests/load.sh, pytest-randomly, which reorders before this hook) may move
    # the modules, never the tests within one.
    first: dict[Path, int] = {}
    for index in slots:
        first.setdefault(Path(items[index].path), index)
    ordered = sorted(
        (items[index] for index in slots),
        key=lambda item: (first[Path(item.path)], item.location[1] or 0),
    )
    for index, item in zip(slots, ordered, strict=True):
        items[index] = item


@pytest.fixture(scope="session")
def rootfs() -> Path:
    reason = unavailable_reason()
    if reason is None and not cached_rootfs().exists() and shutil.which("debootstrap") is None:
        reason = "debootstrap is not installed and no root file system is cached"
    if reason is not None:
        pytest.skip(f"cannot boot systemd here: {reason}")
    return ensure_rootfs()


@pytest.fixture(scope="session")
def lltd_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """lltd's wheel (from the working tree) and its runtime dependencies' wheels."""
    deps = dependency_wheels(PROJECT)
    own = project_wheel(PROJECT, tmp_path_factory.mktemp("lltd-wheel"))
    return [own, *sorted(deps.glob("*.whl"))]


@contextmanager
def booted(rootfs: Path) -> Iterator[Machine]:
    """A booted guest, killed and cleaned up on the way out, pass or fail."""
    # Not under pytest's tmp_path: overlay needs option-safe paths, and the
    # writable layer is removed at teardown anyway.
    workdir = Path(tempfile.mkdtemp(prefix="lltd-systest-", dir="/var/tmp")) / "guest"
    try:
        guest = Machine.boot(rootfs, workdir)
        try:
            yield guest
        finally:
            guest.shutdown()
    finally:
        shutil.rmtree(workdir.parent, ignore_errors=True)


@pytest.fixture
def machine(rootfs: Path) -> Iterator[Machine]:
    with booted(rootfs) as guest:
        yield guest
