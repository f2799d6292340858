"""The facts a ``--json`` report gives of each file (lltd.batch.provenance.file_facts), exactly:
SHA-256, byte count and pixel size of a regular file; nulls for anything else (gone, a link, a
FIFO, a folder), never read through. In-process."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from PIL import Image

from lltd.batch.provenance import add_file_facts, file_facts, input_facts

NULLS = {"sha256": None, "pixels": None, "bytes": None}


def png(path: Path, size: tuple[int, int] = (7, 5)) -> Path:
    Image.new("RGB", size, (1, 2, 3)).save(path)
    return path


def test_a_picture_has_its_hash_byte_count_and_pixel_size(tmp_path: Path) -> None:
    path = png(tmp_path / "a.png")
    data = path.read_bytes()
    assert file_facts(path) == {
        "sha256": hashlib.sha256(data).hexdigest(), "pixels": [7, 5], "bytes": len(data)
    }  # fmt: skip
    assert file_facts(str(path)) == file_facts(path)


def test_a_file_that_is_no_picture_still_has_its_hash_and_size(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # 2.2 MiB: several reads
    path = tmp_path / "notes.bin"
    path.write_bytes(data)
    assert file_facts(path) == {
        "sha256": hashlib.sha256(data).hexdigest(), "pixels": None, "bytes": len(data)
    }  # fmt: skip


def test_no_file_a_gone_file_a_folder_and_a_link_are_all_nulls(tmp_path: Path) -> None:
    target = png(tmp_path / "a.png")
    (tmp_path / "link.png").symlink_to(target)
    (tmp_path / "folder.png").mkdir()
    assert file_facts(None) == NULLS
    for name in ("gone.png", "folder.png", "link.png"):
        assert file_facts(tmp_path / name) == NULLS, name


def test_a_fifo_is_nulls_at_once_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.append(file_facts(fifo)), daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "file_facts blocked on a FIFO"
    assert got == [NULLS]


def test_reports_take_the_inputs_facts_from_before_the_run_and_the_outputs_now(
    tmp_path: Path,
) -> None:
    original = png(tmp_path / "a.png")
    size_before = original.stat().st_size
    before = input_facts([original])
    out = png(tmp_path / "a.webp.png", (3, 2))
    original.unlink()  # --r removed it
    records = [
        {"input": str(original), "output": str(out)},
        {"input": str(tmp_path / "b.png"), "output": None, "bytes_after": 5},
        {"input": str(original), "output": "s3://bucket/a.webp", "bytes_after": 321},
    ]
    add_file_facts(records, before)
    first, second, remote = records
    assert first["bytes_before"] == size_before and first["bytes_after"] == out.stat().st_size
    assert "bytes_before" not in second and second["bytes_after"] is None  # nothing written
    assert remote["bytes_after"] == 321  # a storage URL keeps the count its job reported
    assert (first["input_sha256"], first["input_pixels"]) == (
        before[str(original)]["sha256"], [7, 5]
    )  # fmt: skip
    assert first["output_pixels"] == [3, 2]
    assert first["output_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert second["input_sha256"] is None and second["output_sha256"] is None


def test_settings_are_a_dataclass_jobs_fields_and_nothing_else_is() -> None:
    import dataclasses

    from lltd.batch.provenance import settings_of

    @dataclasses.dataclass
    class Job:
        quality: float = 75.5

    assert settings_of(Job()) == {"quality": 75.5}
    assert settings_of(Job) == {}  # the class itself is no job
    assert settings_of(object()) == {}


def test_the_cwebp_a_job_names_is_the_one_reported(tmp_path: Path) -> None:
    import shutil
    import types

    import pytest

    from lltd.batch.provenance import encoder_of

    found = shutil.which("cwebp")
    if found is None:
        pytest.skip("cwebp not installed (apt-get install webp)")
    own = tmp_path / "my-cwebp"
    shutil.copy2(found, own)
    job = types.SimpleNamespace(backend="cwebp", cwebp=str(own))
    facts = encoder_of(job)
    assert facts["name"] == "cwebp" and facts["path"] == str(own)
    assert facts["version"] == encoder_of(types.SimpleNamespace(backend="cwebp"))["version"]
    assert encoder_of(types.SimpleNamespace())["name"] is None


def test_defends_settings_are_reported_as_defense_not_settings_settings(tmp_path: Path) -> None:
    from dataclasses import asdict

    from lltd.batch.provenance import settings_of
    from lltd.jobs.defend import DefendJob

    job = DefendJob(tmp_path / "out")
    reported = settings_of(job)
    assert "settings" not in reported
    assert reported["defense"] == asdict(job.settings)
    assert reported["format"] == job.format
