"""``--json`` provenance: lltd's version, the encoder and its version, every setting, and each
file's input and output SHA-256 and pixel size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import digest
from PIL import Image, features
from webp_helpers import CWEBP

from lltd.common.version import version


def report(path: Path) -> dict:
    return json.loads(path.read_text())


def test_compress_report_records_encoder_settings_and_files(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    make_image(src / "a.png", size=(64, 48))
    (src / "broken.png").write_bytes(b"not a png")
    out, path = tmp_path / "out", tmp_path / "r.json"
    args = ["-q", "61", "-m", "5", "-resize", "32", "0", "--auto-orient", "-j", "1"]
    result = run_lltd("compress", src, *args, "-o", out, "--json", path)
    assert result.returncode == 1  # broken.png
    data = report(path)
    assert data["lltd_version"] == version()
    assert data["encoder"] == {
        "name": "libwebp via Pillow",
        "version": features.version("webp"),
        "pillow": Image.__version__,
    }
    settings = data["settings"]
    assert settings["options"]["quality"] == 61 and settings["options"]["method"] == 5
    assert settings["options"]["resize"] == [32, 0] and settings["auto_orient"] is True
    assert settings["backend"] == "pillow" and settings["max_pixels"] > 0
    files = {Path(r["input"]).name: r for r in data["files"]}
    good, bad = files["a.png"], files["broken.png"]
    assert good["input_sha256"] == digest(src / "a.png") and good["input_pixels"] == [64, 48]
    assert good["output_sha256"] == digest(out / "a.webp") and good["output_pixels"] == [32, 24]
    assert bad["input_sha256"] == digest(src / "broken.png") and bad["input_pixels"] is None


@pytest.mark.skipif(CWEBP is None, reason="cwebp not installed")
def test_cwebp_backend_records_cwebp_version(tmp_path, run_lltd, make_image):
    make_image(tmp_path / "in" / "a.png")
    path = tmp_path / "r.json"
    run_lltd("compress", tmp_path / "in", "-q", "60", "--backend", "cwebp", "--json", path)
    encoder = report(path)["encoder"]
    assert encoder["name"] == "cwebp" and encoder["version"] == "1.2.4"
    assert Path(encoder["path"]).name == "cwebp"


def test_replaced_originals_keep_their_input_hash(tmp_path, run_lltd, make_image):
    src = tmp_path / "in"
    original = digest(make_image(src / "a.png", size=(64, 48)))
    path = tmp_path / "r.json"
    assert run_lltd("compress", src, "--r", "-q", "60", "--json", path).returncode == 0
    record = report(path)["files"][0]
    assert not (src / "a.png").exists()
    assert record["input_sha256"] == original and record["input_pixels"] == [64, 48]
    assert record["output_sha256"] == digest(src / "a.webp")


def test_defend_and_flip_reports_carry_provenance(tmp_path, run_lltd, make_image):
    make_image(tmp_path / "in" / "a.png")
    for command in ("defend", "flip"):
        path = tmp_path / f"{command}.json"
        out = tmp_path / command
        assert run_lltd(command, tmp_path / "in", "-o", out, "--json", path).returncode == 0
        data = report(path)
        assert data["lltd_version"] == version() and "settings" in data
        want = "libwebp via Pillow" if command == "defend" else None
        assert data["encoder"]["name"] == want
        record = data["files"][0]
        assert record["output_pixels"] == [48, 40] and record["output_sha256"] == digest(
            Path(record["output"])
        )
