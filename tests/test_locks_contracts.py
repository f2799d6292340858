"""lltd.fs.locks' contracts, in-process on real folders (flock and OFD record locks conflict
between open file descriptions, so one process stands for two runs): each refusal's one line
word for word, the folder it names, a run that reads and writes one folder holding it
exclusively, and the record-lock marks other lltd runs (other versions included) look for:
byte 0 of the folder a run reads, byte 1 of every ancestor of the folder it writes."""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.fs.locks import tree_locks
from lltd.fs.tree import Folder

_LAYOUT = "hhqqi4x"  # struct flock: l_type, l_whence, l_start, l_len, l_pid


def _trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    photos, out = tmp_path / "photos", tmp_path / "out"
    (photos / "new").mkdir(parents=True)
    out.mkdir()
    return photos, photos / "new", out


def _refusal(writes: Path, reads: Path | None = None) -> str:
    with (
        Folder.open(writes) as w,
        Folder.open(reads or writes) as r,
        pytest.raises(UsageError) as caught,
        tree_locks(w, r if reads is not None else None),
    ):
        pass
    return str(caught.value)


def _mark(folder: Path, byte: int) -> tuple[int, int, int, int]:
    """The record lock another open file description holds on ``byte`` of ``folder``, as
    (type, whence, start, length); F_UNLCK first when there is none."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        query = struct.pack(_LAYOUT, fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
        return struct.unpack(_LAYOUT, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[:4]
    finally:
        os.close(fd)


def test_a_run_on_a_folder_a_writer_holds_is_refused_naming_that_folder(tmp_path: Path) -> None:
    photos, _, _ = _trees(tmp_path)
    with Folder.open(photos) as writes, tree_locks(writes):
        assert _refusal(photos) == f"another lltd run is using {photos}; wait for it to finish"


def test_a_writer_inside_a_folder_a_writer_holds_is_refused_naming_the_held_ancestor(
    tmp_path: Path,
) -> None:
    photos, inner, _ = _trees(tmp_path)
    with Folder.open(photos) as writes, tree_locks(writes):
        assert _refusal(inner) == (
            f"another lltd run is using {os.path.realpath(photos)}; wait for it to finish"
        )


def test_a_reader_of_a_folder_a_writer_works_inside_is_refused_naming_what_it_reads(
    tmp_path: Path,
) -> None:
    photos, inner, out = _trees(tmp_path)
    with Folder.open(inner) as writes, tree_locks(writes):
        assert _refusal(out, photos) == (
            f"another lltd run is writing inside {photos}; wait for it to finish"
        )


def test_a_writer_inside_a_folder_another_run_reads_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    photos, inner, out = _trees(tmp_path)
    with Folder.open(out) as writes, Folder.open(photos) as reads, tree_locks(writes, reads):
        assert _refusal(inner) == (
            f"another lltd run is reading {os.path.realpath(photos)}, which contains {inner}; "
            "wait for it to finish"
        )


def test_a_run_that_reads_and_writes_one_folder_holds_it_exclusively(tmp_path: Path) -> None:
    photos, _, out = _trees(tmp_path)
    with Folder.open(photos) as writes, Folder.open(photos) as reads, tree_locks(writes, reads):
        assert _refusal(out, photos) == (
            f"another lltd run is using {photos}; wait for it to finish"
        )
    with Folder.open(out) as writes, Folder.open(photos) as reads, tree_locks(writes, reads):
        pass  # released


def test_a_reader_marks_byte_0_of_its_folder_and_a_writer_byte_1_of_each_ancestor(
    tmp_path: Path,
) -> None:
    """Read locks of one byte each (runs that mark the same byte coexist), nothing else."""
    photos, inner, out = _trees(tmp_path)
    nothing = (fcntl.F_UNLCK, os.SEEK_SET, 0, 1)
    reader_mark = (fcntl.F_RDLCK, os.SEEK_SET, 0, 1)
    writer_mark = (fcntl.F_RDLCK, os.SEEK_SET, 1, 1)
    with Folder.open(out) as writes, Folder.open(photos) as reads, tree_locks(writes, reads):
        assert [_mark(photos, 0), _mark(photos, 1)] == [reader_mark, (fcntl.F_UNLCK, 0, 1, 1)]
        assert [_mark(out, 0), _mark(out, 1)] == [nothing, (fcntl.F_UNLCK, 0, 1, 1)]
        assert [_mark(tmp_path, 0), _mark(tmp_path, 1)] == [nothing, writer_mark]
        assert _mark(photos, 2)[0] == fcntl.F_UNLCK
    with Folder.open(inner) as writes, tree_locks(writes):
        assert [_mark(photos, 0), _mark(photos, 1)] == [nothing, writer_mark]
        assert _mark(tmp_path, 1) == writer_mark
        assert [_mark(inner, 0), _mark(inner, 1)] == [nothing, (fcntl.F_UNLCK, 0, 1, 1)]
    assert [_mark(photos, 0), _mark(photos, 1)] == [nothing, (fcntl.F_UNLCK, 0, 1, 1)]


def test_without_proc_the_held_ancestor_is_named_a_folder_that_contains_it(
    tmp_path: Path,
) -> None:
    """In a private mount namespace (``unshare -m``) whose /proc is an empty tmpfs: nothing
    changes for the machine."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to hide /proc in a private mount namespace")
    photos, inner, _ = _trees(tmp_path)
    script = (
        "import sys\n"
        "from lltd.common.errors import UsageError\n"
        "from lltd.fs.locks import tree_locks\n"
        "from lltd.fs.tree import Folder\n"
        "with Folder.open(sys.argv[1]) as w, tree_locks(w), Folder.open(sys.argv[2]) as i:\n"
        "    try:\n"
        "        with tree_locks(i):\n"
        "            print('not refused')\n"
        "    except UsageError as refused:\n"
        "        print(refused)\n"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs none /proc && exec "$1" -c "$2" "$3" "$4"', "sh",
         sys.executable, script, str(photos), str(inner)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot hide /proc here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "another lltd run is using a folder that contains it; wait for it to finish\n"
    )
