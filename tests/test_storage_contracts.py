"""One folder tree on fsspec storage (lltd.cluster.storage), in-process on real local folders and
``memory://``: names, paths and URLs exactly; listings, facts and provenance records; fetch,
publish and delete with their limits and refusals (issue 27)."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

import pytest

pytest.importorskip("fsspec")

import fsspec

from lltd.batch.marks import Mark, Source, TooLarge, read_mark, write_mark
from lltd.cluster.storage import MARKS, FileInfo, Storage, _info, _timestamp
from lltd.common.errors import UsageError
from lltd.fs.destination import UnsafeDestination

BUCKET = "lltd-test-storage-contracts"
MTIME_NS = 1_700_000_000_500_000_000  # a float of seconds holds it exactly
MARK = Mark("compress", Source("a.png", 3, 5, "ab" * 32), 7, "cd" * 32)


@pytest.fixture
def memory() -> Iterator[Storage]:
    fs = fsspec.filesystem("memory")
    yield Storage(f"memory://{BUCKET}/tree")
    if fs.exists(f"/{BUCKET}"):
        fs.rm(f"/{BUCKET}", recursive=True)


def put(storage: Storage, relative: str, data: bytes) -> None:
    storage.fs.pipe_file(storage.path(relative), data)


def local_file(path: Path, data: bytes, mtime_ns: int = MTIME_NS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(MTIME_NS - 10**9, mtime_ns))
    return path


# --- what the backends say about a file ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (1.5, 1.5),
        (datetime(2024, 1, 2, tzinfo=UTC), 1704153600.0),
        (datetime(2024, 1, 2, 1, tzinfo=timezone(timedelta(hours=1))), 1704153600.0),
        ("2024-01-02T00:00:00Z", 1704153600.0),
        ("2024-01-02T00:00:00.000Z", 1704153600.0),
        ("2024-01-02T01:00:00+01:00", 1704153600.0),
        ("yesterday", None),
        (None, None),
        ([1704153600], None),
    ],
)
def test_each_backends_modification_time_reads_as_seconds(value: object, seconds: float) -> None:
    assert _timestamp(value) == seconds
    assert seconds is None or type(_timestamp(value)) is float


@pytest.mark.parametrize("key", ["mtime", "LastModified", "updated", "last_modified", "created"])
def test_each_backends_name_for_the_modification_time_is_read(key: str) -> None:
    assert _info({"size": 12, key: 7}) == FileInfo(12, 7.0)


def test_the_first_modification_time_that_reads_wins_and_a_missing_size_is_zero() -> None:
    assert _info({"mtime": 1, "LastModified": 2, "created": 3, "size": 4}) == FileInfo(4, 1.0)
    assert _info({"mtime": None, "updated": "bad", "last_modified": 9, "created": 3}) == FileInfo(
        0, 9.0
    )
    assert _info({"size": None}) == FileInfo(0, None)
    assert _info({"size": "12"}) == FileInfo(12, None)


def test_file_facts_are_values_equal_by_their_fields() -> None:
    assert FileInfo(3, 1.5) == FileInfo(3, 1.5) != FileInfo(3, None)
    assert len({FileInfo(3, 1.5), FileInfo(3, 1.5)}) == 1
    with pytest.raises(AttributeError):
        FileInfo(3, 1.5).size = 4  # type: ignore[misc]


# --- names, paths, URLs -----------------------------------------------------------------------


def test_of_makes_a_local_path_absolute_and_drops_trailing_slashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Storage.of("rel/dir/").location == f"{tmp_path}/rel/dir"
    assert Storage.of(Path("rel")).location == f"{tmp_path}/rel"
    assert Storage.of("memory://bucket/x/").location == "memory://bucket/x"
    assert Storage.of("memory://bucket/X//").location == "memory://bucket/X"
    assert Storage.of("s3://bucket/rel").location == "s3://bucket/rel"
    assert Storage.of("/").location == "/"


def test_equal_by_location_whatever_its_options_and_hashable() -> None:
    assert Storage("memory://b/x", {"k": 1}) == Storage("memory://b/x")
    assert hash(Storage("memory://b/x", {"k": 1})) == hash(Storage("memory://b/x"))
    assert Storage("memory://b/x") != Storage("memory://b/y")


def test_it_pickles_without_its_filesystem_and_keeps_its_options(tmp_path: Path) -> None:
    storage = Storage(f"file://{tmp_path}", {"auto_mkdir": True})
    assert storage.fs.auto_mkdir is True  # the options reach the filesystem
    assert storage.__getstate__() == {
        "location": f"file://{tmp_path}",
        "options": {"auto_mkdir": True},
    }
    copy = pickle.loads(pickle.dumps(storage))
    assert (copy.location, copy.options) == (storage.location, storage.options)
    assert "_fs" not in vars(copy)
    assert copy.fs.auto_mkdir is True


def test_an_unknown_scheme_is_one_usage_error_naming_the_location() -> None:
    with pytest.raises(UsageError) as caught:
        Storage("nosuch://b/x").fs  # noqa: B018
    assert str(caught.value) == "cannot open nosuch://b/x: Protocol not known: nosuch"


def test_backend_paths_and_user_urls_of_relative_names() -> None:
    storage = Storage("memory://b/x/")
    assert storage.path() == "/b/x"
    assert storage.path(".") == "/b/x"
    assert storage.path("/a/b.png/") == "/b/x/a/b.png"
    assert storage.path(PurePosixPath("a/c.png")) == "/b/x/a/c.png"
    assert storage.url("/a/b.png/") == "memory://b/x/a/b.png"
    assert storage.url(PurePosixPath("c.png")) == "memory://b/x/c.png"
    assert Storage("memory://b/X/").path("a") == "/b/X/a"  # only slashes stripped
    assert Storage("memory://b/X/").path("/X/") == "/b/X/X"
    assert Storage("memory://b/X/").url("/X/") == "memory://b/X/X"


def test_local_storages_are_local_under_the_file_protocol(tmp_path: Path) -> None:
    for location in (str(tmp_path), f"file://{tmp_path}"):
        storage = Storage.of(location)
        assert storage.is_local and storage.protocol == "file"
        assert storage.path("a") == f"{tmp_path}/a"
    memory = Storage("memory://b/x")
    assert not memory.is_local and memory.protocol == "memory"


def test_relative_to_names_the_folder_inside_another_or_none(tmp_path: Path) -> None:
    outer = Storage("memory://b/x")
    assert Storage("memory://b/x").relative_to(outer) == ""
    assert Storage("memory://b/x/sub/dir").relative_to(outer) == "sub/dir"
    assert Storage("memory://b/x2").relative_to(outer) is None  # a prefix, not a parent
    assert Storage("memory://b/Y").relative_to(Storage("memory://b/X")) is None
    assert Storage("memory://b/X/Y").relative_to(Storage("memory://b/X")) == "Y"
    assert Storage("memory://b").relative_to(outer) is None
    assert Storage.of(tmp_path / "x").relative_to(Storage.of(tmp_path)) == "x"
    assert Storage.of(tmp_path).relative_to(Storage.of("/")) == str(tmp_path)[1:]
    assert Storage.of(tmp_path / "x").relative_to(Storage(f"memory:/{tmp_path}")) is None


# --- listings and facts -----------------------------------------------------------------------


def test_is_dir_only_for_an_existing_folder(tmp_path: Path, memory: Storage) -> None:
    local_file(tmp_path / "f", b"x")
    assert Storage.of(tmp_path).is_dir()
    assert not Storage.of(tmp_path / "f").is_dir()
    assert not Storage.of(tmp_path / "missing").is_dir()
    put(memory, "a.png", b"x")
    assert memory.is_dir()
    assert not Storage(f"memory://{BUCKET}/tree/a.png").is_dir()


def test_a_store_that_fails_to_answer_has_no_such_folder_and_lists_nothing(
    memory: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(memory, "a.png", b"x")

    def fails(*args: object, **kwargs: object) -> None:
        raise OSError(5, "the store did not answer")

    def gone(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "removed since it was seen")

    with monkeypatch.context() as patch:  # undone before the fixture empties the store
        patch.setattr(memory.fs, "isdir", fails)
        patch.setattr(memory.fs, "find", gone)
        assert memory.is_dir() is False
        assert memory.listing_if_any() == {}  # it existed, then went before it was listed


def test_a_store_listing_folders_or_untyped_entries_lists_files_only(
    memory: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some backends list folder markers among files, or give no type (a file then) and no
    modification time (0 in a record, the fetched copy's own time kept)."""
    put(memory, "c.png", b"cc")
    root = memory.path()
    found = {
        f"{root}/sub": {"type": "directory", "size": 0},
        f"{root}/a.png": {"type": "file", "size": 1},
        f"{root}/c.png": {"size": 2},
    }
    with monkeypatch.context() as patch:
        patch.setattr(memory.fs, "find", lambda *args, **kwargs: found)
        patch.setattr(memory.fs, "info", lambda *args, **kwargs: {"size": 2})
        assert memory.listing() == {"a.png": FileInfo(1, None), "c.png": FileInfo(2, None)}
        assert memory.info("c.png") == FileInfo(2, None)
        assert memory.describe("c.png") == Source("c.png", 2, 0, hashlib.sha256(b"cc").hexdigest())
        patch.setattr(memory.fs, "info", lambda *args, **kwargs: {"size": 2, "type": "file"})
        memory.fetch("c.png", tmp_path / "c.png")  # no time to give the copy: its own kept
    assert (tmp_path / "c.png").read_bytes() == b"cc"


