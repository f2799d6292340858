"""Every limit at its boundary: at the limit, one under, one over. ``--max-pixels`` (files and
uploads), ``--queue-size`` (the daemon's arrivals), compress's quality and method ranges, and
``--max-bytes`` of ``lltd serve`` (its body, exactly at the limit: tests/test_serve_intake.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from lltd.common.errors import ImageError, UsageError
from lltd.common.limits import (
    BYTES_PER_PIXEL,
    DEFAULT_INFLIGHT_BYTES,
    DEFAULT_INFLIGHT_PIXELS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
)
from lltd.imaging.imageio import open_image
from lltd.watch.config import FolderConfig, WatchConfig, check_folder, check_global
from lltd.watch.intake import Intake

REPO = Path(__file__).resolve().parents[1]
MiB = 1 << 20


def png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path)
    return path


@pytest.mark.parametrize(("limit", "taken"), [(119, False), (120, True), (121, True)])
def test_max_pixels_takes_an_image_of_exactly_the_limit_and_refuses_one_pixel_more(
    tmp_path: Path, limit: int, taken: bool
) -> None:
    image = png(tmp_path / "a.png", (12, 10))  # 120 pixels
    if taken:
        assert open_image(image, limit).size == (12, 10)
        return
    with pytest.raises(ImageError) as raised:
        open_image(image, limit)
    assert str(raised.value) == "12x10 = 120 pixels exceeds the limit of 119 (--max-pixels)"


@pytest.mark.parametrize(("limit", "taken"), [(119, False), (120, True), (121, True)])
def test_an_upload_of_exactly_max_pixels_is_taken_and_one_pixel_more_refused(
    limit: int, taken: bool
) -> None:
    kernel = pytest.importorskip("lltd.serve.kernel", reason="needs the [serve] extra")
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), (1, 2, 3)).save(buffer, format="PNG")
    if taken:
        assert kernel.decode(buffer.getvalue(), limit).size == (12, 10)
        return
    with pytest.raises(kernel.ImageTooLarge, match="120 pixels exceeds the limit of 119"):
        kernel.decode(buffer.getvalue(), limit)


def test_compress_max_pixels_converts_the_image_at_the_limit_and_fails_the_one_over(
    tmp_path: Path, run_lltd
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    png(src / "at.png", (12, 10))
    png(src / "over.png", (11, 11))  # 121 pixels
    result = run_lltd("compress", src, "-o", out, "-q", "50", "--max-pixels", "120", "--quiet")
    assert result.returncode == 1, result.stderr  # one file failed
    assert (out / "at.webp").exists() or (out / "origin" / "at.png").exists()
    assert not (out / "over.webp").exists()
    assert (out / "failed" / "over.png").exists()
    assert "121 pixels exceeds the limit of 120 (--max-pixels)" in result.stderr


#: One under or one over each range of compress: (option, value).
OUTSIDE = "--max-pixels 0, -q -1, -q 100.001, -m 7, -m -1, -alpha_q 101, -alpha_q -1"


@pytest.mark.parametrize("args", [pair.split() for pair in OUTSIDE.split(", ")], ids=" ".join)
def test_compress_refuses_one_under_or_one_over_each_range_in_one_line(
    tmp_path: Path, run_lltd, args: list[str]
) -> None:
    needle = args[0]
    png(tmp_path / "in" / "a.png", (4, 4))
    result = run_lltd("compress", tmp_path / "in", "-o", tmp_path / "out", *args, "--dry-run")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # "lltd: error: -q: -1.0 is not in the range 0<=x<=100"
    assert lines[0].startswith(f"lltd: error: {needle}: ") and "is not in the range" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [["--max-pixels", "1"], ["-q", "0"], ["-q", "100"], ["-m", "0"], ["-m", "6"],
     ["-alpha_q", "0"], ["-alpha_q", "100"]],
)  # fmt: skip
def test_compress_takes_both_ends_of_each_range(tmp_path: Path, run_lltd, args: list[str]) -> None:
    png(tmp_path / "in" / "a.png", (4, 4))
    result = run_lltd("compress", tmp_path / "in", "-o", tmp_path / "out", *args, "--dry-run")
    assert result.returncode == 0, result.stderr


def _config(queue_size: int) -> WatchConfig:
    return WatchConfig(folders=(FolderConfig(Path("in"), Path("out")),), queue_size=queue_size)


def test_queue_size_takes_1_and_refuses_0() -> None:
    check_global(_config(1))
    with pytest.raises(UsageError, match="queue_size must be at least 1"):
        check_global(_config(0))


@pytest.mark.parametrize("name", ["max_bytes", "max_pixels"])
def test_a_watch_folder_takes_a_limit_of_1_and_refuses_0(name: str) -> None:
    check_folder(FolderConfig(Path("in"), Path("out"), **{name: 1}), "in")
    with pytest.raises(UsageError, match=f"in: {name} must be at least 1"):
        check_folder(FolderConfig(Path("in"), Path("out"), **{name: 0}), "in")


@pytest.mark.parametrize("capacity", [1, 3])
def test_the_arrival_queue_holds_exactly_queue_size_and_the_next_one_waits(capacity: int) -> None:
    intake: Intake[str] = Intake(capacity)
    for i in range(capacity):
        assert intake.claim(f"f{i}")
        assert intake.put_live(f"f{i}", timeout=0)
    assert intake.claim("late")
    assert not intake.put_live("late", timeout=0)  # full: the arrival waits
    assert intake.split() == (0, capacity)
    # A scan's backlog is not bounded by it.
    for i in range(capacity + 2):
        intake.put_backlog(f"b{i}")
    assert intake.split() == (capacity + 2, capacity)
    assert intake.take(0) == "b0"  # the backlog first
    assert [intake.take(0) for _ in range(capacity + 1)] == [
        f"b{i}" for i in range(1, capacity + 2)
    ]
    assert not intake.put_live("late", timeout=0)  # the backlog taken, the arrivals still full
    assert intake.take(0) == "f0"
    assert intake.put_live("late", timeout=0)  # one arrival taken: room for exactly one
    assert intake.split() == (0, capacity)


def test_the_default_pixel_limit_is_pillows_decompression_bomb_threshold() -> None:
    # Pillow's own formula (PIL/Image.py): a 1 GiB budget at 4 bytes per pixel, over 3.
    assert DEFAULT_MAX_PIXELS == 1024 * 1024 * 1024 // 4 // 3 == 89_478_485
    assert type(DEFAULT_MAX_PIXELS) is int


def test_the_default_max_bytes_is_one_gib_above_the_largest_plain_image_the_pixel_limit_takes() -> (
    None
):
    assert DEFAULT_MAX_BYTES == 1024**3
    assert 8 * DEFAULT_MAX_PIXELS < DEFAULT_MAX_BYTES  # 16-bit RGBA, uncompressed


def _memory_max(unit: Path) -> int:
    value = re.search(r"^MemoryMax=(\d+)([KMG]?)$", unit.read_text(), re.MULTILINE)
    assert value, f"{unit}: no MemoryMax="
    return int(value[1]) << {"": 0, "K": 10, "M": 20, "G": 30}[value[2]]


def test_serve_budgets_are_the_documented_figures_and_fit_the_shipped_units_memory() -> None:
    doc = (REPO / "docs" / "operations" / "serve-capacity.md").read_text()
    pixels = re.search(r"--max-inflight-pixels\s+(\d+)`", doc)
    per_pixel = re.search(r"MiB / (\d+) bytes = ", doc)
    bodies = re.search(r"`--max-inflight-bytes` \((\d+) MiB per process\)", doc)
    assert pixels and per_pixel and bodies, "docs/operations/serve-capacity.md changed its wording"
    assert DEFAULT_INFLIGHT_PIXELS == int(pixels[1]) == 28_000_000
    assert BYTES_PER_PIXEL == int(per_pixel[1]) == 50
    assert DEFAULT_INFLIGHT_BYTES == int(bodies[1]) * MiB == 536_870_912
    assert all(type(v) is int for v in (DEFAULT_INFLIGHT_PIXELS, DEFAULT_INFLIGHT_BYTES))
    # The doc's sizing rule for one worker: process + bodies + pixels + supervisor <= MemoryMax.
    need = 128 * MiB + DEFAULT_INFLIGHT_BYTES + BYTES_PER_PIXEL * DEFAULT_INFLIGHT_PIXELS + 64 * MiB
    assert need <= _memory_max(REPO / "systemd" / "lltd-serve@.service")
