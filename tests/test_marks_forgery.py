"""Provenance against forgery (lltd.batch.marks): what stands between ``--r`` or a reused output and
a lost picture is the SHA-256, never the size and modification time alone. Each forgery keeps size
and mtime (``os.utime`` back) and must be recognised: an original with other bytes is not the
original the record names; an output with one byte flipped in its middle is not intact; a record
copied from another file names another file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from lltd.batch.marks import (
    XATTR,
    Mark,
    Source,
    intact,
    matches,
    read_mark,
    same_source,
    sha256_of,
    stamp,
    write_mark,
)
from lltd.batch.outcome import Outcome
from lltd.batch.plan import plan_local
from lltd.codecs import EncodeOptions
from lltd.jobs.compress import CompressJob


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def forge(path: Path, data: bytes) -> None:
    """Replace ``path``'s bytes with ``data`` of the same length, size and mtime kept."""
    before = path.stat()
    assert len(data) == before.st_size
    with open(path, "r+b") as stream:  # the same inode: its record stays on it
        stream.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    forge(path, bytes(data))


def with_record_of(output: Path, path: Path, data: bytes) -> Path:
    """``path`` holding ``data``, with a copy of ``output``'s record (xattr) on it."""
    write(path, data)
    os.setxattr(path, XATTR, os.getxattr(output, XATTR))
    return path


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, Path, Source]:
    """An input and the output a compress run made from it, with its record."""
    original = write(tmp_path / "in" / "a.png", b"the original picture, 40 bytes long....")
    output = write(tmp_path / "out" / "a.webp", b"the WebP made from it, also some bytes")
    source = Source.of(original, "a.png")
    stamp(output, "compress", source)
    return original, output, source


def test_an_untouched_original_and_output_are_recognised(made: tuple[Path, Path, Source]) -> None:
    original, output, source = made
    mark = read_mark(output)
    assert mark == Mark("compress", source, *sha256_of(output))
    assert same_source(mark, original, "a.png")
    assert intact(output, mark)
    assert matches(output, source, "compress")


def test_an_original_with_other_bytes_but_the_same_size_and_mtime_is_not_the_original(
    made: tuple[Path, Path, Source],
) -> None:
    original, output, source = made
    forge(original, original.read_bytes().upper())
    mark = read_mark(output)
    assert mark is not None
    assert not same_source(mark, original, "a.png")
    now = Source.of(original, "a.png")
    assert (now.size, now.mtime_ns) == (source.size, source.mtime_ns) and now != source
    assert not matches(output, now, "compress")


def test_an_output_with_a_byte_flipped_in_its_middle_is_not_intact(
    made: tuple[Path, Path, Source],
) -> None:
    _, output, source = made
    flip_middle_byte(output)
    mark = read_mark(output)
    assert mark is not None and mark.output_size == output.stat().st_size
    assert not intact(output, mark)
    assert not matches(output, source, "compress")


@pytest.mark.parametrize("where", ["first", "last"])
def test_an_output_with_its_first_or_last_byte_changed_is_not_intact(
    made: tuple[Path, Path, Source], where: str
) -> None:
    _, output, source = made
    data = bytearray(output.read_bytes())
    data[0 if where == "first" else -1] ^= 0x80
    forge(output, bytes(data))
    assert not matches(output, source, "compress")


def test_a_record_copied_onto_another_file_names_that_other_file_not_this_one(
    made: tuple[Path, Path, Source], tmp_path: Path
) -> None:
    original, output, source = made
    # Another output of the same size, and another input of the same size and mtime.
    size = output.stat().st_size
    other_output = with_record_of(output, tmp_path / "out" / "b.webp", b"X" * size)
    os.utime(other_output, ns=(output.stat().st_atime_ns, output.stat().st_mtime_ns))
    mark = read_mark(other_output)
    assert mark is not None
    assert not intact(other_output, mark)
    assert not matches(other_output, source, "compress")
    other_input = tmp_path / "in" / "b.png"
    shutil.copyfile(original, other_input)
    os.utime(other_input, ns=(source.mtime_ns, source.mtime_ns))
    # Same bytes, size and time, but another name: not the input the record names.
    assert not same_source(read_mark(output), other_input, "b.png")  # type: ignore[arg-type]
    assert not matches(output, Source.of(other_input, "b.png"), "compress")


