"""Issue 11 (data safety), each item through the real CLI on real files.

Every test starts from the issue's reproduction. The invariant checked is the issue's "done
when": every picture's content is still present (as its original or as its complete output),
or the call is refused with exit 2, and nothing is written outside the folders named.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import RunLltd, assert_one_line_error, tree_digests
from PIL import Image
from waiting import wait_for

SIZE = 256


def img(path: Path, k: int, fmt: str | None = None) -> Path:
    """The issue's test picture: a radial gradient whose pixels depend on ``k``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    base = Image.radial_gradient("L").point(lambda v: (v * k) % 256)
    picture = Image.merge("RGB", (base, base.rotate(90), base.transpose(Image.FLIP_TOP_BOTTOM)))
    picture.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def same_picture(a: Path, b: Path, tolerance: float = 12.0) -> bool:
    """``b`` shows the picture of ``a`` (a lossy WebP of it, say): mean error under tolerance."""
    pa, pb = pixels(a), pixels(b)
    return pa.shape == pb.shape and float(np.abs(pa - pb).mean()) < tolerance


def webps(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.webp"))


def holds_picture(folder: Path, original: np.ndarray) -> bool:
    """Some WebP (or PNG/JPEG) in ``folder`` shows ``original``."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".webp", ".png", ".jpg"):
            with contextlib.suppress(OSError):
                got = pixels(path)
                if got.shape == original.shape and np.abs(got - original).mean() < 12:
                    return True
    return False


# --- item 1: an unrelated same-named WebP is never taken for the output -----------------------


def test_r_never_trusts_or_overwrites_an_unrelated_same_named_webp(run_lltd: RunLltd, tmp_path):
    d = tmp_path / "d"
    original = img(d / "b.png", 1)
    kept = pixels(original)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(d / "b.webp")
    unrelated = (d / "b.webp").read_bytes()

    result = run_lltd("compress", d, "--r", "-q", "60", "--json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert (d / "b.webp").read_bytes() == unrelated  # the user's WebP, untouched
    assert not (d / "b.png").exists()  # replaced, by its own WebP
    own = d / "b.png.webp"
    assert np.abs(pixels(own) - kept).mean() < 12
    record = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert (record["outcome"], record["output"]) == ("converted", str(own))


# --- item 2: same-stem pairs across interrupted --r runs --------------------------------------


@pytest.mark.parametrize("first_skipped", ["a.png", "a.jpg"])
def test_same_stem_pair_keeps_both_pictures_across_r_reruns(
    run_lltd: RunLltd, tmp_path: Path, first_skipped: str
):
    d = tmp_path / "d"
    jpg, png = img(d / "a.jpg", 2, "JPEG"), img(d / "a.png", 3)
    originals = [pixels(jpg), pixels(png)]
    first = run_lltd("compress", d, "--r", "-q", "60", "--ignore-filename-match", first_skipped)
    assert first.returncode == 0, first.stderr
    second = run_lltd("compress", d, "--r", "-q", "60")
    assert second.returncode == 0, second.stderr
    assert not jpg.exists() and not png.exists()
    assert len(webps(d)) == 2
    for original in originals:
        assert holds_picture(d, original)
    # A third run finds nothing to do and changes nothing.
    before = tree_digests(d)
    assert run_lltd("compress", d, "--r", "-q", "60").returncode == 0
    assert tree_digests(d) == before


def test_same_stem_pairs_survive_sigkill_and_rerun(run_lltd: RunLltd, tmp_path: Path):
    """The issue's 220-file case, smaller: same-stem pairs, a --r run killed repeatedly, then
    rerun to the end: every picture is still there."""
    d = tmp_path / "d"
    originals = []
    for i in range(24):
        originals.append(pixels(img(d / f"p{i:02d}.jpg", 2 + i, "JPEG")))
        originals.append(pixels(img(d / f"p{i:02d}.png", 40 + i)))
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    for _ in range(3):
        before = len(list(d.glob("*.webp")))
        proc = subprocess.Popen(
            [sys.executable, "-m", "lltd", "compress", str(d), "--r", "-q", "60", "-j", "2"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Killed once it has written two more WebPs: mid-run however busy the machine is (a
        # fixed delay could land before the first file, or after the last).
        wait_for(
            lambda: proc.poll() is not None or len(list(d.glob("*.webp"))) >= before + 2,  # noqa: B023
            "two more WebPs",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = run_lltd("compress", d, "--r", "-q", "60", "-j", "2")
    assert final.returncode == 0, final.stderr
    assert not [p for p in d.rglob("*.lltd-tmp")]
    # Each original is gone only where its own WebP took its place (a larger WebP keeps it).
    for original in sorted(d.glob("*.[pj][np]g")):
        assert not (d / f"{original.stem}.webp").exists() or not same_picture(
            original, d / f"{original.stem}.webp", 1
        )
    for original in originals:
        assert holds_picture(d, original)


# --- item 3: --c with -o inside the input folder ----------------------------------------------


def test_clean_never_deletes_originals_in_an_output_folder_inside_the_input(
    run_lltd: RunLltd, tmp_path: Path
):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    album = img(d / "album" / "b.png", 3)
    before = tree_digests(d)
    result = run_lltd("compress", d, "--c", "-o", d / "album")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "--c refuses", "b.png")
    assert tree_digests(d) == before and album.exists()


def test_clean_empties_an_output_folder_inside_the_input_that_holds_only_outputs(
    run_lltd: RunLltd, tmp_path: Path
):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    assert run_lltd("compress", d, "-q", "60", "-o", d / "out").returncode == 0
    assert (d / "out" / "a.webp").exists()
    again = run_lltd("compress", d, "-q", "60", "--c", "-o", d / "out", "--json", tmp_path / "j")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "j").read_text())["files"][0]["outcome"] == "converted"


# --- items 4 and 11: -o equal to the input folder ---------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("defend", "{d}", "-o", "{d}", "--force"), ("compress", "{d}", "-o", "{d}"),
     ("flip", "{d}", "-o", "{d}")],
)  # fmt: skip
def test_output_folder_equal_to_the_input_is_refused(run_lltd: RunLltd, tmp_path: Path, args):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    img(d / "sub" / "b.png", 2)
    before = tree_digests(d)
    result = run_lltd(*(a.format(d=d) for a in args))
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "output folder is the input folder")
    assert tree_digests(d) == before


def test_defend_into_a_parent_folder_never_takes_its_outputs_as_inputs(
    run_lltd: RunLltd, tmp_path: Path
):
    """Outputs landing inside the input tree (-o a parent of it) are never inputs later."""
    d = tmp_path / "d"
    img(d / "d" / "x.png", 1)
    img(d / "x.png", 2)
    for _ in range(2):
        result = run_lltd("defend", d, "-o", tmp_path, "--json", tmp_path / "r.json")
        assert result.returncode == 0, result.stderr
        inputs = [f["input"] for f in json.loads((tmp_path / "r.json").read_text())["files"]]
        assert sorted(inputs) == sorted([str(d / "x.png"), str(d / "d" / "x.png")])
    assert not list(tmp_path.rglob("*.png.png.png"))


# --- item 6: special files as destinations ----------------------------------------------------


@pytest.mark.parametrize("kind", ["FIFO", "character device", "symbolic link"])
def test_cwebp_refuses_a_special_destination(run_lltd: RunLltd, tmp_path: Path, kind: str):
    """The issue saw ``-o`` replace /dev/full: a node that is not a regular file is refused and
    stays exactly as it was."""
    source = img(tmp_path / "in.png", 1)
    target = tmp_path / "out.webp"
    if kind == "FIFO":
        os.mkfifo(target)
    elif kind == "symbolic link":
        target.symlink_to(tmp_path / "in.png")
    else:
        try:  # the numbers of /dev/full, the node the issue saw replaced
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("cannot make a device node here")
    before = os.lstat(target)
    result = run_lltd("cwebp", "-q", "60", source, "-o", target, timeout=60)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "refusing to write", kind)
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert (tmp_path / "in.png").read_bytes()[:4] == b"\x89PNG"


def test_batch_outputs_refuse_special_destinations(run_lltd: RunLltd, tmp_path: Path):
    """compress/flip/defend never write through nor over a special file at an output name."""
    d = tmp_path / "d"
    img(d / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "a.webp")
    result = run_lltd("compress", d, "-q", "60", "-o", out, timeout=60)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "a.png", "refusing to write", "FIFO")
    assert (out / "a.webp").is_fifo()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "input", "missing-folder"])
def test_json_report_destination_is_checked_before_any_work(
    run_lltd: RunLltd, tmp_path: Path, kind: str
):
    d = tmp_path / "d"
    source = img(d / "a.png", 1)
    target = {
        "fifo": tmp_path / "report.json",
        "symlink": tmp_path / "link.json",
        "input": source,
        "missing-folder": tmp_path / "no" / "such" / "report.json",
    }[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink":
        (tmp_path / "elsewhere.json").write_text("keep")
        target.symlink_to(tmp_path / "elsewhere.json")
    before = tree_digests(d)
    result = run_lltd("compress", d, "-q", "60", "-o", tmp_path / "out", "--json", target)
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, "lltd: error: --json")
    assert tree_digests(d) == before
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert not (tmp_path / "no").exists()
    if kind == "symlink":
        assert target.is_symlink() and (tmp_path / "elsewhere.json").read_text() == "keep"
    if kind == "fifo":
        assert target.is_fifo()


# --- item 8: names cannot forge log lines -----------------------------------------------------


def test_a_newline_in_a_name_cannot_forge_a_line(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    d.mkdir()
    forged = "x.png\nlltd: converted: forged.png"
    (d / forged).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    img(d / "ok\x1b[31m.png", 1)
    result = run_lltd(
        "compress", d, "-q", "60", "-o", tmp_path / "out", "--debug", "--reason-files"
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("lltd: converted: forged")]
    assert any(line.startswith("lltd: failed: ") and "\\n" in line for line in lines)
    assert "\x1b" not in result.stderr
    reason = (tmp_path / "out" / "failed" / (forged + ".error.txt")).read_text()
    assert reason.count("\n") == 1 and reason.endswith("\n")


# --- item 9: workers die with the run; a rerun clears its temporaries -------------------------


def _children(pid: int) -> list[int]:
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def test_sigkilled_compress_takes_its_workers_and_a_rerun_clears_temporaries(
    run_lltd: RunLltd, tmp_path: Path
):
    d = tmp_path / "d"
    for i in range(60):
        img(d / f"p{i:02d}.png", 3 + i)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lltd", "compress", str(d), "-q", "60", "-j", "2", "-o", str(out)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "LLTD_POOL": "processes"},  # worker processes, not threads
    )  # fmt: skip
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the run ended before its workers could be seen")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # PR_SET_PDEATHSIG ends the workers with their parent; a busy machine may take a while.
    wait_for(lambda: not [pid for pid in workers if _alive(pid)], "the workers to end")

    out.mkdir(exist_ok=True)
    stale = out / ".p00.webp.abc123.lltd-tmp"
    stale.write_bytes(b"partial")
    rerun = run_lltd("compress", d, "-q", "60", "-o", out)
    assert rerun.returncode == 0, rerun.stderr
    assert not list(out.rglob("*.lltd-tmp"))
    assert len(webps(out)) + len(list((out / "origin").glob("*.png"))) == 60  # every file done


# --- item 10: an output is reused only if it is complete and ours -----------------------------


def test_empty_or_foreign_outputs_are_not_already_converted(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.webp").write_bytes(b"")
    result = run_lltd("compress", d, "-q", "60", "-o", out, "--json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["files"][0]["outcome"] == "converted"
    assert same_picture(d / "a.png", out / "a.webp")

    defended = tmp_path / "defended"
    defended.mkdir()
    empty = defended / "a.png"
    empty.write_bytes(b"")
    later = time.time() + 3600
    os.utime(empty, (later, later))  # "newer" than its input, as the case
    result = run_lltd("defend", d, "-o", defended, "--json", tmp_path / "d.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "d.json").read_text())["files"][0]["outcome"] == "converted"
    assert empty.stat().st_size > 0


def test_r_deletes_nothing_when_an_earlier_output_was_truncated(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    png = img(d / "a.png", 5)
    assert run_lltd("compress", d, "-q", "60", "-o", tmp_path / "o").returncode == 0
    # The WebP this tool wrote for a.png, then cut short (a full disk, a bad copy).
    (d / "a.webp").write_bytes((tmp_path / "o" / "a.webp").read_bytes()[:100])
    result = run_lltd("compress", d, "--r", "-q", "60")
    assert result.returncode == 0, result.stderr
    assert not png.exists()
    assert (d / "a.webp").stat().st_size == 100  # not ours: left alone
    assert same_picture(tmp_path / "o" / "a.webp", d / "a.png.webp", 1)


# --- item 12: -o onto a file or an unwritable place; a full disk -------------------------------


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_output_that_cannot_be_a_folder_is_one_usage_error(run_lltd: RunLltd, tmp_path, where):
    d = tmp_path / "d"
    for i in range(3):
        img(d / f"p{i}.png", i + 1)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    target = blocker if where == "file" else blocker / "sub"
    result = run_lltd("compress", d, "-q", "60", "-o", target)
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("lltd:")] == [
        line for line in result.stderr.splitlines() if line.startswith("lltd: error:")
    ]
    assert len([line for line in result.stderr.splitlines() if "lltd: error" in line]) == 1
    assert "internal error" not in result.stderr
    assert_one_line_error(result.stderr, "lltd: error:", "blocker")
    assert blocker.read_text() == "a file"


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_batch_with_one_line_and_no_partial_file(
    run_lltd: RunLltd, tmp_path: Path, tiny_disk: Path
):
    d = tmp_path / "d"
    for i in range(30):
        img(d / f"p{i:02d}.png", 3 + i)
    result = run_lltd("compress", d, "-q", "100", "-o", tiny_disk, "-j", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "no space left" in line]
    assert len(lines) == 1 and "stopped after" in lines[0], result.stderr
    assert not list(tiny_disk.rglob("*.lltd-tmp"))
    for webp in tiny_disk.rglob("*.webp"):  # whatever was published is complete
        with Image.open(webp) as image:
            image.load()
    assert len(list(d.iterdir())) == 30


# --- item 13: two runs on one folder ----------------------------------------------------------


def test_a_second_run_on_a_locked_folder_is_refused(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    before = tree_digests(d)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a running `compress --r` on d holds
        result = run_lltd("compress", d, "--r", "-q", "60")
        assert result.returncode == 2
        assert_one_line_error(result.stderr, "another lltd run is using", str(d))
        assert tree_digests(d) == before
        # A run that only reads d is refused too while d is being rewritten.
        reader = run_lltd("compress", d, "-q", "60", "-o", tmp_path / "out")
        assert reader.returncode == 2
    finally:
        os.close(fd)
    assert run_lltd("compress", d, "--r", "-q", "60").returncode == 0


# --- item 14: depth, pixel limits, FIFOs, animation -------------------------------------------


def _png16(path: Path, colour: bool) -> np.ndarray:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour)."""
    import struct
    import zlib

    h, w = 12, 10
    channels = 3 if colour else 1
    values = (np.arange(h * w * channels).reshape(h, w * channels) * 523 % 65536).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in values)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 16, 2 if colour else 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return values.astype(np.int64)


