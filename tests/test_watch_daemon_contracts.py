"""The watch daemon proper (``lltd.watch.daemon``), in-process on real drop folders: what each
report of the pool does (the counts, the lines word for word, the file released, retried or
sent back to settle), settled files promoted with their version, the start-up recovery line,
rescans and overflows counted, and one whole run on a thread: started, a file done, stopped,
with its lines, notifications and status file. Workers are threads (no process is spawned)."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from PIL import Image
from waiting import wait_for

from lltd.batch.outcome import FileResult, Outcome
from lltd.batch.scan import Task
from lltd.watch import pool as pool_module
from lltd.watch.config import FolderConfig, WatchConfig
from lltd.watch.daemon import Daemon
from lltd.watch.log import Log
from lltd.watch.notify import Notifier
from lltd.watch.pool import InFlight, Report
from lltd.watch.settle import signature
from lltd.watch.worker import Processed, WorkItem

BAD = b"\x89PNG\r\n\x1a\nnot really"
IDLE = "processed 0, failed 0, queued 0, in flight 0"


class Lines(Log):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def file(self, message: str) -> None:
        self.lines.append(("file", message))

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


class Said(Notifier):
    def __init__(self, watchdog_usec: int | None = None) -> None:
        super().__init__(None, watchdog_usec)
        self.said: list[tuple[str, str | None]] = []

    def ready(self, status: str | None = None) -> bool:
        self.said.append(("ready", status))
        return True

    def status(self, text: str) -> bool:
        return True

    def watchdog(self) -> bool:
        self.said.append(("watchdog", None))
        return True

    def stopping(self, status: str | None = None) -> bool:
        self.said.append(("stopping", status))
        return True

    def close(self) -> None:
        self.said.append(("close", None))


def picture(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), colour).save(path)
    return path.read_bytes()


@pytest.fixture(autouse=True)
def thread_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool's workers are threads of this process: no process is spawned. No periodic
    summary line unless a test asks for one (a loaded machine may take 10 s)."""
    monkeypatch.setattr(pool_module, "new_executor", lambda jobs: ThreadPoolExecutor(jobs))
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "3600")
    # The daemon's overflow alarm turns watchdog's own log lines off in this process.
    monkeypatch.setattr(logging.getLogger("watchdog.observers"), "propagate", True)


class Setup:
    def __init__(
        self,
        tmp_path: Path,
        *,
        on_success: str = "move",
        quiet: bool = False,
        clock: object = None,
        **config: object,
    ) -> None:
        self.inp, self.out = tmp_path / "in", tmp_path / "out"
        self.inp.mkdir(exist_ok=True)
        fc = FolderConfig(self.inp, self.out, action="flip", on_success=on_success)
        self.log = Lines()
        self.notifier = Said()
        self.daemon = Daemon(
            WatchConfig((fc,), jobs=1, quiet=quiet, **config),  # type: ignore[arg-type]
            notifier=self.notifier,
            log=self.log,
            **({} if clock is None else {"clock": clock}),  # type: ignore[arg-type]
        )

    def open(self) -> Setup:
        self.daemon._open_folders()
        self.log.lines.clear()
        return self

    def close(self) -> None:
        for folder in self.daemon.folders:
            folder.close()

    def key(self, name: str) -> tuple[int, str]:
        return (0, str(self.daemon.folders[0].root / name))

    def flight(self, name: str, *, output: Path | None = None) -> InFlight[tuple[int, str]]:
        folder = self.daemon.folders[0]
        path = folder.root / name
        sig = signature(path) or signature(folder.root / ".lltd" / "done" / name)
        assert sig is not None
        item = WorkItem(
            job=folder.job,
            task=Task(path, Path(name), output or folder.output / name.replace(".png", "_f.png")),
            on_success=folder.config.on_success,
            state_dir=folder.state_dir,
            quarantine_dir=folder.output / "failed",
            fsync=False,
            input_root=folder.root,
            output_root=folder.output,
            expect=sig,
        )
        return InFlight(self.key(name), item, sig, 1)


@pytest.fixture
def made(tmp_path: Path):  # type: ignore[no-untyped-def]
    setup = Setup(tmp_path).open()
    yield setup
    setup.close()


# -- settings ------------------------------------------------------------------------------------


