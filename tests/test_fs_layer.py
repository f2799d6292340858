"""lltd.fs, the file layer by descriptor, on real files: names are resolved beneath a folder's
descriptor without following links, outputs never replace what was not decided on, removals
act only on the version decided on, and trees relate by identity (links, bind mounts)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.fs import resolve
from lltd.fs.identity import Version
from lltd.fs.locks import tree_locks
from lltd.fs.relation import Relation, relation
from lltd.fs.tree import Folder, NotRegular, Occupied

OPENERS = ["openat2", "walk"]


@pytest.fixture(params=OPENERS)
def opener(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "openat2":
        if not resolve.openat2_available():
            pytest.skip("this kernel has no openat2")
    else:
        monkeypatch.setattr(resolve, "_openat2", lambda: None)
    return request.param


def test_links_and_escapes_below_a_tree_are_never_followed(tmp_path: Path, opener: str) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (tree / "sub" / "a.png").write_bytes(b"mine")
    (tree / "link.png").symlink_to(outside / "secret.png")
    (tree / "inner.png").symlink_to(tree / "sub" / "a.png")
    (tree / "linkdir").symlink_to(outside)
    with Folder.open(tree) as folder:
        with folder.open_input("sub/a.png") as found:
            assert found.read_all() == b"mine"
            assert found.version == Version.of(os.stat(tree / "sub" / "a.png"))
        for name in ("link.png", "inner.png", "linkdir/secret.png", "../outside/secret.png"):
            with pytest.raises(OSError) as caught:
                folder.open_input(name).close()
            assert caught.value.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR), name
        with pytest.raises(OSError):
            folder.child("linkdir", create=True).close()
    assert not (outside / "linkdir").exists()


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, opener: str) -> None:
    os.mkfifo(tmp_path / "p.png")
    with Folder.open(tmp_path) as folder, pytest.raises(NotRegular):
        folder.open_input("p.png")


def _temp_with(folder: Folder, name: str, data: bytes) -> str:
    fd, temp = folder.new_temporary(name)
    os.write(fd, data)
    os.close(fd)
    return temp


def test_publish_never_replaces_what_was_not_decided_on(tmp_path: Path) -> None:
    with Folder.open(tmp_path) as folder:
        folder.publish(_temp_with(folder, "a.webp", b"one"), "a.webp", replaces=False)
        assert (tmp_path / "a.webp").read_bytes() == b"one"
        # Something appeared where nothing was planned: kept, ours is not published.
        temp = _temp_with(folder, "a.webp", b"two")
        with pytest.raises(Occupied):
            folder.publish(temp, "a.webp", replaces=False)
        assert (tmp_path / "a.webp").read_bytes() == b"one"
        # Replacing one known version: done; a file changed since: kept.
        planned = Version.of(os.stat(tmp_path / "a.webp"))
        folder.publish(temp, "a.webp", replaces=planned)
        assert (tmp_path / "a.webp").read_bytes() == b"two"
        temp = _temp_with(folder, "a.webp", b"three")
        with pytest.raises(Occupied):
            folder.publish(temp, "a.webp", replaces=planned)  # planned is the old inode
        assert (tmp_path / "a.webp").read_bytes() == b"two"
        folder.discard(temp)
        (tmp_path / "b.webp").symlink_to(tmp_path / "a.webp")
        temp = _temp_with(folder, "b.webp", b"x")
        with pytest.raises(Occupied):
            folder.publish(temp, "b.webp", replaces=True)
        folder.discard(temp)
    assert (tmp_path / "b.webp").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.webp", "b.webp"]


def test_remove_acts_only_on_the_version_decided_on(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(b"old")
    with Folder.open(tmp_path) as folder:
        with folder.open_input("a.png") as found:
            version = found.version
        # A new version saved by rename (a new inode), then in place (same inode, new mtime).
        (tmp_path / "new").write_bytes(b"new")
        os.rename(tmp_path / "new", photo)
        assert folder.remove("a.png", version) == "it changed since it was converted"
        assert photo.read_bytes() == b"new"
        with folder.open_input("a.png") as found:
            version = found.version
        os.utime(photo, ns=(1, 1))
        assert folder.remove("a.png", version) is not None
        assert photo.read_bytes() == b"new"
        version = Version.of(os.stat(photo))
        assert folder.remove("a.png", version) is None
    assert list(tmp_path.iterdir()) == []


def test_trees_relate_by_identity_through_links(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "new").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "alias").symlink_to(photos)

    def rel(a: Path, b: Path) -> Relation:
        with Folder.open(a) as first, Folder.open(b) as second:
            return relation(first, second)

    assert rel(photos / "new", photos) is Relation.INSIDE
    assert rel(photos, photos / "new") is Relation.CONTAINS
    assert rel(tmp_path / "alias", photos) is Relation.SAME
    assert rel(tmp_path / "alias" / "new", photos) is Relation.INSIDE
    assert rel(photos, tmp_path / "other") is Relation.APART


def test_a_bind_mount_of_a_folder_is_that_folder(tmp_path: Path) -> None:
    """In a private mount namespace (``unshare -m``): nothing changes for the machine."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to bind-mount in a private mount namespace")
    photos, mount = tmp_path / "photos", tmp_path / "mnt"
    (photos / "new").mkdir(parents=True)
    mount.mkdir()
    script = (
        "import sys; from lltd.fs.tree import Folder; from lltd.fs.relation import relation\n"
        "pairs = [(sys.argv[1], sys.argv[2]), (sys.argv[2] + '/new', sys.argv[1]),"
        " (sys.argv[1], sys.argv[2] + '/new')]\n"
        "print(' '.join(relation(Folder.open(a), Folder.open(b)).value for a, b in pairs))\n"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" "$2" && exec "$3" -c "$4" "$1" "$2"', "sh",
         str(photos), str(mount), sys.executable, script],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr and "Traceback" not in done.stderr:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["same", "inside", "contains"]


