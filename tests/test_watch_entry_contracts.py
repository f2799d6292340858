"""The contracts of lltd/watch/entry.py (issue 27), in-process, on real files: the file a work
item names is opened once, by descriptor, only while it is the file that settled (a link, a FIFO,
another version or another IN is refused, each with its own line), and the disposal moves or
deletes the name only while it still holds that very node ("moved", "deleted", "vanished",
"changed").

Expected values are literals: a changed outcome word or message must fail here."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lltd.batch.scan import Task
from lltd.fs.entries import move_verified
from lltd.fs.identity import Identity, Version
from lltd.watch.entry import NotSettled, Settled, open_settled


@dataclass
class Item:
    task: Task
    state_dir: Path
    input_root: Path | None = None
    expect: Version | None = None
    root_identity: tuple[int, int] | None = None


def _version(path: Path) -> Version:
    return Version.of(os.stat(path, follow_symlinks=False))


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """IN with its state folder and one settled upload, IN/sub/a.png."""
    root = tmp_path / "in"
    (root / ".lltd").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "sub" / "a.png").write_bytes(b"first upload")
    return root


def _item(root: Path, **given: object) -> Item:
    task = Task(root / "sub" / "a.png", Path("sub/a.png"), Path("/out/sub/a.png"))
    return Item(task, root / ".lltd", **given)  # type: ignore[arg-type]


def _open(item: Item) -> Settled:
    return open_settled(item)  # type: ignore[arg-type]


def _refused(item: Item) -> str:
    with pytest.raises(NotSettled) as refused:
        _open(item)
    return str(refused.value)


def test_the_settled_file_is_opened_below_the_state_folders_parent(drop: Path) -> None:
    expect = _version(drop / "sub" / "a.png")
    identity = Identity.of(os.stat(drop))
    with _open(_item(drop, expect=expect, root_identity=identity)) as settled:
        assert os.pread(settled.input.fd, 100, 0) == b"first upload"
        assert (settled.input.name, settled.input.version) == ("a.png", expect)
        assert os.fstat(settled.input.folder.fd).st_ino == os.stat(drop / "sub").st_ino
        fd = settled.input.fd
    with pytest.raises(OSError):
        os.fstat(fd)  # closed on leaving


def test_an_input_root_apart_from_the_state_folder_is_where_the_name_is_looked_up(
    drop: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state" / ".lltd"
    state.mkdir(parents=True)
    item = _item(drop, input_root=drop)
    item.state_dir = state
    with _open(item) as settled:
        assert os.pread(settled.input.fd, 100, 0) == b"first upload"


def test_another_folder_at_ins_path_is_refused(drop: Path) -> None:
    elsewhere = Identity.of(os.stat(drop.parent))
    assert _refused(_item(drop, root_identity=elsewhere)) == (
        f"{drop} is no longer the folder the daemon opened"
    )


def test_a_link_in_its_place_is_refused_and_not_followed(drop: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"not yours")
    (drop / "sub" / "a.png").unlink()
    (drop / "sub" / "a.png").symlink_to(tmp_path / "secret")
    assert _refused(_item(drop)) == "replaced by a symbolic link since it settled: not followed"


def test_a_fifo_in_its_place_is_refused(drop: Path) -> None:
    (drop / "sub" / "a.png").unlink()
    os.mkfifo(drop / "sub" / "a.png")
    assert _refused(_item(drop)) == "replaced by something that is not a regular file"


def test_another_version_than_the_one_that_settled_is_refused(drop: Path) -> None:
    settled = _version(drop / "sub" / "a.png")
    (drop / "sub" / "a.png").write_bytes(b"second upload, longer")
    assert _refused(_item(drop, expect=settled)) == "replaced or written to since it settled"


def test_a_file_gone_is_file_not_found(drop: Path) -> None:
    (drop / "sub" / "a.png").unlink()
    with pytest.raises(FileNotFoundError):
        _open(_item(drop))


def test_the_task_reads_the_descriptor_and_keeps_the_uploaded_name(drop: Path) -> None:
    item = _item(drop)
    with _open(item) as settled:
        task = settled.task(item.task)
        assert (task.source, task.relative, task.output) == (
            item.task.source,
            item.task.relative,
            item.task.output,
        )
        assert task.display == item.task.source and task.opened is settled.input
        claimed = Task(Path("/claims/a.png"), Path("a.png"), None, display=Path("/in/a.png"))
        assert settled.task(claimed).display == Path("/in/a.png")


def test_unchanged_until_somebody_writes_to_it(drop: Path) -> None:
    with _open(_item(drop)) as settled:
        assert settled.unchanged() is True
        with open(drop / "sub" / "a.png", "ab") as writer:
            writer.write(b" and more")
        assert settled.unchanged() is False


def _dest(tmp_path: Path) -> int:
    (tmp_path / "done").mkdir()
    return os.open(tmp_path / "done", os.O_RDONLY | os.O_DIRECTORY)


def test_move_to_moves_the_very_file(drop: Path, tmp_path: Path) -> None:
    dest = _dest(tmp_path)
    try:
        with _open(_item(drop)) as settled:
            assert settled.move_to(dest, "a.1.png") == "moved"
    finally:
        os.close(dest)
    assert (tmp_path / "done" / "a.1.png").read_bytes() == b"first upload"
    assert not (drop / "sub" / "a.png").exists()


def test_move_to_leaves_another_file_under_the_name(drop: Path, tmp_path: Path) -> None:
    dest = _dest(tmp_path)
    try:
        with _open(_item(drop)) as settled:
            (drop / "sub" / "b").write_bytes(b"somebody else's")
            os.rename(drop / "sub" / "b", drop / "sub" / "a.png")
            assert settled.move_to(dest, "a.png") == "changed"
    finally:
        os.close(dest)
    assert (drop / "sub" / "a.png").read_bytes() == b"somebody else's"
    assert list((tmp_path / "done").iterdir()) == []


def test_move_to_of_a_name_gone_is_vanished(drop: Path, tmp_path: Path) -> None:
    dest = _dest(tmp_path)
    try:
        with _open(_item(drop)) as settled:
            (drop / "sub" / "a.png").unlink()
            assert settled.move_to(dest, "a.png") == "vanished"
    finally:
        os.close(dest)


def _touch_ctime(path: Path) -> None:
    """Change the node's ctime and nothing else (a chmod), waiting out a coarse clock."""
    before = os.stat(path).st_ctime_ns
    deadline = time.monotonic() + 60
    while os.stat(path).st_ctime_ns == before and time.monotonic() < deadline:
        time.sleep(0.01)
        os.chmod(path, 0o600 if os.stat(path).st_mode & 0o44 else 0o644)
    assert os.stat(path).st_ctime_ns != before