def test_the_daemons_settings_come_from_the_config(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=1500, queue_size=7)
    daemon = setup.daemon
    assert (daemon.jobs, daemon.settle_s, daemon.intake.capacity) == (1, 1.5, 7)
    assert daemon.settler.settle_s == 1.5 and daemon.scanner.settle_s == 1.5
    assert daemon.counters.queue_size == 7
    assert [(f.input, f.output) for f in daemon.counters.folders] == [
        (str(setup.inp), str(setup.out))
    ]
    assert daemon.summary is not None
    assert daemon.publisher.period == 0.25
    assert Setup(tmp_path, quiet=True).daemon.summary is None


def test_opening_names_the_resolved_folders_and_the_temporaries_removed(tmp_path: Path) -> None:
    (tmp_path / "out" / "deep").mkdir(parents=True)
    (tmp_path / "out" / ".a.png.x1.lltd-tmp").write_bytes(b"x")
    (tmp_path / "out" / "deep" / ".b.png.x2.lltd-tmp").write_bytes(b"x")
    (tmp_path / "status").mkdir()
    (tmp_path / "status" / ".s.json.x3.lltd-tmp").write_bytes(b"x")
    (tmp_path / "status" / "other.lltd-tmp").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path)
    setup = Setup(tmp_path, status_file=tmp_path / "status" / "s.json")
    setup.daemon.config.folders[0].__dict__["input"] = tmp_path / "link" / "in"
    try:
        setup.daemon._open_folders()
        assert [(f.input, f.output) for f in setup.daemon.counters.folders] == [
            (str(tmp_path / "in"), str(tmp_path / "out"))
        ]
        assert setup.log.lines == [
            ("info", f"removed 2 stale temporary file(s) under {tmp_path / 'out'}")
        ]
        assert sorted(p.name for p in (tmp_path / "status").iterdir()) == ["other.lltd-tmp"]
    finally:
        setup.close()


def test_opening_with_nothing_to_recover_says_nothing(made: Setup) -> None:
    made.close()
    made.daemon.folders.clear()
    made.daemon._open_folders()
    assert made.log.lines == []


# -- reports from the pool ---------------------------------------------------------------------


