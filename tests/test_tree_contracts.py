"""lltd.fs.tree's contracts, in-process on real files (issue 27): a Folder is one descriptor of
that folder, closed once; children are made 0777 less the umask; ``stat`` describes the node
itself in the folder named; inputs are regular files only, blocking, read in 1 MiB pieces; the
seam runs before each step; ``remove`` and ``publish`` keep what changed, with exact words and
the hold name on disk; ``clear`` empties a whole tree by descriptor, follows no link and leaves no
descriptor open."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lltd.fs import seam, tree
from lltd.fs.identity import Identity, Version
from lltd.fs.resolve import RENAME_EXCHANGE, Escape
from lltd.fs.tree import Folder, NotRegular, Occupied

#: The documented piece size, written out (a test reading tree._CHUNK would follow a mutant).
MIB = 1_048_576


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as exc:
        return exc.errno == errno.EBADF
    return False


def _identity(path: Path) -> Identity:
    return Identity.of(os.stat(path))


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)  # this process only
    try:
        yield
    finally:
        os.umask(old)


# --- Folder: open, identity, close ----------------------------------------------------------------


def test_a_folder_is_one_descriptor_of_that_folder_with_its_identity_and_path(
    tmp_path: Path,
) -> None:
    with Folder.open(tmp_path) as folder:
        assert stat.S_ISDIR(os.fstat(folder.fd).st_mode)
        assert folder.identity == _identity(tmp_path)
        assert folder.identity == (os.stat(tmp_path).st_dev, os.stat(tmp_path).st_ino)
        assert folder.path == tmp_path
        assert os.get_inheritable(folder.fd) is False  # a child process never inherits a tree


def test_opening_a_file_as_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a file")
    before = _open_fds()
    with pytest.raises(NotADirectoryError):
        Folder.open(tmp_path / "a.png")
    assert _open_fds() == before


def test_close_releases_the_descriptor_sets_it_to_minus_one_and_a_second_close_is_harmless(
    tmp_path: Path,
) -> None:
    before = _open_fds()
    folder = Folder.open(tmp_path)
    fd = folder.fd
    folder.close()
    assert folder.fd == -1
    assert _closed(fd)
    assert _open_fds() == before
    # The number is free again: whatever reuses it is not closed by a second close().
    other = os.open(tmp_path, os.O_RDONLY)
    if other != fd:  # the lowest free number is fd itself unless another thread took it
        os.dup2(other, fd)
        os.close(other)
    try:
        folder.close()
        assert folder.fd == -1
        assert not _closed(fd)
    finally:
        os.close(fd)
    with Folder.open(tmp_path) as held:
        pass
    assert held.fd == -1


@contextlib.contextmanager
def _as_descriptor_zero(path: Path) -> Iterator[Identity]:
    """``path`` opened as descriptor 0 (put in place with dup2, so no other thread's open can
    take the number first); standard input is put back afterwards."""
    saved = os.dup(0)
    try:
        fd = os.open(path, os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        yield Identity.of(os.fstat(0))
    finally:
        os.dup2(saved, 0)
        os.close(saved)


def _released(identity: Identity) -> bool:
    """Descriptor 0 no longer holds ``identity``: closed (or reused by someone else since)."""
    return _closed(0) or Identity.of(os.fstat(0)) != identity


def test_a_folder_held_as_descriptor_zero_is_closed_like_any_other(tmp_path: Path) -> None:
    """A daemon started with its standard input closed opens its first folder as descriptor 0."""
    with _as_descriptor_zero(tmp_path) as held:
        folder = Folder(0, tmp_path)
        folder.close()
        assert folder.fd == -1
        assert _released(held)
        folder.close()  # again: harmless


# --- child, stat ----------------------------------------------------------------------------------


def test_child_without_create_refuses_a_missing_folder_and_makes_nothing(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    with Folder.open(tmp_path) as folder:
        with pytest.raises(FileNotFoundError):
            folder.child("missing/deeper")
        with folder.child("a/b") as below:
            assert below.identity == _identity(tmp_path / "a" / "b")
            assert below.path == tmp_path / "a" / "b"
        with folder.child("") as same:  # the folder itself, on a descriptor of its own
            assert same.fd != folder.fd and same.identity == folder.identity
            assert same.path == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002, 0o077])
def test_a_created_child_folder_gets_0777_less_the_umask_at_every_level(
    tmp_path: Path, mask: int
) -> None:
    (tmp_path / "x").mkdir(mode=0o700)  # already there: kept as it is
    with _umask(mask), Folder.open(tmp_path) as folder, folder.child("x/y/z", create=True) as made:
        assert made.identity == _identity(tmp_path / "x" / "y" / "z")
        assert made.path == tmp_path / "x/y/z"
    for level in (tmp_path / "x" / "y", tmp_path / "x" / "y" / "z"):
        assert stat.S_IMODE(os.stat(level).st_mode) == 0o777 & ~mask, oct(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "x").st_mode) == 0o700


def test_stat_describes_the_node_itself_in_the_folder_named_or_none(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(b"top")
    (tmp_path / "sub" / "a.png").write_bytes(b"the nested one")
    (tmp_path / "link.png").symlink_to("sub/a.png")
    (tmp_path / "sub" / "link.png").symlink_to("../a.png")
    (tmp_path / "linkdir").symlink_to("sub")
    with Folder.open(tmp_path) as folder:
        for name in ("a.png", "sub/a.png", "link.png", "sub/link.png", "linkdir"):
            found = folder.stat(name)
            assert found is not None, name
            assert (found.st_ino, found.st_mode) == (
                os.lstat(tmp_path / name).st_ino,
                os.lstat(tmp_path / name).st_mode,
            ), name
        assert stat.S_ISLNK(folder.stat("link.png").st_mode)  # type: ignore[union-attr]
        assert stat.S_ISLNK(folder.stat("sub/link.png").st_mode)  # type: ignore[union-attr]
        assert folder.stat("sub/a.png").st_size == len(b"the nested one")  # type: ignore[union-attr]
        # Nothing there, a file taken for a folder, a link taken for a folder: none.
        for name in ("missing", "sub/missing", "missing/a.png", "a.png/x", "linkdir/a.png"):
            assert folder.stat(name) is None, name


# --- inputs ---------------------------------------------------------------------------------------


def test_an_input_that_is_not_a_regular_file_is_refused_in_one_exact_line(tmp_path: Path) -> None:
    (tmp_path / "sub" / "dir.png").mkdir(parents=True)
    os.mkfifo(tmp_path / "sub" / "p.png")
    os.mkfifo(tmp_path / "p\n\x1b.png")
    before = _open_fds()
    with Folder.open(tmp_path) as folder:
        for name, message in [
            ("sub/p.png", "sub/p.png: not a regular file"),
            ("sub/dir.png", "sub/dir.png: not a regular file"),
            ("p\n\x1b.png", "p\\n\\x1b.png: not a regular file"),
        ]:
            with pytest.raises(NotRegular) as refused:
                folder.open_input(name)
            assert str(refused.value) == message
    assert _open_fds() == before


def test_an_opened_input_is_blocking_and_holds_the_folder_it_was_opened_in(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"content")
    before = _open_fds()
    with Folder.open(tmp_path) as folder, folder.open_input("sub/a.png") as opened:
        # Opened O_NONBLOCK (a FIFO must not block the open), cleared once it is a file: the
        # descriptor goes on to decoders and encoders that expect an ordinary one.
        assert os.get_blocking(opened.fd) is True
        assert opened.name == "a.png"
        assert opened.folder.identity == _identity(tmp_path / "sub")
        assert opened.version == Version.of(os.stat(tmp_path / "sub" / "a.png"))
        assert opened.read_all() == b"content"
    assert opened.fd == -1 and opened.folder.fd == -1
    assert _open_fds() == before


def test_a_duplicated_input_reads_the_same_file_and_closes_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"content")
    before = _open_fds()
    with Folder.open(tmp_path) as folder:
        opened = folder.open_input("sub/a.png")
        copy = opened.dup()
        assert {copy.fd, copy.folder.fd}.isdisjoint({opened.fd, opened.folder.fd})
        assert (copy.name, copy.version, copy.folder.path) == (
            "a.png",
            opened.version,
            tmp_path / "sub",
        )
        assert copy.folder.identity == _identity(tmp_path / "sub")
        opened.close()
        os.unlink(tmp_path / "sub" / "a.png")  # the very file, open, whatever its name does
        assert copy.read_all() == b"content"
        assert copy.folder.stat("a.png") is None
        copy.close()
    assert _open_fds() == before


def test_an_input_held_as_descriptor_zero_is_closed_like_any_other(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    with _as_descriptor_zero(tmp_path / "a.png") as held:
        opened = tree.Input(0, os.fstat(0), Folder.open(tmp_path), "a.png")
        opened.close()
        assert (opened.fd, opened.folder.fd) == (-1, -1)
        assert _released(held)
        opened.close()  # again: harmless


def test_names_of_several_components_reach_the_file_in_the_folder_they_name(
    tmp_path: Path,
) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    for folder, data in [(tmp_path, b"top"), (tmp_path / "a", b"a"), (tmp_path / "a" / "b", b"b")]:
        (folder / "f.png").write_bytes(data)
        (folder / "c.png").write_bytes(data)
    (deep / "f.png").write_bytes(b"the deepest")
    with Folder.open(tmp_path) as folder:
        for name, data in [
            ("a/b/c/f.png", b"the deepest"),
            ("a/b/f.png", b"b"),
            ("./a//f.png", b"a"),
        ]:
            with folder.open_input(name) as opened:
                assert opened.read_all() == data, name
                assert opened.folder.identity == _identity((tmp_path / name).parent), name
            found = folder.stat(name)
            assert found is not None and found.st_ino == os.stat(tmp_path / name).st_ino, name
        for name in ("", ".", "a/.."):
            with pytest.raises(OSError) as refused:
                folder.open_input(name)
            assert isinstance(refused.value, Escape), name
        with pytest.raises(Escape) as refused:
            folder.open_input("")
        assert (refused.value.errno, refused.value.strerror) == (errno.EINVAL, "no file name")


@pytest.mark.parametrize(
    ("size", "pieces"),
    [
        (MIB - 1, [MIB - 1]),
        (MIB, [MIB]),
        (MIB + 1, [MIB, 1]),
        (2 * MIB + 1, [MIB, MIB, 1]),
    ],
)
def test_an_input_is_read_in_pieces_of_exactly_one_mib(
    tmp_path: Path, size: int, pieces: list[int]
) -> None:
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    (tmp_path / "a.png").write_bytes(data)
    with Folder.open(tmp_path) as folder, folder.open_input("a.png") as opened:
        chunks = list(opened.chunks())
        assert [len(c) for c in chunks] == pieces
        assert b"".join(chunks) == data
        assert opened.read_all() == data


def test_the_first_piece_is_the_size_asked_then_pieces_of_one_mib_up_to_the_limit(
    tmp_path: Path,
) -> None:
    data = os.urandom(2 * MIB + 5)
    (tmp_path / "a.png").write_bytes(data)
    with Folder.open(tmp_path) as folder, folder.open_input("a.png") as opened:
        assert [len(c) for c in opened.chunks(first=10)] == [10, MIB, MIB - 5]
        assert [len(c) for c in opened.chunks(MIB + 3)] == [MIB, 4]  # limit + 1 in all
        assert [len(c) for c in opened.chunks(MIB - 1)] == [MIB]
        assert [len(c) for c in opened.chunks(MIB)] == [MIB, 1]  # the one byte past the limit
        assert [len(c) for c in opened.chunks(0)] == [1]
        assert len(opened.read_all(0)) == 1
        assert len(opened.read_all(MIB)) == MIB + 1
        assert b"".join(opened.chunks(first=10)) == data


def test_a_file_that_grew_after_it_was_opened_is_read_on_in_pieces_of_one_mib(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.png").write_bytes(b"x" * 100)
    with Folder.open(tmp_path) as folder, folder.open_input("a.png") as opened:
        assert opened.unchanged() is True
        with open(tmp_path / "a.png", "ab") as writer:
            writer.write(b"y" * (MIB + 1))
        assert [len(c) for c in opened.chunks(first=opened.st.st_size + 1)] == [101, MIB]
        assert opened.read_all() == b"x" * 100 + b"y" * (MIB + 1)
        assert opened.unchanged() is False


# --- the seam -------------------------------------------------------------------------------------


def test_the_seam_runs_before_each_step_with_the_folder_and_the_name_it_acts_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.png").write_bytes(b"original")
    (sub / "swapped.png").write_bytes(b"a file when planned")
    seen: list[tuple[str, Identity, str]] = []

    def hook(step: str, folder_fd: int, name: str) -> None:
        seen.append((step, Identity.of(os.fstat(folder_fd)), name))
        if (step, name) == ("open", "swapped.png"):
            os.unlink(sub / name)  # a FIFO in its place just before the open
            os.mkfifo(sub / name)
        if (step, name) == ("remove", "a.png"):
            with open(sub / name, "ab") as writer:  # a new version saved just before removal
                writer.write(b" and more")

    monkeypatch.setattr(seam, "_hook", hook)
    monkeypatch.setattr(seam, "_loaded", True)
    with Folder.open(tmp_path) as folder:
        with folder.open_input("sub/a.png") as opened:
            version = opened.version
        with pytest.raises(NotRegular):
            folder.open_input("sub/swapped.png")
        with folder.child("sub") as below:
            fd, temp = below.new_temporary("a.webp")
            os.close(fd)
            below.publish(temp, "a.webp")
            assert below.remove("a.png", version) == "it changed since it was converted"
    here, there = _identity(sub), _identity(tmp_path)
    assert there != here
    assert seen == [
        ("open", here, "a.png"),
        ("read", here, "a.png"),
        ("open", here, "swapped.png"),
        ("publish", here, "a.webp"),
        ("remove", here, "a.png"),
    ]
    assert (sub / "a.png").read_bytes() == b"original and more"


# --- remove ---------------------------------------------------------------------------------------


def _version(path: Path) -> Version:
    return Version.of(os.stat(path))


def test_remove_of_a_name_that_is_no_longer_there_says_it_is_gone(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    version = _version(tmp_path / "a.png")
    os.unlink(tmp_path / "a.png")
    with Folder.open(tmp_path) as folder:
        assert folder.remove("a.png", version) == "it is gone"
    assert list(tmp_path.iterdir()) == []


def test_remove_of_the_version_decided_on_unlinks_it_and_leaves_no_hold(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"a")
    (tmp_path / "b.png").write_bytes(b"b")
    with Folder.open(tmp_path) as folder:
        assert folder.remove("a.png", _version(tmp_path / "a.png")) is None
    assert [p.name for p in tmp_path.iterdir()] == ["b.png"]


def test_a_node_that_is_not_the_version_decided_on_is_never_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not even for an instant: a reader of the folder never misses a file that changed."""
    (tmp_path / "a.png").write_bytes(b"old")
    version = _version(tmp_path / "a.png")
    (tmp_path / "new").write_bytes(b"new")
    os.rename(tmp_path / "new", tmp_path / "a.png")  # saved by rename: another inode
    (tmp_path / "b.png").symlink_to("a.png")  # a link with a's version is not a's file
    os.mkfifo(tmp_path / "c.png")
    moves: list[tuple[object, ...]] = []
    real_rename, real_link = os.rename, os.link

    def spy_rename(*args: object, **kwargs: object) -> None:
        moves.append(("rename", *args))
        real_rename(*args, **kwargs)  # type: ignore[arg-type]

    def spy_link(*args: object, **kwargs: object) -> None:
        moves.append(("link", *args))
        real_link(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", spy_rename)
    monkeypatch.setattr(os, "link", spy_link)
    with Folder.open(tmp_path) as folder:
        for name in ("a.png", "b.png", "c.png"):
            assert folder.remove(name, version) == "it changed since it was converted", name
        link_version = Version.of(os.lstat(tmp_path / "b.png"))
        assert folder.remove("b.png", link_version) == "it changed since it was converted"
        # A link to the very version decided on is not that file: neither goes.
        current = _version(tmp_path / "a.png")
        assert folder.remove("b.png", current) == "it changed since it was converted"
    assert moves == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]
    assert (tmp_path / "b.png").is_symlink() and (tmp_path / "a.png").read_bytes() == b"new"