def test_move_to_of_the_same_node_with_a_new_ctime_is_changed(drop: Path, tmp_path: Path) -> None:
    """Nothing but the ctime changed (a chmod, a link): still not the version opened."""
    dest = _dest(tmp_path)
    try:
        with _open(_item(drop)) as settled:
            _touch_ctime(drop / "sub" / "a.png")
            assert settled.move_to(dest, "a.png") == "changed"
    finally:
        os.close(dest)
    assert (drop / "sub" / "a.png").read_bytes() == b"first upload"


def test_remove_deletes_the_very_file(drop: Path) -> None:
    with _open(_item(drop)) as settled:
        assert settled.remove() == "deleted"
    assert not (drop / "sub" / "a.png").exists()


def test_remove_of_a_name_gone_is_vanished(drop: Path) -> None:
    with _open(_item(drop)) as settled:
        (drop / "sub" / "a.png").unlink()
        assert settled.remove() == "vanished"


def test_remove_leaves_another_file_under_the_name(drop: Path) -> None:
    with _open(_item(drop)) as settled:
        (drop / "sub" / "b").write_bytes(b"somebody else's")
        os.rename(drop / "sub" / "b", drop / "sub" / "a.png")
        assert settled.remove() == "changed"
    assert (drop / "sub" / "a.png").read_bytes() == b"somebody else's"


def test_a_name_gone_at_the_check_is_not_renamed_even_if_it_comes_back(
    drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rename is tried for a name the check found gone: an upload arriving under it between
    the check and the rename (played by a spy on the rename) stays where it is, unread."""
    from lltd.watch import entry

    tried: list[str] = []

    def arriving_then_move(src_fd: int, name: str, *rest: object) -> str:
        tried.append(name)
        (drop / "sub" / "a.png").write_bytes(b"a new upload")
        return move_verified(src_fd, name, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(entry, "move_verified", arriving_then_move)
    dest = _dest(tmp_path)
    try:
        with _open(_item(drop)) as settled:
            (drop / "sub" / "a.png").unlink()
            assert settled.move_to(dest, "a.png") == "vanished"
    finally:
        os.close(dest)
    assert tried == []
