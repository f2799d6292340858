"""``lltd watch`` against hostile and careless uploaders (data-safety issue, items 5, 7, 8, 16):
colliding output names, planted links, forged log lines, chunked uploads. Real daemon, real files.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_watch_daemon import Watch, decoded, defended_pixels, png_bytes, write_old
from waiting import wait_until


def jpeg_bytes(seed: int, size: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    return inp, out


def test_same_stem_inputs_never_replace_each_others_output(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """Item 5: a.png then a.jpg (both a.png in OUT) with --on-success delete: both pictures
    survive; the same name dropped again is the same input and replaces its own output."""
    inp, out = folders
    first, second, again = png_bytes(1), jpeg_bytes(2), png_bytes(3)
    args = (inp, "-o", out, "-j", "1", "--settle", "100", "--on-success", "delete")
    watch = Watch(tmp_path, *args)
    try:
        watch.wait_ready()
        (inp / "a.png").write_bytes(first)
        wait_until(lambda: not (inp / "a.png").exists(), 30, "a.png done")
        (inp / "a.jpg").write_bytes(second)
        wait_until(lambda: not (inp / "a.jpg").exists(), 30, "a.jpg done")
    finally:
        assert watch.stop() == 0
    assert np.array_equal(decoded(out / "a.png"), defended_pixels(first))
    assert np.array_equal(decoded(out / "a.jpg.png"), defended_pixels(second))

    # A restart remembers who owns which name: a.png again replaces its own output, a.jpg
    # again gets a.jpg.png again, and a new same-stem input takes the next free name.
    write_old(inp / "a.png", again)
    write_old(inp / "a.jpg", second)
    write_old(inp / "a.webp", png_bytes(4))  # PNG data under a .webp name: still an image
    watch = Watch(tmp_path, *args)
    try:
        watch.wait_ready()
        wait_until(lambda: not any(inp.glob("a.*")), 30, "the second round done")
    finally:
        assert watch.stop() == 0
    assert np.array_equal(decoded(out / "a.png"), defended_pixels(again))
    assert np.array_equal(decoded(out / "a.jpg.png"), defended_pixels(second))
    assert np.array_equal(decoded(out / "a.webp.png"), defended_pixels(png_bytes(4)))
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg.png", "a.png", "a.webp.png"]


def test_an_output_nobody_recorded_is_never_replaced(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """An OUT/a.png the daemon did not write (another tool, an older version) stays."""
    inp, out = folders
    out.mkdir()
    (out / "a.png").write_bytes(b"someone else's file")
    write_old(inp / "a.png", png_bytes(5))
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1")
    try:
        watch.wait_ready()
        wait_until(lambda: (out / "a.png.png").exists(), 30, "a.png.png")
    finally:
        assert watch.stop() == 0
    assert (out / "a.png").read_bytes() == b"someone else's file"
    assert np.array_equal(decoded(out / "a.png.png"), defended_pixels(png_bytes(5)))


def test_a_link_planted_as_done_does_not_redirect_uploads(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """Item 7: IN/.lltd/done replaced by a link while the daemon runs: nothing goes through it;
    the upload stays in IN, counted as failed, with one line that says why."""
    inp, out = folders
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--settle", "100")
    try:
        watch.wait_ready()
        (inp / ".lltd" / "done").mkdir(exist_ok=True)
        (inp / ".lltd" / "done").rmdir()
        (inp / ".lltd" / "done").symlink_to(elsewhere)
        (inp / "x.png").write_bytes(png_bytes(6))
        wait_until(lambda: "left in place" in watch.stderr, 30, "the refusal")
    finally:
        assert watch.stop() == 0
    assert list(elsewhere.iterdir()) == []
    assert (inp / "x.png").read_bytes() == png_bytes(6)
    assert "refused" in watch.stderr and ".lltd/done" in watch.stderr


def test_a_link_planted_as_the_state_folder_or_lock_is_refused_at_start(
    tmp_path: Path, run_lltd, folders: tuple[Path, Path]
) -> None:
    inp, out = folders
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (inp / ".lltd").mkdir()
    (inp / ".lltd" / "lock").symlink_to(victim)
    result = run_lltd("watch", str(inp), "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert victim.read_text() == "precious\n"  # not truncated through the link
    assert "lltd: error:" in result.stderr and "Traceback" not in result.stderr

    (inp / ".lltd" / "lock").unlink()
    (inp / ".lltd").rmdir()
    (inp / ".lltd").symlink_to(tmp_path / "elsewhere-state", target_is_directory=True)
    (tmp_path / "elsewhere-state").mkdir()
    result = run_lltd("watch", str(inp), "-o", str(out))
    assert result.returncode == 2
    assert "is a link or not a folder: refused" in result.stderr
    assert list((tmp_path / "elsewhere-state").iterdir()) == []


def test_a_link_planted_in_an_output_folder_inside_in_is_not_followed(
    tmp_path: Path,
) -> None:
    """OUT inside IN: an uploader creates IN/out/sub as a link; IN/sub/x.png must not be
    written through it."""
    inp = tmp_path / "in"
    out = inp / "out"
    elsewhere = tmp_path / "elsewhere"
    for folder in (inp, out, elsewhere):
        folder.mkdir()
    (out / "sub").symlink_to(elsewhere, target_is_directory=True)
    write_old(inp / "sub" / "x.png", png_bytes(7))
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1")
    try:
        watch.wait_ready()
        wait_until(lambda: "left in place" in watch.stderr, 30, "the refusal")
    finally:
        assert watch.stop() == 0
    assert list(elsewhere.iterdir()) == []
    assert (inp / "sub" / "x.png").exists()


FORGED = "lltd watch: converted: forged.png"


def test_a_newline_in_a_name_forges_no_line(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    """Item 8: names are escaped in log lines and in .error.txt."""
    inp, out = folders
    good = f"x\n{FORGED} -> y.png"
    bad = f"bad\n{FORGED}\r.png"
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--settle", "100")
    try:
        watch.wait_ready()
        (inp / f"{good}.png").write_bytes(png_bytes(8))
        (inp / bad).write_bytes(b"not an image at all")
        wait_until(lambda: not any(inp.glob("*.png")), 30, "both files done")
    finally:
        assert watch.stop() == 0
    for line in (watch.stdout + watch.stderr).splitlines():
        assert not line.startswith(FORGED), line
    assert "x\\nlltd watch: converted: forged.png" in watch.stdout
    assert "bad\\nlltd watch: converted: forged.png\\r.png" in watch.stderr
    reason = (out / "failed" / f"{bad}.error.txt").read_text()
    assert reason.count("\n") == 1 and "\\n" in reason and "\\r" in reason


def chunked_upload(path: Path, data: bytes, chunks: int, pause: float) -> None:
    """As resumable uploads (``curl -C -``) do: reopen, append one chunk, close; repeat."""
    step = -(-len(data) // chunks)
    for start in range(0, len(data), step):
        with path.open("ab") as handle:
            handle.write(data[start : start + step])
        time.sleep(pause)


def test_quiet_rule_takes_an_upload_that_reopens_per_chunk_once(
    tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    """Item 16: with --settle-rule quiet the file is taken once, whole, after its last chunk."""
    inp, out = folders
    data = png_bytes(9, size=96)
    # A settle period 10 times the pause between chunks: a busy machine may stall the writer.
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--settle", "3000", "--settle-rule", "quiet")
    try:
        watch.wait_ready()
        chunked_upload(inp / "up.png", data, chunks=4, pause=0.3)
        wait_until(lambda: not (inp / "up.png").exists(), 30, "the upload done")
    finally:
        assert watch.stop() == 0
    assert np.array_equal(decoded(out / "up.png"), defended_pixels(data))
    assert not (out / "failed").exists()
    assert "failed" not in watch.stderr
    assert (inp / ".lltd" / "done" / "up.png").read_bytes() == data


def test_settle_rule_is_validated(tmp_path: Path, run_lltd, folders: tuple[Path, Path]) -> None:
    inp, out = folders
    result = run_lltd("watch", str(inp), "-o", str(out), "--settle-rule", "sometimes")
    assert result.returncode == 2
    assert "settle_rule must be one of close, quiet" in result.stderr