def test_flip_keeps_16_bit_grey_and_refuses_to_reduce_16_bit_colour(
    run_lltd: RunLltd, tmp_path: Path
):
    d = tmp_path / "d"
    grey = _png16(d / "grey.png", colour=False)
    _png16(d / "colour.png", colour=True)
    result = run_lltd("flip", d, "--json", tmp_path / "r.json")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "colour.png", "16-bit colour PNG")
    with Image.open(d / "grey_f.png") as flipped:
        assert flipped.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(flipped, dtype=np.int64), grey[:, ::-1])
    assert not (d / "colour_f.png").exists()


def test_max_pixels_above_pillows_own_limit_is_the_one_quoted(run_lltd: RunLltd, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    Image.new("1", (13_400, 13_400)).save(d / "huge.png")  # 179,560,000 pixels
    result = run_lltd("flip", d, "-o", tmp_path / "o", "--max-pixels", "179000000")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "huge.png", "exceeds the limit of 179000000")
    assert "178956970" not in result.stderr


def test_a_fifo_input_is_not_a_regular_file(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    img(d / "a.png", 1)
    os.mkfifo(d / "pipe.png")
    result = run_lltd("compress", d, "-q", "60", "-o", tmp_path / "out", timeout=60)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "pipe.png", "not a regular file")
    assert (tmp_path / "out" / "a.webp").exists()