def test_a_storage_on_a_file_lists_nothing(memory: Storage) -> None:
    put(memory, "a.png", b"x")
    assert Storage(f"memory://{BUCKET}/tree/a.png").listing() == {}


def test_fresh_facts_and_fetches_ask_the_store_past_its_cached_listing(
    memory: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(memory, "sub/a.png", b"abc")
    forgotten: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(memory.fs, "invalidate_cache", forgotten.append)
        memory.info("sub/a.png")
        assert forgotten == []
        memory.info("sub/a.png", fresh=True)
        assert forgotten == [memory.path("sub/a.png")]
        memory.fetch("sub/a.png", tmp_path / "a.png")
        assert forgotten == [memory.path("sub/a.png")] * 2


def test_a_listing_names_every_file_below_by_relative_path_with_its_facts(
    tmp_path: Path, memory: Storage
) -> None:
    local_file(tmp_path / "in" / "a.png", b"abc")
    local_file(tmp_path / "in" / "sub" / "deep" / "b.png", b"hello", MTIME_NS + 10**9)
    (tmp_path / "in" / "empty").mkdir()
    local_file(tmp_path / "in2" / "c.png", b"beside, not below")
    assert Storage.of(tmp_path / "in").listing() == {
        "a.png": FileInfo(3, MTIME_NS / 1e9),
        "sub/deep/b.png": FileInfo(5, MTIME_NS / 1e9 + 1),
    }
    put(memory, "a.png", b"abc")
    put(memory, "sub/b.png", b"hello")
    memory.fs.pipe_file(f"/{BUCKET}/tree2/c.png", b"beside")
    memory.fs.pipe_file(f"/{BUCKET}/X/d.png", b"in a folder named X")
    assert Storage(f"memory://{BUCKET}/X").listing() == {
        "d.png": FileInfo(19, memory.fs.info(f"/{BUCKET}/X/d.png")["created"].timestamp())
    }
    listed = memory.listing()
    assert sorted(listed) == ["a.png", "sub/b.png"]
    assert listed["sub/b.png"].size == 5
    assert listed["a.png"].mtime == memory.fs.info(memory.path("a.png"))["created"].timestamp()


def test_a_missing_folder_lists_nothing_if_asked_for_any(tmp_path: Path, memory: Storage) -> None:
    assert Storage.of(tmp_path / "missing").listing_if_any() == {}
    assert memory.listing_if_any() == {}
    put(memory, "a.png", b"abc")
    assert list(memory.listing_if_any()) == ["a.png"]


def test_info_of_a_file_only(tmp_path: Path, memory: Storage) -> None:
    local_file(tmp_path / "sub" / "a.png", b"abcd")
    local = Storage.of(tmp_path)
    assert local.info("sub/a.png") == FileInfo(4, MTIME_NS / 1e9)
    assert local.info("sub/a.png", fresh=True) == FileInfo(4, MTIME_NS / 1e9)
    assert local.info("sub") is None
    assert local.info("missing.png") is None
    put(memory, "a.png", b"xy")
    assert memory.info("a.png", fresh=True).size == 2  # type: ignore[union-attr]
    assert memory.info("missing.png", fresh=True) is None


def test_describe_names_the_file_as_a_record_does(tmp_path: Path, memory: Storage) -> None:
    local_file(tmp_path / "sub" / "a.png", b"abcd")
    assert Storage.of(tmp_path).describe("sub/a.png") == Source(
        "sub/a.png", 4, MTIME_NS, hashlib.sha256(b"abcd").hexdigest()
    )
    assert Storage.of(tmp_path).describe("missing.png") is None
    put(memory, "a.png", b"xy")
    created = memory.fs.info(memory.path("a.png"))["created"].timestamp()
    assert memory.describe("a.png") == Source(
        "a.png", 2, int(created * 1e9), hashlib.sha256(b"xy").hexdigest()
    )


def test_a_local_file_is_described_to_the_nanosecond_as_its_record_names_it(
    tmp_path: Path,
) -> None:
    # 1_700_000_000.123456789 s has no exact float: through one it read ...123456768.
    local_file(tmp_path / "a.png", b"abcd", mtime_ns=1_700_000_000_123_456_789)
    assert Storage.of(tmp_path).describe("a.png") == Source.of(tmp_path / "a.png", "a.png")
    assert Storage.of(tmp_path).describe("a.png").mtime_ns == 1_700_000_000_123_456_789  # type: ignore[union-attr]
    (tmp_path / "sub").mkdir()
    assert Storage.of(tmp_path).describe("sub") is None


def test_provenance_records_on_the_file_locally_and_beside_the_tree_on_a_store(
    tmp_path: Path, memory: Storage
) -> None:
    write_mark(local_file(tmp_path / "a.webp", b"webp"), MARK)
    local_file(tmp_path / "b.webp", b"webp")
    assert Storage.of(tmp_path).read_mark("a.webp") == MARK
    assert Storage.of(tmp_path).read_mark("b.webp") is None
    put(memory, "a.webp", b"webp")
    memory.fs.pipe_file(memory.path(f"{MARKS}/a.webp"), MARK.to_bytes())
    assert MARKS == ".lltd/made"
    assert memory.read_mark("a.webp") == MARK
    assert memory.read_mark("b.webp") is None
    memory.fs.pipe_file(memory.path(f"{MARKS}/c.webp"), b"not a record")
    assert memory.read_mark("c.webp") is None


# --- fetch, publish, delete -------------------------------------------------------------------


def test_fetch_copies_a_local_file_with_its_times_into_new_folders(tmp_path: Path) -> None:
    local_file(tmp_path / "tree" / "sub" / "a.png", b"0123456789")
    local = Storage.of(tmp_path / "tree")
    local.fetch("sub/a.png", tmp_path / "scratch" / "deep" / "a.png", limit=10)
    copy = tmp_path / "scratch" / "deep" / "a.png"
    # The times the source had when it was opened: its read since may have moved its atime.
    assert (copy.stat().st_atime_ns, copy.stat().st_mtime_ns) == (MTIME_NS - 10**9, MTIME_NS)
    assert copy.read_bytes() == b"0123456789"
    local.fetch("sub/a.png", tmp_path / "scratch" / "deep" / "b.png")  # the folder exists now
    with pytest.raises(FileExistsError):  # never over a file already there
        local.fetch("sub/a.png", copy)


def test_fetch_refuses_a_file_over_the_limit_and_copies_nothing(
    tmp_path: Path, memory: Storage
) -> None:
    local_file(tmp_path / "tree" / "a.png", b"0123456789")
    for storage in (Storage.of(tmp_path / "tree"), memory):
        put(memory, "a.png", b"0123456789")
        target = tmp_path / storage.protocol / "a.png"
        with pytest.raises(TooLarge) as caught:
            storage.fetch("a.png", target, limit=9)
        assert str(caught.value) == "10 bytes, more than --max-bytes (9)"
        assert not target.exists()


def test_fetch_from_a_store_copies_the_bytes_with_the_objects_time(
    tmp_path: Path, memory: Storage
) -> None:
    put(memory, "sub/a.png", b"0123456789")
    created = memory.fs.info(memory.path("sub/a.png"))["created"].timestamp()
    target = tmp_path / "scratch" / "a.png"
    memory.fetch("sub/a.png", target, limit=10)
    assert target.read_bytes() == b"0123456789"
    assert target.stat().st_mtime == pytest.approx(created, abs=1e-6)
    with pytest.raises(FileNotFoundError):
        memory.fetch("missing.png", tmp_path / "scratch" / "m.png")


def test_publish_puts_the_file_and_its_record_in_place(tmp_path: Path, memory: Storage) -> None:
    made = local_file(tmp_path / "made.webp", b"webp bytes")
    write_mark(made, MARK)
    plain = local_file(tmp_path / "plain.webp", b"plain")
    tree = Storage.of(tmp_path / "tree")
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    tree.publish(made, "sub/a.webp")
    assert (tmp_path / "tree" / "sub" / "a.webp").read_bytes() == b"webp bytes"
    assert read_mark(tmp_path / "tree" / "sub" / "a.webp") == MARK
    assert sorted(os.listdir(tmp_path / "tree" / "sub")) == ["a.webp"]  # no temporary left
    memory.publish(made, "sub/a.webp")
    memory.publish(plain, "b.webp")
    assert memory.fs.cat_file(memory.path("sub/a.webp")) == b"webp bytes"
    assert memory.fs.cat_file(memory.path(f"{MARKS}/sub/a.webp")) == MARK.to_bytes()
    assert memory.fs.cat_file(memory.path("b.webp")) == b"plain"
    assert not memory.fs.exists(memory.path(f"{MARKS}/b.webp"))


def test_delete_removes_a_local_file_only_as_this_process_fetched_it(tmp_path: Path) -> None:
    tree = Storage.of(tmp_path / "tree")
    local_file(tmp_path / "tree" / "kept.png", b"never fetched")
    tree.delete("kept.png")
    assert (tmp_path / "tree" / "kept.png").exists()
    local_file(tmp_path / "tree" / "sub" / "a.png", b"old")
    tree.fetch("sub/a.png", tmp_path / "scratch" / "a.png")
    tree.delete("sub/a.png")
    assert not (tmp_path / "tree" / "sub" / "a.png").exists()
    tree.delete("sub/a.png")  # not fetched any more: nothing to do


def test_delete_keeps_a_local_file_replaced_since_it_was_fetched(tmp_path: Path) -> None:
    tree = Storage.of(tmp_path / "tree")
    local_file(tmp_path / "tree" / "a.png", b"old")
    tree.fetch("a.png", tmp_path / "scratch" / "a.png")
    local_file(tmp_path / "new", b"new version")
    os.rename(tmp_path / "new", tmp_path / "tree" / "a.png")
    with pytest.raises(UnsafeDestination) as caught:
        tree.delete("a.png")
    assert str(caught.value) == (
        f"{tmp_path}/tree/a.png: original kept: it changed since it was converted"
    )
    assert (tmp_path / "tree" / "a.png").read_bytes() == b"new version"


def test_delete_of_a_fetched_local_file_already_gone_says_nothing(tmp_path: Path) -> None:
    tree = Storage.of(tmp_path / "tree")
    local_file(tmp_path / "tree" / "sub" / "a.png", b"old")
    local_file(tmp_path / "tree" / "b.png", b"old")
    tree.fetch("sub/a.png", tmp_path / "scratch" / "a.png")
    tree.fetch("b.png", tmp_path / "scratch" / "b.png")
    (tmp_path / "tree" / "b.png").unlink()
    tree.delete("b.png")
    (tmp_path / "tree" / "sub" / "a.png").unlink()
    (tmp_path / "tree" / "sub").rmdir()
    tree.delete("sub/a.png")  # its folder gone too, and not made again
    assert sorted(os.listdir(tmp_path / "tree")) == []


def test_delete_on_a_store_removes_the_object_and_its_record(memory: Storage) -> None:
    put(memory, "a.webp", b"webp")
    put(memory, f"{MARKS}/a.webp", MARK.to_bytes())
    put(memory, "b.webp", b"no record")
    memory.delete("a.webp")
    memory.delete("b.webp")
    memory.delete("missing.webp")
    assert memory.listing() == {}


def test_remove_tree_says_whether_there_was_one(tmp_path: Path, memory: Storage) -> None:
    assert memory.remove_tree() is False
    put(memory, "sub/a.png", b"x")
    assert memory.remove_tree() is True
    assert not memory.fs.exists(memory.path())
    local_file(tmp_path / "tree" / "a.png", b"x")
    assert Storage.of(tmp_path / "tree").remove_tree() is True
    assert not (tmp_path / "tree").exists() and tmp_path.exists()
