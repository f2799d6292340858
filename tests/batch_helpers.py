"""Helpers shared by the batch layer's contract tests (command, pipeline, prepare)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from lltd.batch import prepare


@pytest.fixture(autouse=True)
def released_locks() -> Iterator[None]:
    """A real run holds its folders' locks for the process's life (``prepare._HELD``); here a
    test's end is that life, so the next test may plan the same folders again."""
    yield
    prepare._HELD.close()


def picture(path: Path, colour: tuple[int, int, int] = (200, 10, 10)) -> Path:
    """A 4x3 PNG of one colour at ``path`` (its folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), colour).save(path)
    return path
