"""The watch worker removes an input from IN only once its output is complete, checked at the
moment of the removal (the end state alone cannot tell the order apart)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lltd.batch.scan import Task
from lltd.jobs.defend import DefendJob
from lltd.watch.worker import WorkItem, process


def small_png(path: Path) -> bytes:
    pixels = np.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def complete_image(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, ValueError):
        return False
    return True


@pytest.mark.parametrize("on_success", ["move", "delete"])
def test_the_input_leaves_in_only_after_its_output_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_success: str
) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    source, output = inp / "sub" / "a.png", out / "sub" / "a.png"
    small_png(source)
    removals: list[tuple[str, bool]] = []

    def watched(name: str, real):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            had_input, output_ready = source.exists(), complete_image(output)
            result = real(*args, **kwargs)
            if had_input and not source.exists():
                removals.append((name, output_ready))
            return result

        return call

    for module, name in ((os, "rename"), (os, "replace"), (os, "unlink"), (os, "remove")):
        monkeypatch.setattr(module, name, watched(name, getattr(module, name)))
    monkeypatch.setattr(shutil, "move", watched("move", shutil.move))

    done = process(
        WorkItem(
            job=DefendJob(output_dir=out, force=True),  # type: ignore[arg-type]
            task=Task(source=source, relative=Path("sub/a.png")),
            on_success=on_success,
            state_dir=inp / ".lltd",
            quarantine_dir=out / "failed",
        )
    )
    assert done.result.outcome.value == "converted"
    assert not source.exists() and complete_image(output)
    assert removals, "the input's removal was not seen"
    assert all(ready for _, ready in removals), removals  # the output was whole before