def test_an_animated_png_is_said_so_on_its_line(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    frames = [Image.new("RGB", (32, 32), (i * 60, 0, 0)) for i in range(3)]
    d.mkdir()
    frames[0].save(d / "anim.png", save_all=True, append_images=frames[1:])
    before = tree_digests(d)
    result = run_lltd("compress", d, "-q", "60", "-o", tmp_path / "out")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "anim.png", "animated image (3 frames)")
    assert tree_digests(d) == before
    assert not list((tmp_path / "out").glob("*.webp"))


# --- item 15: flip --format png collisions keep _f --------------------------------------------


def test_flip_format_png_collision_name_keeps_the_suffix(run_lltd: RunLltd, tmp_path: Path):
    d = tmp_path / "d"
    img(d / "x.jpg", 1, "JPEG")
    img(d / "x.png", 2)
    for _ in range(2):
        result = run_lltd("flip", d, "--format", "png")
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in d.iterdir()) == ["x.jpg", "x.png", "x.png_f.png", "x_f.png"]


@pytest.mark.parametrize("command", ["compress", "flip", "defend", "cwebp", "usage"])
def test_every_command_escapes_names_in_its_lines(run_lltd: RunLltd, tmp_path: Path, command):
    d = tmp_path / "d"
    d.mkdir()
    forged = "x.png\nlltd: converted: forged.png"
    (d / forged).write_bytes(b"\x89PNG\r\n\x1a\n not really")
    argv = {
        "compress": ("compress", d, "-q", "60", "-o", tmp_path / "out"),
        "flip": ("flip", d),
        "defend": ("defend", d, "-o", tmp_path / "out"),
        "cwebp": ("cwebp", "-q", "60", d / forged, "-o", tmp_path / "x.webp"),
        "usage": ("defend", tmp_path / "no\nlltd: converted: forged", "-o", tmp_path / "out"),
    }[command]
    result = run_lltd(*argv)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if line.startswith("lltd: conv")]
    assert "\\nlltd: converted: forged" in result.stderr
    for reason in tmp_path.rglob("*.error.txt"):
        assert reason.read_text().count("\n") == 1


def test_a_failure_raised_past_the_job_is_quarantined_like_any_other(
    run_lltd: RunLltd, tmp_path: Path
):
    """One quarantine: an output name taken by a FIFO (an error raised by the atomic writer,
    not returned by the job) still leaves the input in failed/ with its reason."""
    d = tmp_path / "d"
    img(d / "a.png", 1)
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "a.png")
    result = run_lltd("defend", d, "-o", out)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "a.png", "refusing to write")
    assert (out / "failed" / "a.png").read_bytes() == (d / "a.png").read_bytes()
    assert "refusing to write" in (out / "failed" / "a.png.error.txt").read_text()
    assert (out / "a.png").is_fifo()
