"""Invariants checked on generated inputs (Hypothesis) rather than on a few chosen examples.

The planner and ``--r`` properties run the real command line on generated folders, so they hold
whatever planner lltd uses inside; they keep the number of examples small because each one is a
few subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import digest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

import lltd  # noqa: E402

# Subprocess examples: no deadline (the machine may be busy), few examples, no example database
# written into the checkout.
CLI = settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FAST = settings(max_examples=40, deadline=None, database=None)

shapes = st.tuples(st.integers(1, 33), st.integers(1, 33))
images = st.one_of(
    shapes.flatmap(lambda hw: arrays(np.uint8, (*hw, 3))),
    shapes.flatmap(lambda hw: arrays(np.uint8, (*hw, 4))),
    shapes.flatmap(lambda hw: arrays(np.uint8, hw)),
)


@FAST
@given(images, st.sampled_from(["horizontal", "vertical"]))
def test_flipping_twice_is_the_identity(pixels: np.ndarray, direction: str) -> None:
    image = Image.fromarray(pixels)
    once = lltd.flip(image, direction)
    assert np.array_equal(np.asarray(lltd.flip(once, direction)), pixels)
    axis = 1 if direction == "horizontal" else 0
    assert np.array_equal(np.asarray(once), np.flip(pixels, axis))


@FAST
@given(
    images,
    st.integers(1, 100),
    st.sampled_from(["horizontal", "vertical"]),
    st.sampled_from(["webp-flip", "flip-webp"]),
)
def test_defend_keeps_size_and_channels(
    pixels: np.ndarray, quality: int, direction: str, order: str
) -> None:
    defended = lltd.defend(pixels, quality=quality, flip=direction, order=order)
    assert isinstance(defended, np.ndarray)
    assert defended.shape == pixels.shape and defended.dtype == np.uint8
    image = Image.fromarray(pixels)
    as_pil = lltd.defend(image, quality=quality, flip=direction, order=order)
    # PIL images come back RGB or RGBA (WebP's modes): gray becomes RGB, alpha is kept.
    assert as_pil.size == image.size
    assert as_pil.mode == ("RGBA" if image.mode == "RGBA" else "RGB")


# --- generated folders through the real command line -------------------------------------------

STEMS = ["a", "A", "a.png", "a.jpg", "b", "a_f"]
EXTENSIONS = [".png", ".jpg", ".jpeg", ".PNG", ".JPG"]
names = st.lists(
    st.tuples(st.sampled_from(["", "sub/"]), st.sampled_from(STEMS), st.sampled_from(EXTENSIONS)),
    min_size=1,
    max_size=6,
    unique=True,
)


def populate(root: Path, entries: list[tuple[str, str, str]]) -> dict[Path, bytes]:
    """Small flat images, each of its own colour (so every input's content is distinct)."""
    contents: dict[Path, bytes] = {}
    for index, (folder, stem, ext) in enumerate(entries):
        path = root / f"{folder}{stem}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        colour = (40 * index % 256, 255 - 30 * index % 256, 90)
        image = Image.new("RGB", (24, 16), colour)
        image.save(path, format="JPEG" if ext.lower() in (".jpg", ".jpeg") else "PNG", quality=95)
        contents[path] = path.read_bytes()
    return contents


def lltd_run(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lltd", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LLTD_CACHE_DIR": str(cwd / ".cache")},
    )


def records(report: Path) -> list[dict]:
    return json.loads(report.read_text())["files"]


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@CLI
@given(names, st.sampled_from(["compress", "defend", "flip"]), st.booleans())
def test_the_planner_never_maps_two_inputs_to_one_output_nor_onto_an_input(
    entries: list[tuple[str, str, str]], command: str, output_inside_input: bool
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        tmp = Path(temporary)
        root = tmp / "in"
        contents = populate(root, entries)
        out = root / "defended" if output_inside_input and command == "compress" else tmp / "out"
        quality = [] if command == "flip" else ["-q", "60"]
        result = lltd_run(command, root, "-o", out, *quality, "--json", tmp / "r.json", cwd=tmp)
        assert result.returncode == 0, result.stderr
        files = records(tmp / "r.json")
        inputs = {r["input"] for r in files}
        if command == "flip":  # `x_f.png` beside `x.png` is x's flip, not an input
            assert inputs == {str(p) for p in contents if not p.stem.endswith("_f")} | (
                {str(p) for p in contents if p.stem.endswith("_f")} & inputs
            )
        else:
            assert inputs == {str(p) for p in contents}
        outputs = [r["output"] for r in files if r["outcome"] != "larger" and r["output"]]
        assert len(outputs) == len(set(outputs)), outputs
        assert not set(outputs) & {str(p) for p in contents}
        for path, data in contents.items():  # no input was touched
            assert path.read_bytes() == data
        for output in outputs:  # every output is whole and is its own input's
            Image.open(output).load()


@pytest.mark.parametrize("cut_short", [False, True], ids=["one run", "cut short and rerun"])
@CLI
@given(entries=names)
def test_replace_never_deletes_an_original_without_a_decodable_replacement_made_from_it(
    entries: list[tuple[str, str, str]], cut_short: bool
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        tmp = Path(temporary)
        root = tmp / "in"
        contents = populate(root, entries)
        pixels = {path: decoded(path) for path in contents}
        digests = {path: digest(path) for path in contents}
        runs = [["--ignore-filename-match", "*.png"], []] if cut_short else [[]]
        replacements: dict[Path, Path] = {}
        # Quality 100 is lossless: a replacement made from its original decodes to its pixels.
        # Cut short: a first run leaves the PNGs, as an interrupted one would; a rerun finishes.
        for index, extra in enumerate(runs):
            report = tmp / f"r{index}.json"
            result = lltd_run("compress", root, "--r", *extra, "--json", report, cwd=tmp)
            assert result.returncode == 0, result.stderr
            for record in records(report):
                if record["output"]:
                    replacements[Path(record["input"])] = Path(record["output"])
        webps = sorted(root.rglob("*.webp"))
        for path in contents:
            if path.exists():
                assert digest(path) == digests[path]  # kept originals are untouched
                continue
            replacement = replacements.get(path)
            assert replacement is not None and replacement.exists(), (path, webps)
            assert np.array_equal(decoded(replacement), pixels[path]), (path, replacement)
        assert len(set(replacements.values())) == len(replacements)