def _remove_changed_once_set_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, save_another: bool
) -> str | None:
    """``remove`` of a.png while a writer races it: right after the move aside, the node moved
    gets more bytes and, with ``save_another``, another file is saved under its name."""
    (tmp_path / "a.png").write_bytes(b"original")
    version = _version(tmp_path / "a.png")
    real = os.rename
    done: list[bool] = []

    def rename(src: str, dst: str, **kwargs: object) -> None:
        real(src, dst, **kwargs)  # type: ignore[arg-type]
        if not done:
            done.append(True)
            with open(tmp_path / dst, "ab") as writer:
                writer.write(b" and more")
            if save_another:
                (tmp_path / src).write_bytes(b"another, saved meanwhile")

    monkeypatch.setattr(os, "rename", rename)
    with Folder.open(tmp_path) as folder:
        return folder.remove("a.png", version)


def test_a_file_that_changes_once_set_aside_is_put_back_under_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = _remove_changed_once_set_aside(tmp_path, monkeypatch, save_another=False)
    assert why == "it changed since it was converted"
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert (tmp_path / "a.png").read_bytes() == b"original and more"


def test_a_changed_file_that_cannot_go_back_is_kept_under_a_hold_name_of_lltds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    why = _remove_changed_once_set_aside(tmp_path, monkeypatch, save_another=True)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1] == "a.png"
    hold = names[0]
    assert re.fullmatch(r"\.a\.png\.[0-9a-f]{12}\.lltd-hold", hold), hold
    assert why == f"it changed since it was converted (set aside as {hold})"
    assert (tmp_path / hold).read_bytes() == b"original and more"
    assert (tmp_path / "a.png").read_bytes() == b"another, saved meanwhile"


