"""compress's pillow backend reads an input once and decodes the bytes it hashed; an input over
``KEEP_IN_MEMORY`` is hashed in chunks and decoded from the file instead. Both give the same WebP
and the same provenance record, and the record names the bytes that were decoded."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import lltd.jobs.compress as compress
from lltd.batch.marks import XATTR
from lltd.batch.scan import Task
from lltd.codecs import EncodeOptions


def _convert(src: Path, out: Path) -> tuple[bytes, dict]:
    job = compress.CompressJob(output_dir=out, options=EncodeOptions(quality=60))
    result = job(Task(src, Path(src.name), out / f"{src.stem}.webp"))
    assert result.outcome.name == "CONVERTED", result
    output = Path(result.output)
    return output.read_bytes(), json.loads(os.getxattr(output, XATTR))


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg"])
def test_in_memory_and_streamed_inputs_give_the_same_webp_and_record(
    tmp_path: Path, make_image, monkeypatch, name: str
) -> None:
    src = make_image(tmp_path / name, size=(160, 120))
    in_memory = _convert(src, tmp_path / "memory")
    monkeypatch.setattr(compress, "KEEP_IN_MEMORY", 0)  # every input now "too large"
    streamed = _convert(src, tmp_path / "streamed")
    assert in_memory == streamed
    webp, record = in_memory
    assert record["source"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert record["output_sha256"] == hashlib.sha256(webp).hexdigest()
    assert record["output_size"] == len(webp)
    assert not list((tmp_path / "memory").glob(".*"))  # no temporary left behind
