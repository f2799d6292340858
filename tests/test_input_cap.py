"""What an input file may cost: ``--max-bytes`` (default 1 GiB) and copies that keep holes.

An uploader to a drop folder can create a terabyte-long sparse file for free (``truncate -s 1T
x.png``). Before this cap lltd read all of it to hash it and, once it failed to decode, wrote all
of it, dense, into OUT/failed/: a disk filled by a file that took none. Each test runs the real
command line on real files; the sparse ones take no disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error, digest
from PIL import Image
from test_watch_daemon import Watch
from waiting import wait_until

from lltd.batch.marks import Source, TooLarge
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.fs.atomic import copy_extents
from lltd.fs.tree import Folder

COMMANDS = {"compress": "a.webp", "flip": "a_f.png", "defend": "a.png"}


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.radial_gradient("L").resize((32, 32)).save(path)
    return path


def sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that holds only holes (no disk taken)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        file.truncate(size)
    return path


def holds_holes(path: Path) -> bool:
    st = path.stat()
    return st.st_blocks * 512 < st.st_size // 2


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_input_of_exactly_max_bytes_is_taken_and_one_byte_more_refused(
    tmp_path: Path, run_lltd, command: str
) -> None:
    size = png(tmp_path / "in" / "a.png").stat().st_size
    for limit, taken in ((size, True), (size - 1, False)):
        out = tmp_path / f"out-{limit}"
        result = run_lltd(command, tmp_path / "in", "-o", out, "--max-bytes", str(limit))
        made = (out / COMMANDS[command]).exists() or (out / "origin" / "a.png").exists()
        assert made is taken, result.stderr
        if not taken:
            assert_one_line_error(
                result.stderr, "a.png", f"{size} bytes, more than --max-bytes ({limit})"
            )
            assert not (out / "failed" / "a.png").exists()  # refused, so not copied either
    assert (tmp_path / "in" / "a.png").stat().st_size == size  # the original is untouched


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_max_bytes_refuses_zero_in_one_line(tmp_path: Path, run_lltd, command: str) -> None:
    png(tmp_path / "in" / "a.png")
    result = run_lltd(command, tmp_path / "in", "-o", tmp_path / "out", "--max-bytes", "0")
    assert result.returncode == 2, result.stderr
    assert_one_line_error(result.stderr, "--max-bytes", "0")
    assert not (tmp_path / "out").exists()


def test_a_sparse_file_over_the_default_is_refused_before_it_is_read(
    tmp_path: Path, run_lltd
) -> None:
    huge = sparse(tmp_path / "in" / "huge.png", 2 * DEFAULT_MAX_BYTES)
    png(tmp_path / "in" / "a.png")
    result = run_lltd("defend", tmp_path / "in", "-o", tmp_path / "out")
    assert result.returncode == 1, result.stderr
    assert_one_line_error(result.stderr, "huge.png", "more than --max-bytes (1073741824)")
    assert (tmp_path / "out" / "a.png").exists()  # the batch goes on
    assert not (tmp_path / "out" / "failed" / "huge.png").exists()
    assert huge.stat().st_size == 2 * DEFAULT_MAX_BYTES


def test_a_failed_sparse_input_is_set_aside_byte_for_byte_without_filling_its_holes(
    tmp_path: Path, run_lltd
) -> None:
    bad = sparse(tmp_path / "in" / "bad.png", 256 << 20)
    with open(bad, "r+b") as file:  # a little data in the middle: a hole on each side
        file.seek(100 << 20)
        file.write(b"not a picture")
    if not holds_holes(bad):
        pytest.skip(f"{tmp_path}'s file system stores no holes")
    result = run_lltd("defend", tmp_path / "in", "-o", tmp_path / "out")
    assert_one_line_error(result.stderr, "bad.png", "not an image")
    copy = tmp_path / "out" / "failed" / "bad.png"
    assert copy.stat().st_size == bad.stat().st_size
    assert digest(copy) == digest(bad)
    assert holds_holes(copy), copy.stat()


def test_copy_extents_copies_data_holes_and_a_trailing_hole(tmp_path: Path) -> None:
    source = sparse(tmp_path / "source", 8 << 20)
    with open(source, "r+b") as file:
        file.write(b"head")
        file.seek(3 << 20)
        file.write(b"middle")
    target = tmp_path / "target"
    with open(source, "rb") as src, open(target, "wb") as dst:
        copy_extents(src.fileno(), dst.fileno(), source.stat().st_size)
    assert target.read_bytes() == source.read_bytes()


def test_an_input_that_grows_past_max_bytes_while_it_is_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 1000)
    with Folder.open(tmp_path) as folder, folder.open_input("a.png") as opened:
        assert Source.of_input(opened, "a.png", limit=1000)[0].size == 1000  # at the limit
        with open(path, "ab") as writer:  # a writer appends after the size was decided on
            writer.write(b"y" * 10)
        for keep in (0, 4096):  # hashed in pieces, or read whole to be decoded
            with pytest.raises(TooLarge, match="grew past --max-bytes"):
                Source.of_input(opened, "a.png", keep, limit=1000)
            chunks = list(opened.chunks(1000)) if keep == 0 else [opened.read_all(1000)]
            assert sum(map(len, chunks)) == 1001  # never more than one byte past the limit


def test_watch_refuses_an_oversized_upload_keeps_it_and_copies_nothing(tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    watch = Watch(tmp_path, inp, "-o", out, "-j", "1", "--max-bytes", "100000")
    try:
        watch.wait_ready()
        sparse(inp / "huge.png", 1 << 40)  # a terabyte, for free
        png(inp / "a.png")
        wait_until(lambda: (out / "a.png").exists(), 60, "a.png's output")
        wait_until(lambda: (inp / ".lltd" / "failed" / "huge.png").exists(), 60, "huge.png moved")
    finally:
        assert watch.stop() == 0, watch.stderr
    assert "huge.png: 1099511627776 bytes, more than --max-bytes (100000)" in watch.stderr
    assert not (out / "failed" / "huge.png").exists()
    kept = inp / ".lltd" / "failed" / "huge.png"
    assert kept.stat().st_size == 1 << 40  # moved by rename, not copied: nothing lost
    assert os.path.getsize(out / "failed" / "huge.png.error.txt") > 0


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_the_cluster_path_refuses_an_oversized_input_and_goes_on(
    tmp_path: Path, scheme: str
) -> None:
    """On a worker too (which checks the size before it copies an input into its scratch)."""
    pytest.importorskip("fsspec")
    from lltd.batch.engine import SerialRunner
    from lltd.batch.pipeline import execute
    from lltd.cluster.remote import plan_remote
    from lltd.jobs.defend import DefendJob

    if scheme == "file":
        base = f"file://{tmp_path}"
        sparse(tmp_path / "in" / "huge.png", 1 << 40)
        png(tmp_path / "in" / "a.png")
    else:
        import fsspec

        base = f"memory://lltd-input-cap-{os.getpid()}"
        memory = fsspec.filesystem("memory")
        memory.pipe(f"{base}/in/huge.png", b"\0" * 100_001)
        memory.pipe(f"{base}/in/a.png", png(tmp_path / "a.png").read_bytes())
    job = DefendJob(output_dir=f"{base}/out", max_bytes=100_000)  # type: ignore[arg-type]
    batch = plan_remote(f"{base}/in", job)
    batch.quiet = True
    results, _ = execute(batch, SerialRunner())
    errors = {Path(r.input).name: r.error for r in results}
    assert errors["a.png"] is None
    assert errors["huge.png"] is not None and "more than --max-bytes (100000)" in errors["huge.png"]
