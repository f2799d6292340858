"""The watch daemon's dispatcher (``lltd.watch.dispatch``), in-process on real drop folders: the
work item it builds field by field, what it refuses (filtered, gone, changed since it settled,
done before in keep mode, stopping), the ``--shared`` claim taken before submitting, and its
loop's bookkeeping (every reserved slot given back or used, every failure sent back through
settling with one line). The pool is a recorder: no worker process is started."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from lltd.fs.identity import Version
from lltd.watch.config import FolderConfig
from lltd.watch.dispatch import Dispatcher, Resettle
from lltd.watch.folders import Folder, open_folder
from lltd.watch.intake import Intake
from lltd.watch.settle import Settler, signature
from lltd.watch.shared import Claims
from lltd.watch.worker import WorkItem

Key = tuple[int, str]


class RecordingPool:
    """The pool's side of the dispatcher: slots counted, submissions recorded. After ``budget``
    reservations it stops the dispatcher, so that its loop runs in the test's own thread and
    ends, whatever a mutant does to it."""

    def __init__(self, accept: bool = True, budget: int = 6) -> None:
        self.accept = accept
        self.budget = budget
        self.free = True
        self.reserved = 0
        self.unreserved = 0
        self.submitted: list[tuple[Key, WorkItem, Version]] = []
        self.dispatcher: Dispatcher | None = None

    def reserve(self, timeout: float) -> bool:
        if self.reserved >= self.budget:
            assert self.dispatcher is not None
            self.dispatcher.stopped.set()
            return False
        self.reserved += 1
        return self.free

    def unreserve(self) -> None:
        self.unreserved += 1

    def submit(self, key: Key, item: WorkItem, sig: Version) -> bool:
        self.submitted.append((key, item, sig))
        return self.accept


def picture(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Version:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), colour).save(path)
    sig = signature(path)
    assert sig is not None
    return sig


class Setup:
    def __init__(self, tmp_path: Path, *, on_success: str = "move", shared: bool = False) -> None:
        self.inp, self.out = tmp_path / "in", tmp_path / "out"
        self.inp.mkdir()
        fc = FolderConfig(self.inp, self.out, action="flip", on_success=on_success)
        self.folder: Folder = open_folder(0, fc, shared=shared)
        self.intake: Intake[Key] = Intake(8)
        self.settler: Settler[Key] = Settler(1.0, clock=lambda: 0.0)
        self.pool = RecordingPool()
        self.errors: list[str] = []
        self.dispatcher = Dispatcher(
            [self.folder],
            self.intake,
            self.settler,
            self.pool,  # type: ignore[arg-type]
            self.errors.append,
            fsync=False,
        )
        self.pool.dispatcher = self.dispatcher

    def key(self, name: str) -> Key:
        return (0, str(self.folder.root / name))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    made = Setup(tmp_path)
    yield made
    made.folder.close()


def test_a_settled_file_becomes_a_work_item_with_every_field_of_its_folder(setup: Setup) -> None:
    root = setup.folder.root
    sig = picture(root / "sub" / "a.png")
    key = setup.key("sub/a.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key, sig)
    assert setup.dispatcher._submit(key) is True
    [(submitted_key, item, submitted_sig)] = setup.pool.submitted
    assert (submitted_key, submitted_sig) == (key, sig)
    out = setup.folder.output
    assert item.job is setup.folder.job
    assert item.task.source == root / "sub" / "a.png"
    assert item.task.relative == Path("sub/a.png")
    assert item.task.output == out / "sub" / "a_f.png"
    assert item.task.display == root / "sub" / "a.png"
    assert item.on_success == "move"
    assert item.state_dir == root / ".lltd"
    assert item.quarantine_dir == out / "failed"
    assert item.fsync is False
    assert (item.input_root, item.output_root) == (root, out)
    assert item.expect == sig
    assert item.root_identity == setup.folder.identity
    st = os.stat(root)
    assert item.root_identity == (st.st_dev, st.st_ino)


def test_fsync_is_passed_on_as_configured(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    try:
        made.dispatcher.fsync = True
        picture(made.folder.root / "a.png")
        assert made.dispatcher._submit(made.key("a.png")) is True
        assert made.pool.submitted[0][1].fsync is True
    finally:
        made.folder.close()


def test_a_file_found_without_a_settled_version_is_taken_as_it_is_now(setup: Setup) -> None:
    sig = picture(setup.folder.root / "a.png")
    assert setup.dispatcher._submit(setup.key("a.png")) is True
    assert setup.pool.submitted[0][2] == sig and setup.pool.submitted[0][1].expect == sig


def test_a_file_the_filter_refuses_is_not_submitted(setup: Setup) -> None:
    (setup.folder.root / "notes.txt").write_bytes(b"text")
    assert setup.dispatcher._submit(setup.key("notes.txt")) is False
    assert setup.pool.submitted == []


def test_a_file_gone_or_replaced_by_a_link_is_not_submitted(setup: Setup) -> None:
    root = setup.folder.root
    assert setup.dispatcher._submit(setup.key("gone.png")) is False
    picture(setup.folder.output / "target.png")
    (root / "link.png").symlink_to(setup.folder.output / "target.png")
    assert setup.dispatcher._submit(setup.key("link.png")) is False
    assert setup.pool.submitted == []


def test_a_file_written_to_since_it_settled_must_settle_again(setup: Setup) -> None:
    path = setup.folder.root / "a.png"
    old = picture(path)
    key = setup.key("a.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key, old._replace(mtime_ns=old.mtime_ns - 1))
    with pytest.raises(Resettle):
        setup.dispatcher._submit(key)
    assert setup.pool.submitted == []


def test_a_stopping_dispatcher_submits_nothing(setup: Setup) -> None:
    picture(setup.folder.root / "a.png")
    setup.dispatcher.stopped.set()
    assert setup.dispatcher._submit(setup.key("a.png")) is False
    assert setup.pool.submitted == []


def test_the_pools_refusal_is_the_answer(setup: Setup) -> None:
    picture(setup.folder.root / "a.png")
    setup.pool.accept = False
    assert setup.dispatcher._submit(setup.key("a.png")) is False
    assert len(setup.pool.submitted) == 1


def test_keep_mode_submits_a_version_the_journal_has_seen_only_once(tmp_path: Path) -> None:
    made = Setup(tmp_path, on_success="keep")
    try:
        path = made.folder.root / "a.png"
        sig = picture(path)
        journal = made.folder.journal
        assert journal is not None
        journal.record(made.folder.journal_key(path, sig), "converted", None)
        assert made.dispatcher._submit(made.key("a.png")) is False
        new = picture(path, (1, 2, 3))
        os.utime(path, ns=(sig.mtime_ns + 10**9, sig.mtime_ns + 10**9))
        assert made.dispatcher._submit(made.key("a.png")) is True
        assert made.pool.submitted[0][2] != sig and made.pool.submitted[0][2].ino == new.ino
    finally:
        made.folder.close()


def test_shared_claims_the_file_and_submits_the_claimed_copy(tmp_path: Path) -> None:
    made = Setup(tmp_path, shared=True)
    try:
        claims = made.folder.claims
        assert claims is not None
        root = made.folder.root
        sig = picture(root / "sub" / "a.png")
        key = made.key("sub/a.png")
        assert made.dispatcher._submit(key) is True
        [(_, item, submitted)] = made.pool.submitted
        claimed = claims.claimed_path(Path("sub/a.png"))
        assert item.task.source == claimed and claimed.is_file()
        assert not (root / "sub" / "a.png").exists()
        assert item.task.display == root / "sub" / "a.png"
        assert submitted == claims.held_version(Path("sub/a.png")) == item.expect
        assert submitted[:4] == sig[:4]  # the same file, renamed
        # A retry (or a takeover): the claimed copy, whatever the filter says of the name.
        assert made.dispatcher._submit(key) is True
        assert made.pool.submitted[1][1].task.source == claimed
        assert made.pool.submitted[1][2] == submitted
    finally:
        made.folder.close()


def test_shared_a_file_another_daemon_claimed_first_is_not_submitted(tmp_path: Path) -> None:
    made = Setup(tmp_path, shared=True)
    try:
        root = made.folder.root
        picture(root / "a.png")
        other = Claims(root, root / ".lltd", timeout=30, me="otherhost-1")
        other.start()
        assert other.claim(Path("a.png"), signature(root / "a.png")) is not None
        assert made.dispatcher._submit(made.key("a.png")) is False
        assert made.pool.submitted == []
    finally:
        made.folder.close()


def test_shared_a_claim_that_fails_submits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Setup(tmp_path, shared=True)
    try:
        claims = made.folder.claims
        assert claims is not None
        picture(made.folder.root / "a.png")
        monkeypatch.setattr(claims, "claim", lambda relative, sig: None)
        assert made.dispatcher._submit(made.key("a.png")) is False
        monkeypatch.setattr(claims, "claim", lambda relative, sig: made.folder.root / "a.png")
        assert made.dispatcher._submit(made.key("a.png")) is False  # claimed, yet not held
        assert made.pool.submitted == []
    finally:
        made.folder.close()


def test_retry_later_gives_the_claim_back_and_lets_the_file_settle_again(tmp_path: Path) -> None:
    made = Setup(tmp_path, shared=True)
    try:
        root = made.folder.root
        picture(root / "a.png")
        key = made.key("a.png")
        assert made.dispatcher._submit(key) is True
        assert not (root / "a.png").exists()
        made.dispatcher.retry_later(key)
        assert (root / "a.png").is_file()
        assert made.folder.claims is not None
        assert made.folder.claims.held_version(Path("a.png")) is None
        assert root / "a.png" in made.settler
        assert made.settler.forget(root / "a.png") == key
    finally:
        made.folder.close()


def test_retry_later_without_claims_only_tracks(setup: Setup) -> None:
    picture(setup.folder.root / "a.png")
    setup.dispatcher.retry_later(setup.key("a.png"))
    assert setup.settler.forget(setup.folder.root / "a.png") == setup.key("a.png")


def run_loop(made: Setup) -> None:
    made.dispatcher._loop()  # ends once the pool's budget of reservations is spent
    assert made.dispatcher.stopped.is_set()
    # Every slot reserved was either used by a submission the pool took or given back.
    taken = len(made.pool.submitted) if made.pool.accept else 0
    assert made.pool.reserved == made.pool.budget
    assert made.pool.unreserved == made.pool.reserved - taken


def test_the_loop_submits_queued_files_and_gives_back_idle_slots(setup: Setup) -> None:
    setup.pool.budget = 3
    for name in ("a.png", "b.png"):
        sig = picture(setup.folder.root / name)
        setup.intake.claim(setup.key(name))
        setup.intake.put_backlog(setup.key(name), sig)
    run_loop(setup)
    assert [k for k, _, _ in setup.pool.submitted] == [setup.key("a.png"), setup.key("b.png")]
    assert setup.pool.unreserved == 1  # the third slot found nothing to do
    assert setup.intake.known() == 2  # in flight: the pool's report releases them
    assert setup.errors == []


def test_the_loop_releases_a_file_it_did_not_submit(setup: Setup) -> None:
    setup.pool.budget = 1
    key = setup.key("gone.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key)
    run_loop(setup)
    assert setup.intake.known() == 0 and setup.intake.queued() == 0
    assert setup.pool.submitted == [] and setup.errors == []


def test_the_loop_releases_a_file_the_pool_refused(setup: Setup) -> None:
    setup.pool.budget = 1
    setup.pool.accept = False
    key = setup.key("a.png")
    sig = picture(setup.folder.root / "a.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key, sig)
    run_loop(setup)
    assert setup.intake.known() == 0 and len(setup.pool.submitted) == 1


def test_the_loop_sends_a_changed_file_back_to_settle_without_a_word(setup: Setup) -> None:
    setup.pool.budget = 1
    path = setup.folder.root / "a.png"
    sig = picture(path)
    key = setup.key("a.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key, sig._replace(size=sig.size + 1))
    run_loop(setup)
    assert path in setup.settler and setup.intake.queued() == 0
    assert setup.pool.submitted == [] and setup.errors == []
    assert setup.intake.known() == 1  # still ours: settling


def test_the_loop_survives_a_failure_says_so_in_one_line_and_tries_again_later(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup.pool.budget = 2
    path = setup.folder.root / "a\nb.png"
    sig = picture(path)
    key = (0, str(path))

    def refuse(_path: Path) -> Path:
        raise PermissionError(13, "Permission denied\nreally")

    monkeypatch.setattr(setup.folder, "output_for", refuse)
    setup.intake.claim(key)
    setup.intake.put_backlog(key, sig)
    run_loop(setup)
    assert setup.errors == [
        f"cannot start work on {setup.folder.root}/a\\nb.png: PermissionError: "
        "[Errno 13] Permission denied\\nreally; trying again"
    ]
    assert path in setup.settler and setup.intake.queued() == 0
    assert setup.pool.submitted == []


def test_the_loop_takes_nothing_while_no_slot_is_free(setup: Setup) -> None:
    setup.pool.free = False
    setup.pool.budget = 3
    key = setup.key("a.png")
    setup.intake.claim(key)
    setup.intake.put_backlog(key, picture(setup.folder.root / "a.png"))
    setup.dispatcher._loop()
    assert setup.intake.queued() == 1 and setup.pool.reserved == 3
    assert setup.pool.unreserved == 0 and setup.pool.submitted == []


def test_a_stopped_loop_reserves_nothing(setup: Setup) -> None:
    setup.dispatcher.stopped.set()
    setup.dispatcher._loop()
    assert setup.pool.reserved == 0


def test_run_stays_until_the_pool_has_drained(setup: Setup) -> None:
    setup.dispatcher.stopped.set()
    thread = threading.Thread(target=setup.dispatcher.run, daemon=True)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # the loop ended, the thread waits for the drain
    setup.dispatcher.drained.set()
    thread.join(30)
    assert not thread.is_alive()