def test_a_done_file_is_counted_logged_and_released(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon.intake.claim(flight.key)
    result = FileResult(str(made.inp / "a.png"), str(made.out / "a_f.png"), Outcome.CONVERTED)
    made.daemon._report(Report("done", flight, Processed(result, "deleted")))
    assert made.log.lines == [
        ("file", f"converted: {made.inp / 'a.png'} -> {made.out / 'a_f.png'}")
    ]
    assert made.daemon.counters.processed == 1 and made.daemon.counters.outcomes() == {
        "converted": 1
    }
    assert made.daemon.intake.known() == 0


def test_a_failed_file_is_counted_with_where_it_was_set_aside(made: Setup) -> None:
    picture(made.inp / "a\nb.png")
    flight = made.flight("a\nb.png")
    made.daemon.intake.claim(flight.key)
    result = FileResult(
        "x", str(made.out / "failed" / "a\nb.png"), Outcome.FAILED, error="bad\nimage"
    )
    made.daemon._report(Report("done", flight, Processed(result, "moved:/x")))
    assert made.log.lines == [
        (
            "error",
            f"failed: {made.inp}/a\\nb.png: bad\\nimage (set aside in {made.out}/failed/a\\nb.png)",
        )
    ]
    counters = made.daemon.counters
    assert (counters.processed, counters.failed) == (0, 1)
    assert counters.last_error == f"{made.inp}/a\\nb.png: bad\nimage"
    assert made.daemon.intake.known() == 0


def test_a_failure_without_a_copy_says_no_more(made: Setup) -> None:
    picture(made.inp / "a.png")
    result = FileResult("x", None, Outcome.FAILED, error=None)
    made.daemon._report(Report("done", made.flight("a.png"), Processed(result, "kept")))
    assert made.log.lines == [("error", f"failed: {made.inp / 'a.png'}: ")]


def test_an_unnamed_output_is_logged_empty(made: Setup) -> None:
    picture(made.inp / "a.png")
    result = FileResult("x", None, Outcome.NAME_MATCH)
    made.daemon._report(Report("done", made.flight("a.png"), Processed(result, "kept")))
    assert made.log.lines == [("file", f"name_match: {made.inp / 'a.png'} -> ")]


def test_keep_mode_records_each_result_in_the_journal(tmp_path: Path) -> None:
    setup = Setup(tmp_path, on_success="keep").open()
    try:
        picture(setup.inp / "a.png")
        flight = setup.flight("a.png")
        result = FileResult("x", str(setup.out / "a_f.png"), Outcome.CONVERTED)
        setup.daemon._report(Report("done", flight, Processed(result, "kept")))
        folder = setup.daemon.folders[0]
        assert folder.seen(setup.inp / "a.png", flight.sig)
    finally:
        setup.close()


def test_a_file_vanished_before_a_worker_got_to_it_is_not_counted(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon.intake.claim(flight.key)
    result = FileResult("x", None, Outcome.FAILED, error="vanished before processing")
    made.daemon._report(Report("done", flight, Processed(result, "vanished")))
    assert made.log.lines == [] and made.daemon.counters.failed == 0
    assert made.daemon.intake.known() == 0


def test_a_lost_report_of_an_earlier_attempt_counts_that_attempt(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    done = made.inp / ".lltd" / "done"
    done.mkdir(parents=True)
    (made.inp / "a.png").rename(done / "a.png")
    picture(made.out / "a_f.png")
    result = FileResult("x", None, Outcome.FAILED, error="vanished before processing")
    made.daemon._report(Report("done", flight, Processed(result, "vanished")))
    assert made.log.lines == [
        ("file", f"converted: {made.inp / 'a.png'} -> {made.out / 'a_f.png'}")
    ]
    assert made.daemon.counters.processed == 1


def test_a_released_file_is_let_go(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon.intake.claim(flight.key)
    made.daemon._report(Report("released", flight))
    assert made.daemon.intake.known() == 0 and made.log.lines == []


def test_a_changed_file_settles_again_with_one_line(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon._report(Report("changed", flight))
    result = FileResult("x", None, Outcome.CONVERTED)
    made.daemon._report(Report("changed", flight, Processed(result, "changed")))
    assert (
        made.log.lines
        == [
            ("warning", f"{made.inp / 'a.png'} changed while being processed: again once settled"),
        ]
        * 2
    )
    assert made.inp / "a.png" in made.daemon.settler


def test_a_replaced_file_is_looked_at_again_with_the_reason(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    why = FileResult("x", None, Outcome.FAILED, error="replaced by a symbolic link\nsince")
    made.daemon._report(Report("changed", flight, Processed(why, "replaced")))
    plain = FileResult("x", None, Outcome.FAILED)
    made.daemon._report(Report("changed", flight, Processed(plain, "replaced")))
    assert made.log.lines == [
        ("warning", f"{made.inp / 'a.png'}: replaced by a symbolic link\\nsince; looked at again"),
        ("warning", f"{made.inp / 'a.png'}: replaced; looked at again"),
    ]
    assert made.inp / "a.png" in made.daemon.settler


def test_a_worker_death_queues_the_file_again_with_one_line(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon._report(Report("retry", flight, error=BrokenProcessPool("x")))
    assert made.log.lines == [
        ("warning", f"a worker died while on {made.inp / 'a.png'} (BrokenProcessPool); retrying")
    ]
    assert made.daemon.intake.split() == (1, 0)
    assert made.daemon.intake.take(timeout=0) == flight.key


def test_a_stuck_file_is_counted_failed_and_left_claimed(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    made.daemon.intake.claim(flight.key)
    made.daemon._report(Report("stuck", flight, reason="refused: a link\nunder"))
    assert made.log.lines == [
        ("error", f"failed: {made.inp / 'a.png'}: refused: a link\\nunder; left in place")
    ]
    counters = made.daemon.counters
    assert counters.failed == 1
    assert counters.last_error == f"{made.inp / 'a.png'}: refused: a link\nunder"
    assert made.daemon.intake.known() == 1


def test_a_file_the_workers_died_on_is_failed_by_the_jobs_policy(made: Setup) -> None:
    data = picture(made.inp / "a.png")
    flight = made.flight("a.png")
    reason = "the worker process died 3 times on this file"
    made.daemon._report(Report("dead", flight, reason=reason))
    assert (made.out / "failed" / "a.png").read_bytes() == data
    assert made.log.lines == [
        (
            "error",
            f"failed: {made.inp / 'a.png'}: {reason} (set aside in {made.out}/failed/a.png)",
        )
    ]
    assert made.daemon.counters.failed == 1


def test_a_dead_file_that_cannot_be_set_aside_is_stuck(made: Setup) -> None:
    picture(made.inp / "target.png")
    flight = made.flight("target.png")
    (made.inp / "target.png").rename(made.out / "elsewhere.png")
    (made.inp / "target.png").symlink_to(made.out / "elsewhere.png")
    made.daemon._report(Report("dead", flight, reason="died"))
    assert made.log.lines == [
        (
            "error",
            f"failed: {made.inp / 'target.png'}: cannot set the input aside: "
            "replaced by a symbolic link since it settled: not followed; left in place",
        )
    ]
    assert made.daemon.counters.failed == 1


# -- discovery's side --------------------------------------------------------------------------


def test_settled_files_are_queued_with_their_version_and_vanished_ones_released(
    made: Setup,
) -> None:
    daemon = made.daemon
    settler, intake = daemon.settler, daemon.intake
    settler.clock = lambda: 0.0
    a = made.inp / "a.png"
    picture(a)
    for name in ("a.png", "gone.png", "late.png"):
        intake.claim(made.key(name))
    settler.track(a, made.key("a.png"))
    picture(made.inp / "gone.png")
    settler.track(made.inp / "gone.png", made.key("gone.png"))
    (made.inp / "gone.png").unlink()
    settler.clock = lambda: 100.0
    daemon._promote_settled()
    assert intake.take(timeout=0) == made.key("a.png")
    assert intake.settled(made.key("a.png")) == signature(a)
    assert intake.known() == 2  # a.png (taken) and late.png; gone.png released


def test_a_settled_file_gone_at_the_last_look_is_released(
    made: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lltd.watch import daemon as daemon_module

    daemon = made.daemon
    daemon.settler.clock = lambda: 0.0
    picture(made.inp / "a.png")
    daemon.intake.claim(made.key("a.png"))
    daemon.settler.track(made.inp / "a.png", made.key("a.png"))
    daemon.settler.clock = lambda: 100.0
    monkeypatch.setattr(daemon_module, "signature", lambda path: None)
    daemon._promote_settled()
    assert daemon.intake.known() == 0 and daemon.intake.queued() == 0


def test_a_settled_file_meeting_a_full_queue_settles_again(tmp_path: Path) -> None:
    setup = Setup(tmp_path, queue_size=1).open()
    try:
        daemon = setup.daemon
        daemon.intake.put_live(setup.key("first.png"), timeout=0)
        daemon.settler.clock = lambda: 0.0
        picture(setup.inp / "a.png")
        daemon.settler.track(setup.inp / "a.png", setup.key("a.png"))
        daemon.settler.clock = lambda: 100.0
        daemon._promote_settled()
        assert setup.inp / "a.png" in daemon.settler
        assert daemon.intake.split() == (0, 1)
    finally:
        setup.close()


def test_an_arrival_is_queued_live_and_let_go_once_stopping(made: Setup) -> None:
    daemon = made.daemon
    sig = picture(made.inp / "a.png") and signature(made.inp / "a.png")
    assert sig is not None
    daemon.intake.claim(made.key("a.png"))
    daemon.queue_live(made.key("a.png"), sig)
    assert daemon.intake.split() == (0, 1) and daemon.intake.settled(made.key("a.png")) == sig
    daemon.stop()
    daemon.intake.claim(made.key("b.png"))
    daemon.queue_live(made.key("b.png"), sig)
    assert daemon.intake.split() == (0, 1)
    assert daemon.intake.known() == 1


def test_a_blocked_arrival_waits_for_room(tmp_path: Path) -> None:
    setup = Setup(tmp_path, queue_size=1).open()
    try:
        daemon = setup.daemon
        daemon.intake.put_live(setup.key("first.png"), timeout=0)
        sig = picture(setup.inp / "a.png") and signature(setup.inp / "a.png")
        waiting = threading.Thread(target=daemon.queue_live, args=(setup.key("a.png"), sig))
        waiting.start()
        waiting.join(0.6)  # past one 0.5 s wait for room
        assert waiting.is_alive()
        assert daemon.intake.take(timeout=0) == setup.key("first.png")
        waiting.join(30)
        assert daemon.intake.take(timeout=0) == setup.key("a.png")
    finally:
        setup.close()


def test_a_rescan_is_counted_and_asks_for_every_folder(made: Setup) -> None:
    daemon = made.daemon
    daemon._rescan_all()
    assert daemon.counters.rescans == 1
    assert daemon.scanner._pending == [(daemon.folders[0], daemon.folders[0].root)]


def test_an_overflow_is_counted_said_and_rescanned(made: Setup) -> None:
    daemon = made.daemon
    daemon._overflowed()
    assert (daemon.counters.overflows, daemon.counters.rescans) == (1, 1)
    daemon._overflowed()
    assert (daemon.counters.overflows, daemon.counters.rescans) == (2, 2)
    made.log.lines.pop()
    assert made.log.lines == [
        ("warning", "the kernel's inotify event queue overflowed: rescanning now")
    ]
    assert daemon.scanner._pending == [(daemon.folders[0], daemon.folders[0].root)]


def test_the_status_counts_the_queues_settling_and_in_flight(made: Setup) -> None:
    daemon = made.daemon
    daemon.intake.put_backlog(made.key("a.png"))
    daemon.intake.put_backlog(made.key("b.png"))
    daemon.intake.put_live(made.key("c.png"), timeout=0)
    daemon.settler.track(made.inp / "d.png", made.key("d.png"))
    daemon._refresh_counts()
    counters = daemon.counters
    assert (counters.backlog, counters.arrivals, counters.queued) == (2, 1, 3)
    assert (counters.settling, counters.in_flight) == (1, 0)


# -- a whole run ---------------------------------------------------------------------------------


def wait_ready(setup: Setup, thread: threading.Thread) -> None:
    """READY=1 said (or the daemon ended): a wait that no mutant of the state's text holds up."""
    said = setup.notifier.said
    wait_for(lambda: any(kind == "ready" for kind, _ in said) or not thread.is_alive(), "READY")


def run_in_thread(daemon: Daemon) -> tuple[threading.Thread, list[int]]:
    status: list[int] = []
    thread = threading.Thread(
        target=lambda: status.append(daemon.run(install_signals=False)), daemon=True
    )
    thread.start()
    return thread, status


def settled_down(daemon: Daemon, processed: int) -> bool:
    counters = daemon.counters
    return (counters.processed, counters.queued, counters.in_flight) == (processed, 0, 0)


def test_a_run_takes_a_file_then_stops_with_its_lines_and_status(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    setup = Setup(tmp_path, status_file=status_file, settle_ms=100)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    data = picture(setup.inp / "new.png")
    wait_for(lambda: settled_down(daemon, 1) or not thread.is_alive(), "new.png done")
    daemon.stop()
    thread.join(60)
    assert status == [0]
    assert (setup.inp / ".lltd" / "done" / "new.png").read_bytes() == data
    assert (setup.out / "new_f.png").is_file()
    stopped = "processed 1, failed 0, queued 0, in flight 0"
    assert setup.log.lines == [
        ("info", f"watching 1 folder(s) with 1 worker(s): {IDLE}"),
        ("file", f"converted: {setup.inp / 'new.png'} -> {setup.out / 'new_f.png'}"),
        ("info", "stopping: finishing 0 file(s) in flight (up to 30 s)"),
        ("info", f"stopped: {stopped}"),
    ]
    assert setup.notifier.said == [
        ("ready", IDLE),
        ("stopping", f"stopping: 0 in flight; {stopped}"),
        ("close", None),
    ]
    written = json.loads(status_file.read_text())
    assert (written["state"], written["processed"], written["rescans"]) == ("stopped", 1, 0)
    assert daemon.folders[0]._closed


def test_a_run_starts_with_a_scan_of_what_is_there(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100)
    old = picture(setup.inp / "sub" / "old.png")
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_for(lambda: settled_down(daemon, 1) or not thread.is_alive(), "old.png done")
    daemon.stop()
    thread.join(60)
    assert status == [0]
    assert (setup.inp / ".lltd" / "done" / "sub" / "old.png").read_bytes() == old
    assert (setup.out / "sub" / "old_f.png").is_file()


def test_a_run_whose_folder_is_deleted_stops_with_status_1(tmp_path: Path) -> None:
    import shutil

    setup = Setup(tmp_path, settle_ms=100, polling=True)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    shutil.rmtree(setup.inp)
    thread.join(60)
    assert status == [1]
    assert ("error", f"stopped watching {setup.inp}: the folder is gone") in setup.log.lines


def test_a_run_refused_at_start_touches_no_status_file(tmp_path: Path) -> None:
    from lltd.common.errors import UsageError

    status_file = tmp_path / "status.json"
    status_file.write_text("the running daemon's")
    setup = Setup(tmp_path, status_file=status_file)
    (setup.inp).rmdir()
    with pytest.raises(UsageError):
        setup.daemon.run(install_signals=False)
    assert status_file.read_text() == "the running daemon's"
    assert setup.log.lines == []
    assert setup.notifier.said == [("close", None)]


def test_the_watchdog_is_fed_while_the_threads_work(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100)
    setup.notifier.watchdog_usec = 200_000  # every 0.1 s
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_for(
        lambda: setup.notifier.said.count(("watchdog", None)) >= 3 or not thread.is_alive(),
        "three keep-alives",
    )
    daemon.stop()
    thread.join(60)
    assert status == [0] and daemon._healthy() is False  # its threads have ended


def test_periodic_rescans_are_counted(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100, rescan=0.1)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_for(lambda: daemon.counters.rescans >= 2 or not thread.is_alive(), "two rescans")
    daemon.stop()
    thread.join(60)
    assert status == [0]


def test_without_periodic_rescans_none_happen(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100, rescan=0)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    setup.notifier.watchdog_usec = None
    wait_ready(setup, thread)
    picture(setup.inp / "a.png")
    wait_for(lambda: settled_down(daemon, 1) or not thread.is_alive(), "a.png done")
    daemon.stop()
    thread.join(60)
    assert status == [0] and daemon.counters.rescans == 0


def test_the_status_file_exists_when_ready_is_said(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    setup = Setup(tmp_path, status_file=status_file, settle_ms=100)
    seen: list[object] = []

    def ready(status: str | None = None) -> bool:
        seen.append(json.loads(status_file.read_text())["state"])
        setup.daemon.stop()
        return True

    setup.notifier.ready = ready  # type: ignore[method-assign]
    assert setup.daemon.run(install_signals=False) == 0
    assert seen == ["running"]


def test_the_work_threads_are_named_and_do_not_hold_the_process(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    assert sorted((t.name, t.daemon) for t in daemon._threads) == [
        ("lltd-dispatcher", True),
        ("lltd-scanner", True),
    ]
    assert daemon._healthy() is True
    assert daemon.pool._executor is None  # no scheduler: workers start with the first file
    watchdog_log = logging.getLogger("watchdog.observers")
    assert daemon.overflow in watchdog_log.handlers  # the overflow alarm listens while running
    daemon.stop()
    thread.join(60)
    assert status == [0]
    assert daemon.overflow not in watchdog_log.handlers


def test_a_folder_replaced_under_the_daemon_stops_it_with_status_1(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    setup.inp.rename(tmp_path / "in.old")  # the watch follows the folder: still watching...
    setup.inp.mkdir()  # ...but IN is another folder now
    thread.join(60)
    assert status == [1]
    assert ("error", f"stopped watching {setup.inp}: the folder is gone") in setup.log.lines


def test_idle_workers_are_retired_after_worker_idle(tmp_path: Path) -> None:
    setup = Setup(tmp_path, settle_ms=100, worker_idle=0.2)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    picture(setup.inp / "a.png")
    wait_for(lambda: daemon.pool._executor is not None or not thread.is_alive(), "a worker")
    wait_for(lambda: daemon.pool._executor is None or not thread.is_alive(), "its retirement")
    daemon.stop()
    thread.join(60)
    assert status == [0] and daemon.counters.processed == 1


def test_the_summary_line_says_what_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLTD_PROGRESS_INTERVAL", "0")
    setup = Setup(tmp_path, settle_ms=100)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    picture(setup.inp / "a.png")
    done = "summary: processed 1 (+1), failed 0 (+0), queued 0, in flight 0"
    wait_for(lambda: ("info", done) in setup.log.lines or not thread.is_alive(), "the summary")
    daemon.stop()
    thread.join(60)
    assert status == [0]


def test_metrics_are_served_and_each_file_observed(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    setup = Setup(tmp_path, settle_ms=100, metrics_port="127.0.0.1:0")
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    assert daemon.metrics is not None
    url = daemon.metrics.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    assert ("info", f"serving Prometheus metrics on {url}") in setup.log.lines
    observed: list[float] = []
    daemon.metrics.observe_latency = observed.append  # type: ignore[method-assign]
    picture(setup.inp / "a.png")
    wait_for(lambda: observed or not thread.is_alive(), "a latency")
    mtime = (setup.inp / ".lltd" / "done" / "a.png").stat().st_mtime
    assert 0 <= observed[0] <= time.time() - mtime + 1
    daemon.stop()
    thread.join(60)
    assert status == [0]
    import socket

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # closed with the daemon


def test_a_file_still_in_flight_at_the_stop_timeout_stays_and_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lltd.watch import worker as worker_module

    monkeypatch.setattr(pool_module, "SHUTDOWN_GRACE", 0.1)
    release = threading.Event()
    real = worker_module.run_one

    def stuck(job, task):  # type: ignore[no-untyped-def]
        release.wait(60)
        return real(job, task)

    monkeypatch.setattr(worker_module, "run_one", stuck)
    setup = Setup(tmp_path, settle_ms=100, stop_timeout=0.2)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    try:
        wait_ready(setup, thread)
        picture(setup.inp / "a.png")
        wait_for(lambda: len(daemon.pool) == 1 or not thread.is_alive(), "a.png in flight")
        stale = setup.out / ".b.png.x1.lltd-tmp"  # a killed worker's temporary
        stale.write_bytes(b"x")
        daemon.stop()
        thread.join(60)
    finally:
        release.set()
    assert status == [0]
    assert ("info", "stopping: finishing 1 file(s) in flight (up to 0.2 s)") in setup.log.lines
    assert (
        "warning",
        "1 file(s) still in flight after 0.2 s: stopped the workers; those files stay in "
        "place and are done at the next start",
    ) in setup.log.lines
    assert not stale.exists()
    assert (setup.inp / "a.png").is_file()


def test_run_installs_its_signal_handlers_unless_told_not_to(tmp_path: Path) -> None:
    installed: list[str] = []
    for install in (None, False):
        setup = Setup(tmp_path, settle_ms=100)
        setup.daemon._stop.install = lambda: installed.append("installed")  # type: ignore[method-assign]
        setup.daemon.stop()
        if install is None:
            assert setup.daemon.run() == 0
        else:
            assert setup.daemon.run(install_signals=install) == 0
        installed.append("ran")
    assert installed == ["installed", "ran", "ran"]


def test_shared_claims_of_a_dead_daemon_are_taken_over_while_running(tmp_path: Path) -> None:
    import os

    from lltd.watch.shared import daemon_id

    setup = Setup(tmp_path, settle_ms=100, shared=True, claim_timeout=0.4)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = f"{daemon_id().rpartition('-')[0]}-{pid_max + 1}"  # no process has that PID
    picture(tmp_path / "stage" / dead / "a.png")
    # Its claim folder, as its claim left it when it died (in one rename: the running daemon
    # removes an orphan's empty folder).
    os.rename(tmp_path / "stage" / dead, setup.inp / ".lltd" / "claims" / dead)
    wait_for(lambda: settled_down(daemon, 1) or not thread.is_alive(), "a.png taken over")
    daemon.stop()
    thread.join(60)
    assert status == [0]
    assert (setup.out / "a_f.png").is_file()
    assert (
        "warning",
        f"took over 1 file(s) claimed by {dead}, which stopped answering",
    ) in setup.log.lines


class ReadClock:
    """A clock the test sets; each read is counted, so that the test can wait for the main loop
    to have gone round (it reads the clock at least once a turn) without waiting for time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def turns(self, thread: threading.Thread, n: int = 10) -> None:
        start = self.reads
        wait_for(lambda: self.reads >= start + n or not thread.is_alive(), f"{n} clock reads")


def test_periodic_rescans_come_exactly_every_rescan_seconds(tmp_path: Path) -> None:
    clock = ReadClock()
    setup = Setup(tmp_path, clock=clock, rescan=10.0)
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    seen = []
    for now in (9.99, 10.0, 10.0, 19.99, 20.0):
        clock.now = now
        clock.turns(thread)
        seen.append(daemon.counters.rescans)
    daemon.stop()
    thread.join(60)
    assert status == [0] and seen == [0, 1, 1, 1, 2]


def test_the_watchdog_is_fed_once_per_half_watchdog_period(tmp_path: Path) -> None:
    clock = ReadClock()
    setup = Setup(tmp_path, clock=clock)
    setup.notifier.watchdog_usec = 20_000_000  # a ping every 10 s of the clock
    daemon = setup.daemon
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    seen = []
    for now in (0.0, 9.99, 10.0, 10.0, 20.0):
        clock.now = now
        clock.turns(thread)
        seen.append(setup.notifier.said.count(("watchdog", None)))
    daemon.stop()
    thread.join(60)
    assert status == [0] and seen == [1, 1, 2, 2, 3]


@pytest.mark.parametrize(("claim_timeout", "period"), [(4.0, 1.0), (40.0, 2.0)])
def test_shared_claims_are_tended_every_quarter_timeout_at_most_every_2_s(
    tmp_path: Path, claim_timeout: float, period: float
) -> None:
    clock = ReadClock()
    setup = Setup(tmp_path, clock=clock, shared=True, claim_timeout=claim_timeout)
    daemon = setup.daemon
    tended: list[float] = []
    daemon._take_over = lambda: tended.append(clock.now)  # type: ignore[method-assign]
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    seen = []
    for now in (0.0, period - 0.01, period, period, 2 * period):
        clock.now = now
        clock.turns(thread)
        seen.append(len(tended))
    daemon.stop()
    thread.join(60)
    # One at the start, one at the first turn, then one per period.
    assert status == [0] and seen == [2, 2, 3, 3, 4]


def test_without_shared_no_claims_are_tended_after_the_start(tmp_path: Path) -> None:
    clock = ReadClock()
    setup = Setup(tmp_path, clock=clock)
    daemon = setup.daemon
    tended: list[float] = []
    daemon._take_over = lambda: tended.append(clock.now)  # type: ignore[method-assign]
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    clock.now = 100.0
    clock.turns(thread)
    daemon.stop()
    thread.join(60)
    assert status == [0] and tended == [0.0]


def test_the_keep_alive_vouches_only_for_live_threads_and_live_observers(made: Setup) -> None:
    from watchdog.observers.polling import PollingObserver

    daemon = made.daemon
    release = threading.Event()
    live = threading.Thread(target=release.wait, args=(30,), daemon=True)
    live.start()
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    running = PollingObserver(timeout=0.1)
    running.start()
    stopped = PollingObserver(timeout=0.1)
    try:
        daemon._threads, daemon._observers = [live], [running]
        assert daemon._healthy() is True
        daemon._observers = [running, stopped]  # an observer that is not running
        assert daemon._healthy() is False
        daemon._threads, daemon._observers = [live, dead], [running]  # a thread that ended
        assert daemon._healthy() is False
    finally:
        release.set()
        running.stop()
        running.join(30)


def test_an_idle_daemon_publishes_its_status_only_when_it_changes(tmp_path: Path) -> None:
    clock = ReadClock()
    setup = Setup(tmp_path, clock=clock)
    published: list[str] = []
    daemon = setup.daemon
    daemon.publisher.notify = published.append  # STATUS=, sent at each publish
    thread, status = run_in_thread(daemon)
    wait_ready(setup, thread)
    clock.turns(thread)
    before = len(published)
    clock.now = 100.0  # periods pass, nothing changes
    clock.turns(thread, 20)
    assert len(published) == before
    daemon.stop()
    thread.join(60)
    assert status == [0]


def test_the_main_loop_never_waits_for_room_in_the_queue(made: Setup) -> None:
    daemon = made.daemon
    asked: list[object] = []
    real = daemon.intake.put_live

    def put_live(key, timeout=None, version=None):  # type: ignore[no-untyped-def]
        asked.append(timeout)
        return real(key, timeout=timeout, version=version)

    daemon.intake.put_live = put_live  # type: ignore[method-assign]
    daemon.settler.clock = lambda: 0.0
    picture(made.inp / "a.png")
    daemon.settler.track(made.inp / "a.png", made.key("a.png"))
    daemon.settler.clock = lambda: 100.0
    daemon._promote_settled()
    assert asked == [0]


def test_move_mode_records_nothing_in_the_journal(made: Setup) -> None:
    picture(made.inp / "a.png")
    flight = made.flight("a.png")
    result = FileResult("x", str(made.out / "a_f.png"), Outcome.CONVERTED)
    made.daemon._report(Report("done", flight, Processed(result, "moved:/x")))
    folder = made.daemon.folders[0]
    assert folder.journal is not None
    assert not folder.journal.seen(folder.journal_key(made.inp / "a.png", flight.sig))
