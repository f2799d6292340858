"""How the watch daemon finds complete files (``lltd.watch.discovery``), in-process on real
folders: each sink decision (a close, a rename in, an open, a deletion, a new folder) under both
settle rules, the scanner's queue (a whole-folder scan absorbing the requests behind it) and its
scan (old files queued with their version, recent ones settling, filtered and known ones left),
``--shared`` takeovers, the observers and the overflow alarm. Clocks are fakes; nothing waits
on time except for a real observer's thread."""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from waiting import wait_for

from lltd.common.errors import LltdError
from lltd.watch import discovery
from lltd.watch.config import FolderConfig
from lltd.watch.discovery import (
    NATIVE_EVENTS,
    FolderSink,
    OverflowAlarm,
    Scanner,
    start_observer,
    take_over_orphans,
    watching,
)
from lltd.watch.folders import Folder, open_folder
from lltd.watch.intake import Intake
from lltd.watch.settle import OPEN_GRACE_FACTOR, Settler, signature
from lltd.watch.shared import Claims, daemon_id

Key = tuple[int, str]
SETTLE = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeDaemon:
    """The two queues of the daemon and a record of what the sinks asked of it."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.settler: Settler[Key] = Settler(SETTLE, clock=self.clock)
        self.intake: Intake[Key] = Intake(8)
        self.live: list[tuple[Key, object]] = []
        self.scans: list[tuple[Folder, Path]] = []

    def queue_live(self, key: Key, version: object) -> None:
        self.live.append((key, version))

    def request_scan(self, folder: Folder, directory: Path) -> None:
        self.scans.append((folder, directory))


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), (9, 8, 7)).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Folder]:
    (tmp_path / "in").mkdir()
    made = open_folder(0, FolderConfig(tmp_path / "in", tmp_path / "out", action="flip"))
    yield made
    made.close()


def key_of(folder: Folder, path: Path) -> Key:
    return (folder.index, str(path))


# -- the sink, "close" rule ---------------------------------------------------------------


def test_a_closed_file_is_queued_live_with_its_version(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.complete(path)
    assert daemon.live == [(key_of(folder, path), signature(path))]
    assert daemon.intake.known() == 1 and path not in daemon.settler
    sink.complete(path)  # closed again while queued: nothing more
    assert len(daemon.live) == 1


def test_a_closed_file_that_was_settling_is_queued_at_once(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.candidate(path)  # created: settling, and known
    assert path in daemon.settler and daemon.intake.known() == 1
    sink.complete(path)
    assert daemon.live == [(key_of(folder, path), signature(path))]
    assert path not in daemon.settler


def test_a_closed_file_gone_meanwhile_is_let_go(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    sink.complete(folder.root / "gone.png")
    assert daemon.live == [] and daemon.intake.known() == 0
    assert folder.root / "gone.png" not in daemon.settler


def test_an_empty_closed_file_settles_instead(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = folder.root / "empty.png"
    path.write_bytes(b"")
    sink.complete(path)
    assert daemon.live == [] and path in daemon.settler
    assert daemon.settler.forget(path) == key_of(folder, path)


def test_a_one_byte_file_is_no_placeholder(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = folder.root / "tiny.png"
    path.write_bytes(b"x")
    sink.complete(path)
    assert daemon.live == [(key_of(folder, path), signature(path))]


def test_a_rename_into_place_completes_under_either_rule(folder: Folder) -> None:
    for rule in ("close", "quiet"):
        daemon = FakeDaemon()
        sink = FolderSink(daemon, folder, rule)  # type: ignore[arg-type]
        path = picture(folder.root / f"{rule}.png")
        sink.moved_in(path)
        assert daemon.live == [(key_of(folder, path), signature(path))]
        assert sink.closes_complete is (rule == "close")  # the rule is put back


def test_a_rename_in_puts_the_rule_back_even_when_it_fails(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder, "quiet")  # type: ignore[arg-type]

    def broken(path: Path) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(discovery, "signature", broken)
    with pytest.raises(RuntimeError):
        sink.moved_in(picture(folder.root / "a.png"))
    assert sink.closes_complete is False


def test_opening_counts_and_closing_unwritten_uncounts_under_the_close_rule(
    folder: Folder,
) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.candidate(path)
    sink.opened(path)
    daemon.clock.now += SETTLE
    assert daemon.settler.due() == ([], [])  # open: held for the grace period
    sink.closed_unwritten(path)
    assert daemon.settler.due() == ([(path, key_of(folder, path))], [])


def test_an_open_under_the_close_rule_does_not_make_a_file_a_candidate(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.opened(path)
    assert path not in daemon.settler and daemon.intake.known() == 0


# -- the sink, "quiet" rule ---------------------------------------------------------------


def test_quiet_rule_a_close_is_no_completion_the_file_settles(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder, "quiet")  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.opened(path)  # a reopened file: a candidate again, and open
    assert path in daemon.settler
    sink.complete(path)  # its close: no longer open, settling
    assert daemon.live == []
    daemon.clock.now += SETTLE
    assert daemon.settler.due() == ([(path, key_of(folder, path))], [])


def test_quiet_rule_an_open_file_is_held_for_the_grace_period(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder, "quiet")  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.opened(path)
    daemon.clock.now += SETTLE * OPEN_GRACE_FACTOR - 0.5
    assert daemon.settler.due() == ([], [])


def test_a_candidate_restarts_the_settle_period_of_a_settling_file(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.candidate(path)
    daemon.clock.now += SETTLE / 2
    sink.candidate(path)  # written again
    daemon.clock.now += SETTLE / 2
    assert daemon.settler.due() == ([], [])
    daemon.clock.now += SETTLE / 2
    assert daemon.settler.due() == ([(path, key_of(folder, path))], [])


def test_a_queued_file_is_no_candidate(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    assert daemon.intake.claim(key_of(folder, path))  # queued or in flight
    sink.candidate(path)
    assert path not in daemon.settler


def test_a_deleted_settling_file_is_forgotten_and_released(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    path = picture(folder.root / "a.png")
    sink.candidate(path)
    sink.gone(path)
    assert path not in daemon.settler and daemon.intake.known() == 0
    queued = picture(folder.root / "b.png")
    daemon.intake.claim(key_of(folder, queued))
    sink.gone(queued)  # queued, not settling: the dispatcher finds it gone
    assert daemon.intake.known() == 1


def test_a_new_folder_is_scanned(folder: Folder) -> None:
    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    sink.directory(folder.root / "sub")
    assert daemon.scans == [(folder, folder.root / "sub")]


# -- the scanner ------------------------------------------------------------------------------


def aged(path: Path, seconds: float) -> Path:
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def test_a_scan_queues_old_files_with_their_version_and_lets_recent_ones_settle(
    folder: Folder,
) -> None:
    daemon = FakeDaemon()
    warnings_: list[str] = []
    scanner = Scanner(daemon, 10.0, warnings_.append)  # type: ignore[arg-type]
    root = folder.root
    old_b = aged(picture(root / "b.png"), 60)
    old_a = aged(picture(root / "sub" / "a.png"), 60)
    old_c = aged(picture(root / "c.png"), 60)
    recent = aged(picture(root / "recent.png"), 5)
    aged(picture(root / ".hidden" / "x.png"), 60)  # a dot folder
    (root / "d.png.part").write_bytes(b"partial")  # a partial upload
    aged(root / "d.png.part", 60)
    (root / "notes.txt").write_bytes(b"text")
    queued = aged(picture(root / "queued.png"), 60)
    daemon.intake.claim(key_of(folder, queued))
    scanner.scan(folder, root)
    taken = []
    while (key := daemon.intake.take(timeout=0)) is not None:
        taken.append((key, daemon.intake.settled(key)))
    assert taken == [
        (key_of(folder, p), signature(p)) for p in (old_b, old_c, old_a)
    ]  # sorted names, the folder's own files first
    assert daemon.intake.split() == (0, 0)
    assert recent in daemon.settler and len(daemon.settler) == 1
    assert daemon.intake.known() == 5  # three queued, one settling, one queued before
    assert warnings_ == []


def test_a_scan_of_a_subfolder_goes_no_higher(folder: Folder) -> None:
    daemon = FakeDaemon()
    scanner = Scanner(daemon, 1.0, lambda line: None)  # type: ignore[arg-type]
    aged(picture(folder.root / "top.png"), 60)
    below = aged(picture(folder.root / "sub" / "deep" / "a.png"), 60)
    scanner.scan(folder, folder.root / "sub")
    assert daemon.intake.take(timeout=0) == key_of(folder, below)
    assert daemon.intake.take(timeout=0) is None


def test_a_scan_skips_what_keep_mode_has_done(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    fc = FolderConfig(tmp_path / "in", tmp_path / "out", action="flip", on_success="keep")
    folder = open_folder(0, fc)
    try:
        done = aged(picture(folder.root / "done.png"), 60)
        sig = signature(done)
        assert sig is not None and folder.journal is not None
        folder.journal.record(folder.journal_key(done, sig), "converted", None)
        new = aged(picture(folder.root / "new.png"), 60)
        daemon = FakeDaemon()
        Scanner(daemon, 1.0, lambda line: None).scan(folder, folder.root)  # type: ignore[arg-type]
        assert daemon.intake.take(timeout=0) == key_of(folder, new)
        assert daemon.intake.take(timeout=0) is None and daemon.intake.known() == 1
    finally:
        folder.close()


def test_a_scan_skips_links_and_says_which_folder_it_could_not_list(folder: Folder) -> None:
    daemon = FakeDaemon()
    said: list[str] = []
    scanner = Scanner(daemon, 1.0, said.append)  # type: ignore[arg-type]
    target = aged(picture(folder.output / "t.png"), 60)
    (folder.root / "link.png").symlink_to(target)
    scanner.scan(folder, folder.root / "missing\nfolder")
    scanner.scan(folder, folder.root)
    assert daemon.intake.known() == 0
    assert said == [f"cannot scan {folder.root}/missing\\nfolder: No such file or directory"]


def test_scan_requests_are_absorbed_by_a_whole_folder_scan_and_run_in_order(
    folder: Folder,
) -> None:
    daemon = FakeDaemon()
    scanner = Scanner(daemon, 1.0, lambda line: None)  # type: ignore[arg-type]
    sub = folder.root / "sub"
    scanner.request(folder, sub)
    scanner.request(folder, sub)  # a subfolder twice: twice
    scanner.request(folder, folder.root)
    scanner.request(folder, sub)  # behind a whole scan: absorbed
    scanner.request(folder, folder.root)
    assert scanner._pending == [(folder, sub), (folder, sub), (folder, folder.root)]


def test_the_scanner_scans_each_request_in_order_and_stops_when_told(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = FakeDaemon()
    said: list[str] = []
    scanner = Scanner(daemon, 1.0, said.append)  # type: ignore[arg-type]
    scanned: list[Path] = []

    def scan(folder_: Folder, directory: Path) -> None:
        scanned.append(directory)
        if directory.name == "bad":
            raise PermissionError(13, "Permission denied")
        scanner.stop()  # the last request: run() returns

    monkeypatch.setattr(scanner, "scan", scan)
    scanner.request(folder, folder.root / "bad")
    scanner.request(folder, folder.root / "good")
    scanner.run()  # in this thread: it ends once told to stop
    assert scanned == [folder.root / "bad", folder.root / "good"]
    assert said == [f"cannot scan {folder.root / 'bad'}: [Errno 13] Permission denied"]


def test_a_waiting_scanner_thread_wakes_for_a_request_and_for_stop(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanner = Scanner(FakeDaemon(), 1.0, lambda line: None)  # type: ignore[arg-type]
    scanned: list[Path] = []
    monkeypatch.setattr(scanner, "scan", lambda f, d: scanned.append(d))
    thread = threading.Thread(target=scanner.run, daemon=True)
    thread.start()
    scanner.request(folder, folder.root)
    wait_for(lambda: scanned or not thread.is_alive(), "a scan")
    scanner.stop()
    thread.join(30)
    assert not thread.is_alive() and scanned == [folder.root]


def test_a_stopped_scanner_scans_nothing_left_pending(folder: Folder) -> None:
    daemon = FakeDaemon()
    scanner = Scanner(daemon, 1.0, lambda line: None)  # type: ignore[arg-type]
    aged(picture(folder.root / "a.png"), 60)
    scanner.request(folder, folder.root)
    scanner.stop()
    scanner.run()  # returns at once
    assert daemon.intake.known() == 0


# -- --shared takeovers ---------------------------------------------------------------------------


def test_a_dead_daemons_claims_are_taken_over_queued_and_announced(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "plain").mkdir()
    plain = open_folder(0, FolderConfig(tmp_path / "plain", tmp_path / "o1", action="flip"))
    fc = FolderConfig(tmp_path / "in", tmp_path / "out", action="flip")
    shared = open_folder(1, fc, shared=True)
    try:
        root = shared.root
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        dead = f"{daemon_id().rpartition('-')[0]}-{pid_max + 1}"  # no process has that PID
        other = Claims(root, root / ".lltd", timeout=30, me=dead)
        other.start()
        for name in ("a.png", "sub/b.png"):
            picture(root / name)
            assert other.claim(Path(name), signature(root / name)) is not None
        intake: Intake[Key] = Intake(4)
        said: list[str] = []
        take_over_orphans([plain, shared], intake, said.append)
        assert said == [f"took over 2 file(s) claimed by {dead}, which stopped answering"]
        keys = {intake.take(timeout=0), intake.take(timeout=0)}
        assert keys == {(1, str(root / "a.png")), (1, str(root / "sub" / "b.png"))}
        assert intake.split() == (0, 0) and intake.settled((1, str(root / "a.png"))) is None
        said.clear()
        take_over_orphans([plain, shared], intake, said.append)  # nothing left to take
        assert said == [] and intake.queued() == 0
    finally:
        shared.close()
        plain.close()


def test_a_taken_over_file_already_known_is_not_queued_twice(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shared = open_folder(0, FolderConfig(tmp_path / "in", tmp_path / "out"), shared=True)
    try:
        root = shared.root
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
        dead = f"{daemon_id().rpartition('-')[0]}-{pid_max + 1}"
        other = Claims(root, root / ".lltd", timeout=30, me=dead)
        other.start()
        picture(root / "a.png")
        assert other.claim(Path("a.png"), signature(root / "a.png")) is not None
        intake: Intake[Key] = Intake(4)
        intake.claim((0, str(root / "a.png")))
        take_over_orphans([shared], intake, lambda line: None)
        assert intake.queued() == 0
    finally:
        shared.close()


def test_claims_that_cannot_be_tended_are_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in\nx").mkdir()
    shared = open_folder(0, FolderConfig(tmp_path / "in\nx", tmp_path / "out"), shared=True)
    try:
        assert shared.claims is not None

        def tend() -> list:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(shared.claims, "tend", tend)
        said: list[str] = []
        take_over_orphans([shared], Intake(1), said.append)
        assert said == [
            f"cannot tend the claims under {tmp_path}/in\\nx: [Errno 13] Permission denied"
        ]
    finally:
        shared.close()


# -- observers ------------------------------------------------------------------------------------


def test_a_polling_observer_polls_at_half_the_settle_period_within_bounds(folder: Folder) -> None:
    daemon = FakeDaemon()
    for settle, timeout in ((0.1, 0.1), (0.5, 0.25), (1.0, 0.5), (2.0, 1.0), (10.0, 1.0)):
        sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
        observer = start_observer(folder, sink, True, settle)
        try:
            assert observer.timeout == timeout
            assert observer.daemon is True and watching(observer)
        finally:
            observer.stop()
            observer.join(30)
        assert not watching(observer)


def test_the_native_observer_sees_a_file_closed_in_the_folder(folder: Folder) -> None:
    from watchdog.observers.inotify import InotifyFullEmitter

    daemon = FakeDaemon()
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    observer = start_observer(folder, sink, False, 1.0)
    try:
        assert observer.daemon is True and watching(observer)
        [emitter] = observer.emitters
        assert isinstance(emitter, InotifyFullEmitter)  # a move in is one event, not two
        assert emitter._event_filter == frozenset(NATIVE_EVENTS)
        path = picture(folder.root / "a.png")
        wait_for(lambda: daemon.live or not watching(observer), "the close of a.png")
        assert daemon.live == [(key_of(folder, path), signature(path))]
    finally:
        observer.stop()
        observer.join(30)


def test_a_folder_that_cannot_be_watched_is_one_line_with_a_hint(
    tmp_path: Path, folder: Folder
) -> None:
    gone = tmp_path / "gone"
    daemon = FakeDaemon()
    folder.root = gone  # type: ignore[misc]
    sink = FolderSink(daemon, folder)  # type: ignore[arg-type]
    with pytest.raises(LltdError) as caught:
        start_observer(folder, sink, False, 1.0)
    assert str(caught.value) == (
        f"cannot watch {gone}: No such file or directory "
        "(raise fs.inotify.max_user_watches, or use --polling)"
    )


def test_a_folder_that_cannot_be_polled_is_one_line_without_the_inotify_hint(
    tmp_path: Path, folder: Folder
) -> None:
    folder.root = tmp_path / "gone"  # type: ignore[misc]
    sink = FolderSink(FakeDaemon(), folder)  # type: ignore[arg-type]
    with pytest.raises(LltdError) as caught:
        start_observer(folder, sink, True, 1.0)
    assert str(caught.value) == f"cannot watch {tmp_path / 'gone'}: No such file or directory"


def test_the_native_observer_watches_the_whole_tree(folder: Folder) -> None:
    (folder.root / "sub" / "deeper").mkdir(parents=True)
    daemon = FakeDaemon()
    observer = start_observer(folder, FolderSink(daemon, folder), False, 1.0)  # type: ignore[arg-type]
    try:
        path = picture(folder.root / "sub" / "deeper" / "a.png")
        wait_for(lambda: daemon.live or not watching(observer), "the close of sub/deeper/a.png")
        assert daemon.live == [(key_of(folder, path), signature(path))]
    finally:
        observer.stop()
        observer.join(30)


def test_the_duplicate_watch_warning_is_silenced_and_watches_print_short() -> None:
    from watchdog.observers import inotify_c

    with warnings.catch_warnings():
        discovery.quiet_duplicate_watches()
        assert inotify_c.Watch.__repr__ is inotify_c.Watch.short_str
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn(
                "Callback with id 42 already exists for watch /x", RuntimeWarning, stacklevel=1
            )
            warnings.warn("something else", RuntimeWarning, stacklevel=1)
        assert [str(w.message) for w in seen] == ["something else"]


# -- the overflow alarm ---------------------------------------------------------------------------


def test_the_overflow_alarm_rings_on_watchdogs_queue_overflow_record_only() -> None:
    rang: list[int] = []
    alarm = OverflowAlarm(lambda: rang.append(1))
    assert alarm.level == logging.WARNING
    logger = logging.getLogger("watchdog.observers")
    propagate = logger.propagate
    alarm.install()
    try:
        assert alarm in logger.handlers and logger.propagate is False
        logging.getLogger("watchdog.observers.inotify_buffer").warning(
            "Inotify Queue Overflow %d", 1
        )
        assert rang == [1]
        logger.warning("something else")
        assert rang == [1]
        logger.info("queue overflow, but only information")
        assert rang == [1]
    finally:
        alarm.remove()
        logger.propagate = propagate
    assert alarm not in logger.handlers
    logger.warning("queue overflow")
    assert rang == [1]


def test_a_file_exactly_one_settle_period_old_is_queued_at_once(
    folder: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Wall:
        @staticmethod
        def time() -> float:
            return 1000.0

    monkeypatch.setattr(discovery, "time", Wall)
    exact = picture(folder.root / "exact.png")
    os.utime(exact, ns=(990 * 10**9, 990 * 10**9))  # 10 s before "now"
    younger = picture(folder.root / "younger.png")
    os.utime(younger, ns=(990 * 10**9 + 1000, 990 * 10**9 + 1000))
    daemon = FakeDaemon()
    Scanner(daemon, 10.0, lambda line: None).scan(folder, folder.root)  # type: ignore[arg-type]
    assert daemon.intake.take(timeout=0) == key_of(folder, exact)
    assert daemon.intake.take(timeout=0) is None
    assert younger in daemon.settler and exact not in daemon.settler
