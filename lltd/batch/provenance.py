"""Provenance for ``--json`` reports: which lltd and encoder made each file, with what settings,
from which bytes, so a defended data set can be reproduced and audited."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


def file_facts(path: str | Path | None) -> dict[str, object]:
    """SHA-256, byte count and pixel size of a local file (nulls for a file that is gone or is
    no image)."""
    digest: str | None = None
    size: list[int] | None = None
    count: int | None = None
    if path is not None:
        try:
            sha = hashlib.sha256()
            # O_NOFOLLOW and a regular file only: a name swapped for a link or a FIFO is
            # reported with nulls, never read through (issue 24).
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as stream:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise OSError("not a regular file")
                os.set_blocking(fd, True)
                count = st.st_size  # the bytes hashed, not a later file
                while chunk := stream.read(_CHUNK):
                    sha.update(chunk)
                digest = sha.hexdigest()
                stream.seek(0)
                size = _pixel_size(stream)
        except OSError:  # gone (a replaced original), unreadable, or a storage URL
            count = None
    return {"sha256": digest, "pixels": size, "bytes": count}


def _pixel_size(path: Path | BinaryIO) -> list[int] | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:  # reads the header only
                return list(image.size)
    except Exception:  # not an image (a failed input): its hash still identifies it
        return None


def input_facts(sources: Iterable[Path]) -> dict[str, dict[str, object]]:
    """Facts of every input, taken before the run (``--r`` deletes originals)."""
    return {str(source): file_facts(source) for source in sources}


def add_file_facts(
    records: list[dict[str, object]], inputs: dict[str, dict[str, object]]
) -> list[dict[str, object]]:
    """Each record's hashes and pixel sizes, and its real byte counts: the input's as read
    before the run, the output's as it lies now (null where no output was written; a storage
    URL keeps the count its job reported)."""
    for record in records:
        source = str(record["input"])
        facts = inputs.get(source) or file_facts(source)
        record["input_sha256"], record["input_pixels"] = facts["sha256"], facts["pixels"]
        out = file_facts(record["output"]) if record.get("output") else file_facts(None)
        record["output_sha256"], record["output_pixels"] = out["sha256"], out["pixels"]
        if facts["bytes"] is not None:
            record["bytes_before"] = facts["bytes"]
        if not record.get("output"):
            record["bytes_after"] = None
        elif out["bytes"] is not None:
            record["bytes_after"] = out["bytes"]
    return records


def encoder_of(job: object) -> dict[str, object]:
    """The WebP encoder a job uses and its version."""
    # compress jobs carry the backend; defend jobs in their defense settings.
    holder = job if hasattr(job, "backend") else getattr(job, "settings", None)
    backend = getattr(holder, "backend", None)
    if backend is None:
        return {"name": None}
    if backend == "cwebp":
        from lltd.codecs import get_codec

        codec = get_codec("cwebp", getattr(holder, "cwebp", None))
        return {
            "name": "cwebp",
            "path": str(codec.binary),  # type: ignore[attr-defined]
            "version": codec.version(),  # type: ignore[attr-defined]
        }
    import PIL
    from PIL import features

    return {
        "name": "libwebp via Pillow",
        "version": features.version("webp"),
        "pillow": PIL.__version__,
    }


def settings_of(job: object) -> dict[str, object]:
    """Every field of the job (its options included), as the report's ``settings``."""
    if not dataclasses.is_dataclass(job) or isinstance(job, type):
        return {}
    fields = dataclasses.asdict(job)
    # defend's job holds its DefenseSettings as ``settings``: the report names it for what it
    # is, not ``settings.settings``.
    if "settings" in fields:
        fields["defense"] = fields.pop("settings")
    return fields


def provenance(job: object) -> dict[str, object]:
    """The encoder and settings (lltd's version is in every report already)."""
    return {"encoder": encoder_of(job), "settings": settings_of(job)}
