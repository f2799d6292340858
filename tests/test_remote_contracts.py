"""The storage host's planner view (lltd.cluster.remote.storage_tree) names outputs as the local
one does, in-process on ``memory://`` and a real folder of the same layout: an unrecorded file
is a leftover of ours only in an output folder apart from the input (issue 27)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest
from PIL import Image

from lltd.batch.plan import plan_local
from lltd.cluster.remote import plan_remote
from lltd.codecs import EncodeOptions
from lltd.jobs.compress import CompressJob

BASE = "memory://lltd-test-remote-contracts"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def memory() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists(BASE.removeprefix("memory://")):
        fs.rm(BASE.removeprefix("memory://"), recursive=True)


def lay_out(files: dict[str, bytes], fs: fsspec.AbstractFileSystem, folder: Path) -> None:
    for name, data in files.items():
        fs.pipe(f"{BASE.removeprefix('memory://')}/{name}", data)
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def planned(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {t.relative.as_posix(): t.output.name for t in run.tasks}


def compress_to(output: str | Path) -> CompressJob:
    return CompressJob(output_dir=output, options=EncodeOptions(quality=60))  # type: ignore[arg-type]


def test_with_o_holding_the_input_an_unrecorded_file_is_never_taken_for_a_leftover(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    # -o the input's parent: in/in/x.png's output name in/x.webp is the input tree's own
    # x.webp (someone's original), and y.png's y.webp sits beside the input.
    files = {
        "in/in/x.png": png_bytes(),
        "in/y.png": png_bytes(),
        "in/x.webp": b"someone's own WebP",
        "y.webp": b"a file nobody recorded",
    }
    lay_out(files, memory, tmp_path)
    expected = {"in/x.png": "x.png.webp", "y.png": "y.png.webp"}
    assert planned(plan_local(tmp_path / "in", compress_to(tmp_path))) == expected
    assert planned(plan_remote(f"{BASE}/in", compress_to(BASE))) == expected


def test_in_an_output_folder_apart_from_the_input_an_unrecorded_file_is_a_leftover_redone(
    memory: fsspec.AbstractFileSystem, tmp_path: Path
) -> None:
    files = {"in/y.png": png_bytes(), "out/y.webp": b"left over by an interrupted run"}
    lay_out(files, memory, tmp_path)
    expected = {"y.png": "y.webp"}
    assert planned(plan_local(tmp_path / "in", compress_to(tmp_path / "out"))) == expected
    assert planned(plan_remote(f"{BASE}/in", compress_to(f"{BASE}/out"))) == expected