def test_runs_on_overlapping_trees_exclude_each_other(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "new").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    (tmp_path / "alias").symlink_to(photos)
    with Folder.open(photos) as writes, tree_locks(writes):
        for other in (photos, photos / "new", tmp_path / "alias"):
            with Folder.open(other) as folder, pytest.raises(UsageError):  # noqa: SIM117
                with tree_locks(folder):
                    pass
        with (
            Folder.open(tmp_path / "out") as out,
            Folder.open(photos / "new") as reads,
            pytest.raises(UsageError),
            tree_locks(out, reads),
        ):
            pass
        with Folder.open(tmp_path / "out") as out, tree_locks(out):
            pass  # an unrelated tree
    # Two runs that only read one folder run together; a writer on it is refused meanwhile.
    (tmp_path / "out2").mkdir()
    with (
        Folder.open(photos) as reads,
        Folder.open(tmp_path / "out") as out,
        tree_locks(out, reads),
        Folder.open(tmp_path / "out2") as out2,
    ):
        with tree_locks(out2, reads):
            pass
        with pytest.raises(UsageError), tree_locks(reads):
            pass


def test_the_clusters_local_storage_fetches_and_deletes_by_descriptor(tmp_path: Path) -> None:
    """A cluster run on a local folder (``file://``): a link in the tree is not fetched, and
    ``--r``'s deletion removes only the version that was fetched and converted."""
    pytest.importorskip("fsspec")
    from lltd.cluster.storage import Storage
    from lltd.fs.destination import UnsafeDestination

    tree, scratch = tmp_path / "tree", tmp_path / "scratch"
    tree.mkdir()
    scratch.mkdir()
    (tmp_path / "secret").write_bytes(b"secret")
    (tree / "link.png").symlink_to(tmp_path / "secret")
    (tree / "a.png").write_bytes(b"old version")
    storage = Storage.of(f"file://{tree}")
    with pytest.raises(OSError):
        storage.fetch("link.png", scratch / "link.png")
    assert not (scratch / "link.png").exists()
    storage.fetch("a.png", scratch / "a.png")
    assert (scratch / "a.png").read_bytes() == b"old version"
    (tmp_path / "new").write_bytes(b"new version, saved by rename")
    os.rename(tmp_path / "new", tree / "a.png")
    with pytest.raises(UnsafeDestination, match="original kept"):
        storage.delete("a.png")
    assert (tree / "a.png").read_bytes() == b"new version, saved by rename"
    storage.fetch("a.png", scratch / "b.png")
    storage.delete("a.png")
    assert not (tree / "a.png").exists()