def test_a_record_of_another_command_is_not_reused(made: tuple[Path, Path, Source]) -> None:
    _, output, source = made
    assert not matches(output, source, "defend")


def test_a_garbled_or_missing_record_is_no_record(made: tuple[Path, Path, Source]) -> None:
    _, output, source = made
    for garbage in (b"{", b"[]", b'{"command": "compress"}', b"\xff"):
        os.setxattr(output, XATTR, garbage)
        assert read_mark(output) is None
        assert not matches(output, source, "compress")
    os.removexattr(output, XATTR)
    assert read_mark(output) is None and not matches(output, source, "compress")


def test_a_gone_output_or_original_is_neither_intact_nor_the_source(
    made: tuple[Path, Path, Source],
) -> None:
    original, output, _ = made
    mark = read_mark(output)
    assert mark is not None
    original.unlink()
    assert not same_source(mark, original, "a.png")
    output.unlink()
    assert not intact(output, mark)


def test_a_link_to_the_intact_output_is_not_the_output(
    made: tuple[Path, Path, Source], tmp_path: Path
) -> None:
    _, output, _ = made
    mark = read_mark(output)
    assert mark is not None
    link = tmp_path / "out" / "link.webp"
    link.symlink_to(output)
    assert not intact(link, mark)
    # A link as long as the output (a link's size is its target's length): not the size rule
    # but its being a link keeps it out.
    same_size = tmp_path / "out" / "same-size.webp"
    target = "./" * ((mark.output_size - len(output.name)) // 2) + output.name
    same_size.symlink_to(target)
    assert os.lstat(same_size).st_size == mark.output_size
    assert not intact(same_size, mark)


def test_replace_keeps_the_output_of_an_original_forged_to_the_same_size_and_mtime(
    tmp_path: Path,
) -> None:
    """Under --r, the output of an original that changed since is the only copy of that
    picture: the planner must not write the new original's WebP over it."""
    src = tmp_path / "in"
    original = write(src / "a.png", b"first picture")
    output = write(src / "a.webp", b"an earlier output")
    stamp(output, "compress", Source.of(original, "a.png"))
    forge(original, b"FIRST PICTURE")
    job = CompressJob(output_dir=Path("unused"), options=EncodeOptions(quality=60), replace=True)
    run = plan_local(src, job)
    assert {t.relative.as_posix(): t.output.name for t in run.tasks} == {"a.png": "a.png.webp"}


def test_a_rerun_redoes_an_output_forged_in_its_middle_and_an_original_forged_in_place(
    tmp_path: Path, run_lltd, make_image
) -> None:
    """End to end: neither a forged output nor a forged original is taken as already done,
    while an untouched pair is."""
    from PIL import Image, PngImagePlugin

    src, out = tmp_path / "in", tmp_path / "out"
    for name in ("a.png", "c.png"):
        make_image(src / name, size=(64, 48))
    pixels = Image.open(make_image(tmp_path / "b.png", size=(64, 48))).copy()

    def save_b(note: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("note", note)  # the only difference: same length, same pixels
        pixels.save(tmp_path / "b-new.png", pnginfo=info)
        return (tmp_path / "b-new.png").read_bytes()

    write(src / "b.png", save_b("first"))
    first = run_lltd("compress", src, "-o", out, "-q", "70", "--quiet")
    assert first.returncode == 0, first.stderr
    made = {name: (out / name).read_bytes() for name in ("a.webp", "b.webp", "c.webp")}
    flip_middle_byte(out / "a.webp")
    forge(src / "b.png", save_b("other"))
    again = run_lltd("compress", src, "-o", out, "-q", "70", "--json", tmp_path / "r.json")
    assert again.returncode == 0, again.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    outcomes = {Path(r["input"]).name: r["outcome"] for r in report["files"]}
    done = Outcome.ALREADY_DONE.value
    assert outcomes == {"a.png": outcomes["a.png"], "b.png": outcomes["b.png"], "c.png": done}
    assert done not in (outcomes["a.png"], outcomes["b.png"])
    assert {name: (out / name).read_bytes() for name in made} == made  # redone, the same


@pytest.mark.parametrize(("keep", "kept"), [(0, False), (38, False), (39, True), (40, True)])
def test_an_input_of_at_most_keep_bytes_is_returned_with_its_description(
    tmp_path: Path, keep: int, kept: bool
) -> None:
    """The job decodes the very bytes the record's SHA-256 names, read once (39 bytes here)."""
    data = b"the original picture, 39 bytes long...."
    path = write(tmp_path / "a.png", data)
    source, returned = Source.read(path, "a.png", keep)
    assert returned == (data if kept else None)
    assert source == Source.of(path, "a.png") == Source.read(path, "a.png")[0]
    assert Source.read(path, "a.png")[1] is None  # nothing kept unless asked
    assert (source.size, source.sha256) == (39, hashlib.sha256(data).hexdigest())


def test_the_record_is_compact_sorted_json() -> None:
    mark = Mark("compress", Source("a.png", 3, 7, "ab"), 2, "cd")
    assert mark.to_bytes() == (
        b'{"command":"compress","output_sha256":"cd","output_size":2,'
        b'"source":{"mtime_ns":7,"name":"a.png","sha256":"ab","size":3}}'
    )
    assert Mark.from_bytes(mark.to_bytes()) == mark


def test_an_empty_input_is_returned_empty_and_one_byte_is_not_kept_unless_asked(
    tmp_path: Path,
) -> None:
    empty = write(tmp_path / "empty.png", b"")
    assert Source.read(empty, "empty.png")[1] == b""  # 0 bytes: at most keep (0)
    one = write(tmp_path / "one.png", b"x")
    assert Source.read(one, "one.png")[1] is None
    assert Source.read(one, "one.png", 1)[1] == b"x"


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """O_NONBLOCK: opening a FIFO with no writer must not block; it is not a regular file."""
    import errno
    import threading

    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    raised: list[BaseException] = []

    def describe() -> None:
        try:
            Source.of(fifo, "a.png")
        except OSError as exc:
            raised.append(exc)

    reader = threading.Thread(target=describe, daemon=True)  # left behind if it blocks
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "Source.of blocked on a FIFO"
    assert len(raised) == 1 and raised[0].errno == errno.EINVAL
    assert raised[0].strerror == "not a regular file" and raised[0].filename == str(fifo)


def test_a_link_carries_no_record_of_its_own_nor_its_targets(
    made: tuple[Path, Path, Source], tmp_path: Path
) -> None:
    """A link planted at an output's name is not the output: its target's record is not read
    through it, and stamping through it never writes on the target."""
    _, output, _ = made
    link = tmp_path / "out" / "link.webp"
    link.symlink_to(output)
    assert read_mark(output) is not None and read_mark(link) is None
    other = write(tmp_path / "out" / "other.webp", b"someone else's file")
    other_link = tmp_path / "out" / "other-link.webp"
    other_link.symlink_to(other)
    write_mark(other_link, read_mark(output))
    assert read_mark(other) is None


def test_a_file_of_several_read_chunks_is_measured_and_hashed_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * (5 * 4096 + 3)  # 5 MiB and 768 bytes: 6 reads of 1 MiB
    path = write(tmp_path / "big.webp", data)
    assert sha256_of(path) == (len(data), hashlib.sha256(data).hexdigest())
    source = Source.of(path, "big.webp")
    assert (source.size, source.sha256) == (len(data), hashlib.sha256(data).hexdigest())


# The jobs decide "already converted" on the output held open by descriptor (matches_input).
def _matches_by_descriptor(output: Path, source: Source, command: str = "compress") -> bool:
    from lltd.batch.marks import matches_input
    from lltd.fs.tree import Folder

    with Folder.open(output.parent).open_input(output.name) as opened:
        return matches_input(opened, source, command)


def test_by_descriptor_an_intact_output_of_this_input_matches(
    made: tuple[Path, Path, Source],
) -> None:
    _, output, source = made
    assert _matches_by_descriptor(output, source)
    assert not _matches_by_descriptor(output, source, "defend")


def test_by_descriptor_a_byte_flipped_in_the_middle_or_a_copied_record_does_not_match(
    made: tuple[Path, Path, Source], tmp_path: Path
) -> None:
    original, output, source = made
    other = with_record_of(output, tmp_path / "out" / "b.webp", b"Y" * output.stat().st_size)
    assert not _matches_by_descriptor(other, source)
    longer = with_record_of(output, tmp_path / "out" / "c.webp", output.read_bytes() + b"!")
    assert not _matches_by_descriptor(longer, source)
    flip_middle_byte(output)
    assert not _matches_by_descriptor(output, source)
    forge(original, original.read_bytes().upper())
    assert not _matches_by_descriptor(output, Source.of(original, "a.png"))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_record_on_a_file_another_user_owns_is_not_believed(
    made: tuple[Path, Path, Source],
) -> None:
    _, output, source = made
    os.chown(output, 12345, 12345)
    assert read_mark(output) is None
    assert not matches(output, source, "compress")
    assert not _matches_by_descriptor(output, source)


@pytest.mark.parametrize(("keep", "kept"), [(None, False), (0, False), (1, True), (2, True)])
def test_by_descriptor_an_input_of_at_most_keep_bytes_is_returned_read_once(
    tmp_path: Path, keep: int | None, kept: bool
) -> None:
    from lltd.fs.tree import Folder

    path = write(tmp_path / "a.png", b"x")
    with Folder.open(tmp_path).open_input("a.png") as opened:
        source, data = (
            Source.of_input(opened, "a.png")
            if keep is None
            else Source.of_input(opened, "a.png", keep)
        )
    assert data == (b"x" if kept else None)
    assert source == Source.of(path, "a.png")


def test_a_link_is_never_read_through_to_describe_or_hash_the_file_it_names(
    tmp_path: Path,
) -> None:
    """O_NOFOLLOW on the one open: a name swapped for a link to some file is refused, not read
    (the record would otherwise name another file's bytes)."""
    real = tmp_path / "real.png"
    real.write_bytes(b"bytes of another file")
    link = tmp_path / "input.png"
    link.symlink_to(real)
    with pytest.raises(OSError):
        Source.of(link, "input.png")
    with pytest.raises(OSError):
        sha256_of(link)
    assert Source.of(real, "real.png").sha256 == hashlib.sha256(real.read_bytes()).hexdigest()


def test_an_input_that_grows_past_max_bytes_is_refused_however_many_chunks_it_takes(
    tmp_path: Path,
) -> None:
    """The count is of every byte read, not of the last chunk: 1.5 MiB at the limit, then 10
    bytes more appended after the size was decided on, read in 1 MiB pieces."""
    from lltd.batch.marks import TooLarge
    from lltd.fs.tree import Folder

    limit = 3 << 19
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * limit)
    with Folder.open(tmp_path) as folder, folder.open_input("a.png") as opened:
        with open(path, "ab") as writer:
            writer.write(b"y" * 10)
        with pytest.raises(TooLarge) as raised:
            Source.of_input(opened, "a.png", limit=limit)
    assert str(raised.value) == f"grew past --max-bytes ({limit}) while it was read"