def test_a_file_removed_between_the_check_and_the_move_aside_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.png").write_bytes(b"original")
    version = _version(tmp_path / "a.png")
    real = os.rename

    def rename(src: str, dst: str, **kwargs: object) -> None:
        os.unlink(src, dir_fd=kwargs["src_dir_fd"])  # type: ignore[arg-type]
        real(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    with Folder.open(tmp_path) as folder:
        assert folder.remove("a.png", version) == "it is gone"
    assert list(tmp_path.iterdir()) == []


# --- publish --------------------------------------------------------------------------------------


def test_a_version_that_changes_during_the_exchange_is_put_back_and_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "a.webp"
    out.write_bytes(b"theirs")
    planned = _version(out)
    real = tree.renameat2
    calls: list[int] = []

    def renameat2(src_fd: int, src: str, dst_fd: int, dst: str, flags: int) -> None:
        calls.append(flags)
        if calls == [RENAME_EXCHANGE]:
            with open(out, "ab") as writer:  # same inode, written after the check
                writer.write(b", written meanwhile")
        real(src_fd, src, dst_fd, dst, flags)

    monkeypatch.setattr(tree, "renameat2", renameat2)
    with Folder.open(tmp_path) as folder:
        fd, temp = folder.new_temporary("a.webp")
        os.write(fd, b"ours")
        os.close(fd)
        with pytest.raises(Occupied) as kept:
            folder.publish(temp, "a.webp", replaces=planned)
        assert str(kept.value) == f"{out} changed during the run; it was kept"
        assert (tmp_path / temp).read_bytes() == b"ours"
        folder.discard(temp)
    assert calls == [RENAME_EXCHANGE, RENAME_EXCHANGE]  # in, then theirs back
    assert out.read_bytes() == b"theirs, written meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["a.webp"]


def test_publish_refuses_a_node_that_is_not_a_regular_file_naming_what_it_is(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.png").write_bytes(b"a file")
    (tmp_path / "link.webp").symlink_to("a.png")  # a link to a regular file is still a link
    os.mkfifo(tmp_path / "fifo.webp")
    (tmp_path / "dir.webp").mkdir()
    with Folder.open(tmp_path) as folder:
        for name, kind in [
            ("link.webp", "a symbolic link"),
            ("fifo.webp", "a FIFO"),
            ("dir.webp", "a folder"),
        ]:
            for replaces in (False, True, _version(tmp_path / "a.png")):
                fd, temp = folder.new_temporary(name)
                os.close(fd)
                with pytest.raises(Occupied) as refused:
                    folder.publish(temp, name, replaces=replaces)
                assert str(refused.value) == (
                    f"refusing to write {tmp_path / name}: it exists and is {kind}"
                )
                folder.discard(temp)
    assert (tmp_path / "link.webp").is_symlink() and (tmp_path / "a.png").read_bytes() == b"a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.png",
        "dir.webp",
        "fifo.webp",
        "link.webp",
    ]


# --- clear ----------------------------------------------------------------------------------------


def _populate(root: Path, outside: Path, levels: int, width: int) -> int:
    """``width`` folders and two files per folder, ``levels`` deep, with links out of the tree
    (to a folder, to a file, dangling) and a FIFO at each level; the number of nodes made."""
    made = 0
    current = [root]
    for level in range(levels):
        below = []
        for folder in current:
            for i in range(width):
                (folder / f"d{i}").mkdir()
                below.append(folder / f"d{i}")
            (folder / "a.png").write_bytes(b"a")
            (folder / ".hidden").write_bytes(b"h")
            (folder / "to-outside").symlink_to(outside, target_is_directory=True)
            (folder / "to-file").symlink_to(outside / "keep.png")
            (folder / "dangling").symlink_to(root / "nothing")
            os.mkfifo(folder / f"p{level}")
            made += width + 6
        current = below
    (current[0] / "empty").mkdir()
    return made + 1


def test_clear_empties_a_tree_of_several_levels_and_folders_and_follows_no_link(
    tmp_path: Path,
) -> None:
    root, outside = tmp_path / "out", tmp_path / "outside"
    root.mkdir()
    (outside / "inner").mkdir(parents=True)
    (outside / "keep.png").write_bytes(b"kept")
    (outside / "inner" / "deep.png").write_bytes(b"kept too")
    assert _populate(root, outside, levels=4, width=3) > 300
    before = _open_fds()
    with Folder.open(root) as folder:
        folder.clear()
        assert list(root.iterdir()) == []
        assert _identity(root) == folder.identity  # the folder itself stays
        folder.clear()  # an empty folder: nothing to do, no error
    assert _open_fds() == before
    assert sorted(str(p.relative_to(outside)) for p in outside.rglob("*")) == [
        "inner",
        "inner/deep.png",
        "keep.png",
    ]


def test_clear_empties_the_folder_it_holds_whatever_its_name_names_meanwhile(
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "a.png").write_bytes(b"a")
    with Folder.open(root) as folder:
        root.rename(tmp_path / "moved")
        root.mkdir()
        (root / "theirs.png").write_bytes(b"not ours")
        folder.clear()
    assert list((tmp_path / "moved").iterdir()) == []
    assert [p.name for p in root.iterdir()] == ["theirs.png"]


# -- temporaries and publishing, exactly ----------------------------------------------------------


def test_a_temporary_is_0600_with_a_12_digit_token(tmp_path: Path) -> None:
    old = os.umask(0)  # 0600 as asked, whatever the umask would take away
    try:
        with Folder.open(tmp_path) as folder:
            fd, temp = folder.new_temporary("a.png")
            try:
                assert re.fullmatch(r"\.a\.png\.[0-9a-f]{12}\.lltd-tmp", temp)
                assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
            finally:
                os.close(fd)
    finally:
        os.umask(old)


def test_a_temporary_name_taken_by_a_link_is_never_opened_and_gives_up_after_100_tries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("kept")
    draws: list[int] = []

    def fixed(n: int) -> bytes:
        draws.append(n)
        return b"\x00" * n

    monkeypatch.setattr(os, "urandom", fixed)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.png.000000000000.lltd-tmp").symlink_to(secret)
    with Folder.open(out) as folder, pytest.raises(FileExistsError) as refused:
        folder.new_temporary("a.png")
    assert str(refused.value) == f"no free temporary name beside {out / 'a.png'}"
    assert draws == [6] * 100
    assert secret.read_text() == "kept"


def test_publish_replaces_nothing_unless_told(tmp_path: Path) -> None:
    (tmp_path / "a.webp").write_bytes(b"theirs")
    with Folder.open(tmp_path) as folder:
        fd, temp = folder.new_temporary("a.webp")
        os.close(fd)
        with pytest.raises(Occupied) as refused:
            folder.publish(temp, "a.webp")
    assert str(refused.value) == f"{tmp_path / 'a.webp'} appeared during the run; it was kept"
    assert (tmp_path / "a.webp").read_bytes() == b"theirs"


def test_publish_keeps_a_file_that_changed_since_it_was_planned_in_those_words(
    tmp_path: Path,
) -> None:
    target = tmp_path / "a.webp"
    target.write_bytes(b"old")
    planned = Version.of(os.stat(target))
    target.write_bytes(b"newer and longer")
    with Folder.open(tmp_path) as folder:
        fd, temp = folder.new_temporary("a.webp")
        os.close(fd)
        with pytest.raises(Occupied) as refused:
            folder.publish(temp, "a.webp", replaces=planned)
    assert str(refused.value) == f"{target} changed since it was planned; it was kept"
    assert target.read_bytes() == b"newer and longer"


def test_publish_never_follows_a_link_swapped_in_for_the_temporary(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("private")
    out = tmp_path / "out"
    out.mkdir()
    with Folder.open(out) as folder:
        fd, temp = folder.new_temporary("a.webp")
        os.close(fd)
        os.unlink(out / temp)
        (out / temp).symlink_to(secret)  # a co-tenant's swap
        with contextlib.suppress(OSError):
            folder.publish(temp, "a.webp")
    published = out / "a.webp"
    assert not published.exists() or published.is_symlink()
    assert os.stat(secret).st_nlink == 1  # the private file was not linked into OUT