def test_a_reader_of_a_folder_and_a_writer_inside_it_exclude_each_other(tmp_path: Path) -> None:
    """flock alone cannot tell a reader of ``photos`` from a writer's shared lock on it (the
    writer's tree ``photos/new`` lies inside): the record-lock marks do, in either order."""
    photos = tmp_path / "photos"
    (photos / "new").mkdir(parents=True)
    for out_name in ("out", "out2"):
        (tmp_path / out_name).mkdir()
    with (
        Folder.open(photos) as reads,
        Folder.open(tmp_path / "out") as out,
        Folder.open(photos / "new") as inner,
    ):
        with tree_locks(out, reads), pytest.raises(UsageError, match="reading"), tree_locks(inner):
            pass
        with tree_locks(inner), pytest.raises(UsageError, match="writing inside"):  # noqa: SIM117
            with tree_locks(out, reads):
                pass
        # Nothing is left held: both orders work again one after the other.
        with tree_locks(out, reads):
            pass
        with tree_locks(inner):
            pass


def test_the_daemons_steps_move_only_the_node_decided_on_and_remove_only_regular_files(
    tmp_path: Path,
) -> None:
    from lltd.fs import entries

    src, dst = tmp_path / "in", tmp_path / "done"
    src.mkdir()
    dst.mkdir()
    (src / "a.png").write_bytes(b"upload")
    settled = Version.of(os.lstat(src / "a.png"))
    with Folder.open(src) as s, Folder.open(dst) as d:
        assert entries.move_verified(s.fd, "a.png", d.fd, "a.png", settled) == "moved"
        assert entries.move_verified(s.fd, "a.png", d.fd, "a.png", settled) == "vanished"
        # Swapped between the caller's check and the rename: the other node goes back.
        (src / "b.png").write_bytes(b"other")
        assert entries.move_verified(s.fd, "b.png", d.fd, "b.png", settled) == "changed"
        assert (src / "b.png").read_bytes() == b"other" and not (dst / "b.png").exists()
        assert entries.link_new(s.fd, "b.png", "c.png") and not entries.link_new(
            s.fd, "b.png", "c.png"
        )
    # Path-named removals: our regular file goes; a link, a folder, another name stay.
    (tmp_path / "x").write_bytes(b"x")
    (tmp_path / ".s.json.1.lltd-tmp").symlink_to(tmp_path / "x")
    (tmp_path / ".s.json.2.lltd-tmp").write_bytes(b"")
    (tmp_path / ".s.json.lltd-tmp").write_bytes(b"")
    entries.remove_named(tmp_path, ".s.json.", ".lltd-tmp")
    entries.remove_file(tmp_path / "nothing-here")
    assert not (tmp_path / ".s.json.2.lltd-tmp").exists()
    assert (tmp_path / ".s.json.1.lltd-tmp").is_symlink() and (
        tmp_path / ".s.json.lltd-tmp"
    ).exists()
    entries.remove_file(tmp_path / ".s.json.1.lltd-tmp")
    entries.remove_file(tmp_path / "in")
    assert (tmp_path / ".s.json.1.lltd-tmp").is_symlink() and (tmp_path / "in").is_dir()
    entries.remove_file(tmp_path / "x")
    assert not (tmp_path / "x").exists()
