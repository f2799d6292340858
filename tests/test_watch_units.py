"""The watch daemon's parts, one at a time, on real files and real sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lltd.batch.marks import Mark, Source, read_mark, write_mark
from lltd.batch.plan import Planner
from lltd.common.errors import UsageError
from lltd.jobs.flip import FlipJob
from lltd.watch import config as watch_config
from lltd.watch.handler import Filter, WatchHandler, is_partial_name
from lltd.watch.intake import Intake
from lltd.watch.journal import Journal
from lltd.watch.lock import FolderLock
from lltd.watch.notify import Notifier
from lltd.watch.settle import OPEN_GRACE_FACTOR, Settler
from lltd.watch.worker import unique_name


@pytest.mark.parametrize(
    ("name", "partial"),
    [
        ("photo.jpg", False),
        ("Photo Final.PNG", False),
        (".photo.jpg", True),
        ("photo.jpg.part", True),
        ("photo.jpg.tmp", True),
        ("photo.jpg~", True),
        ("photo.jpg.crdownload", True),
        ("photo.JPG.PART", True),
    ],
)
def test_partial_names(name: str, partial: bool) -> None:
    assert is_partial_name(name) is partial


def flip_inputs(root: Path, output: Path) -> Callable[[str], bool]:
    """The planner's rule for a watched flip folder, as the daemon hands it to its Filter."""
    planner = Planner.for_folder(FlipJob(output_dir=output), root)
    return lambda name: planner.is_input(name, lambda path: os.path.lexists(root / path))


def test_filter_takes_images_only_and_skips_dot_folders_links_out_and_the_output(
    tmp_path: Path,
) -> None:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / ".lltd" / "done").mkdir(parents=True)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    (root / "inside.png").write_bytes(b"x")
    (root / "link-out.png").symlink_to(outside)
    (root / "link-in.png").symlink_to(root / "inside.png")
    (root / "out").mkdir()
    flt = Filter(root, flip_inputs(root, root / "out"), exclude=(root / "out",))
    assert flt.accepts(root / "inside.png")
    assert flt.accepts(root / "sub" / "a.webp")
    assert flt.accepts(root / "link-in.png")
    assert not flt.accepts(root / "link-out.png")
    assert not flt.accepts(root / "notes.txt")
    assert not flt.accepts(root / "a.png.part")
    assert not flt.accepts(root / ".lltd" / "done" / "a.png")
    assert not flt.accepts(root / "out" / "a.png")
    assert not flt.accepts(tmp_path / "elsewhere.png")
    assert flt.accepts_directory(root / "sub")
    assert not flt.accepts_directory(root / ".lltd")
    assert not flt.accepts_directory(root / "out")


def test_filter_asks_the_planner_as_a_batch_run_does(tmp_path: Path) -> None:
    """The job's own rule (an earlier flip beside its original) and "never an output of this
    command" come from the one planner, not from a second list in the daemon."""
    root = tmp_path / "in"
    root.mkdir()
    for name in ("x.png", "x_f.png", "y_f.png", "made.png", "other.png"):
        (root / name).write_bytes(b"x")
    write_mark(root / "made.png", Mark("flip", Source("z.png", 1, 1, "s"), 1, "d"))
    write_mark(root / "other.png", Mark("defend", Source("z.png", 1, 1, "s"), 1, "d"))
    flt = Filter(root, flip_inputs(root, tmp_path / "out"))
    assert flt.accepts(root / "x.png") and flt.accepts(root / "y_f.png")
    assert not flt.accepts(root / "x_f.png")  # flip's rule: the flip of its sibling x.png
    assert flt.accepts(root / "other.png")  # another command's output is an input like any
    if read_mark(root / "made.png") is None:
        pytest.skip("this file system keeps no user xattrs")
    assert not flt.accepts(root / "made.png")  # a flip's own output, wherever it landed


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        return lambda path: self.calls.append((name, Path(path).name))


def test_handler_turns_native_events_into_decisions(tmp_path: Path) -> None:
    from watchdog.events import (
        DirCreatedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileMovedEvent,
        FileOpenedEvent,
    )

    root = tmp_path
    sink = RecordingSink()
    handler = WatchHandler(Filter(root, flip_inputs(root, root / "out")), sink)  # type: ignore[arg-type]
    (root / "sub").mkdir()
    handler.dispatch(FileCreatedEvent(str(root / "a.png")))
    handler.dispatch(FileOpenedEvent(str(root / "a.png")))
    handler.dispatch(FileClosedEvent(str(root / "a.png")))
    handler.dispatch(FileClosedEvent(str(root / "b.png.part")))  # partial: ignored
    handler.dispatch(FileMovedEvent(str(root / "c.png.part"), str(root / "c.png")))
    handler.dispatch(FileMovedEvent(str(root / "d.png"), str(root / ".lltd" / "done" / "d.png")))
    handler.dispatch(DirCreatedEvent(str(root / "sub")))
    handler.dispatch(FileMovedEvent("", str(root / "from-elsewhere.png")))  # moved in
    handler.dispatch(FileMovedEvent(str(root / "to-elsewhere.png"), ""))  # moved out
    assert sink.calls == [
        ("candidate", "a.png"),
        ("opened", "a.png"),
        ("complete", "a.png"),
        ("gone", "c.png.part"),
        ("moved_in", "c.png"),
        ("gone", "d.png"),
        ("directory", "sub"),
        ("moved_in", "from-elsewhere.png"),
        ("gone", "to-elsewhere.png"),
    ]
    polling = RecordingSink()
    WatchHandler(Filter(root, flip_inputs(root, root / "out")), polling, polling=True).dispatch(  # type: ignore[arg-type]
        FileMovedEvent(str(root / "e.png.part"), str(root / "e.png"))
    )
    assert polling.calls == [("gone", "e.png.part"), ("candidate", "e.png")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_settler_waits_for_unchanged_size_and_mtime(tmp_path: Path) -> None:
    clock = FakeClock()
    settler: Settler[str] = Settler(1.0, clock=clock)
    path = tmp_path / "a.png"
    path.write_bytes(b"1")
    settler.track(path, "a")
    clock.now += 0.6
    assert settler.due() == ([], [])
    with path.open("ab") as handle:  # the writer goes on: the settle period restarts
        handle.write(b"2")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000))
    clock.now += 0.6
    assert settler.due() == ([], [])  # changed since it was tracked
    clock.now += 0.9
    assert settler.due() == ([], [])  # unchanged for only 0.9 s
    clock.now += 0.2
    assert settler.due() == ([(path, "a")], [])
    assert path not in settler

    gone = tmp_path / "gone.png"
    gone.write_bytes(b"1")
    settler.track(gone, "g")
    gone.unlink()
    assert settler.due() == ([], [(gone, "g")])


def test_settler_holds_an_open_file_until_closed(tmp_path: Path) -> None:
    clock = FakeClock()
    settler: Settler[str] = Settler(1.0, clock=clock)
    path = tmp_path / "a.png"
    path.write_bytes(b"1")
    settler.track(path, "a")
    settler.opened(path)
    clock.now += 5
    assert settler.due() == ([], [])
    settler.closed(path)
    assert settler.due() == ([(path, "a")], [])
    # An open whose close was never seen does not hold the file forever.
    settler.track(path, "a")
    settler.opened(path)
    clock.now += OPEN_GRACE_FACTOR * 1.0 + 0.1
    assert settler.due() == ([(path, "a")], [])


def test_intake_knows_each_item_once_puts_backlog_first_and_blocks_when_full() -> None:
    intake: Intake[str] = Intake(capacity=2)
    assert intake.claim("live1") and intake.claim("live2") and intake.claim("old")
    assert not intake.claim("live1")
    assert intake.put_live("live1") and intake.put_live("live2")
    assert not intake.put_live("live3", timeout=0.05)  # full
    intake.put_backlog("old")
    assert [intake.take(0.1), intake.take(0.1), intake.take(0.1)] == ["old", "live1", "live2"]
    assert intake.take(0.05) is None
    assert not intake.claim("live1")  # still in flight until released
    intake.release("live1")
    assert intake.claim("live1")

    blocked: list[bool] = []
    intake.put_live("live1")
    intake.claim("x")
    intake.claim("y")
    intake.put_live("x")
    waiter = threading.Thread(target=lambda: blocked.append(intake.put_live("y", timeout=120)))
    waiter.start()
    # Not synchronisation: had put_live not blocked, the thread would have ended (a busy machine
    # makes this check weaker, never wrong); the offer then succeeds only once room is made.
    time.sleep(0.1)
    assert waiter.is_alive()  # backpressure: the offer waits for room
    assert intake.take(0.1) == "live1"
    waiter.join(120)
    assert blocked == [True]
    assert sorted(intake.close()) == ["x", "y"]
    assert intake.take(0.01) is None


def receive_all(sock: socket.socket) -> list[str]:
    messages = []
    sock.settimeout(1)
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages
        sock.settimeout(0.05)


@pytest.mark.parametrize("abstract", [False, True])
def test_notifier_speaks_sd_notify_over_a_datagram_socket(tmp_path: Path, abstract: bool) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"lltd-test-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
    env = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "3000000",
        "WATCHDOG_PID": str(os.getpid()),
        "OTHER": "kept",
    }
    notifier = Notifier.from_environment(env)
    assert env == {"OTHER": "kept"}  # unset, so child processes cannot notify in our name
    assert notifier.watchdog_interval == 1.5
    assert notifier.ready("processed 0, failed 0, queued 3, in flight 0")
    assert notifier.status("processed 1, failed 0, queued 2, in flight 1")
    assert notifier.watchdog()
    assert notifier.stopping()
    notifier.close()
    assert receive_all(sock) == [
        "READY=1\nSTATUS=processed 0, failed 0, queued 3, in flight 0",
        "STATUS=processed 1, failed 0, queued 2, in flight 1",
        "WATCHDOG=1",
        "STOPPING=1",
    ]
    sock.close()


def test_notifier_never_blocks_on_a_receiver_that_does_not_read(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "full.sock"))
    notifier = Notifier(str(tmp_path / "full.sock"))
    sent: list[bool] = []
    sender = threading.Thread(
        target=lambda: sent.extend(notifier.status(f"processed {i}") for i in range(5000))
    )
    sender.start()
    sender.join(120)  # a blocking send never returns; a busy machine may be slow, not blocked
    assert not sender.is_alive(), "the notifier blocked on a full socket"
    assert sent[0] and not sent[-1]  # the socket filled up: later updates are dropped
    notifier.close()
    sock.close()


def test_watch_imports_nothing_heavy() -> None:
    code = (
        "import sys, lltd.cli, lltd.watch.daemon, lltd.watch.worker; "
        "heavy = {'torch', 'torchvision', 'foolbox', 'dask', 'matplotlib', 'numpy'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"


def test_notifier_outside_systemd_and_watchdog_of_another_process() -> None:
    silent = Notifier.from_environment({})
    assert not silent.enabled and not silent.ready() and silent.watchdog_interval is None
    other = Notifier.from_environment(
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}
    )
    assert other.watchdog_interval is None
    assert not other.status("x")  # the socket is not there: best effort, no exception


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    first = FolderLock(tmp_path / "lock", tmp_path)
    first.acquire()
    second = FolderLock(tmp_path / "lock", tmp_path)
    with pytest.raises(UsageError, match=rf"already running on {tmp_path} \(pid {os.getpid()}\)"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_journal_remembers_exact_versions(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.record(("a.png", 10, 123), "converted", "/out/a.png")
    journal.close()
    again = Journal(tmp_path / "journal.sqlite")
    assert again.seen(("a.png", 10, 123))
    assert not again.seen(("a.png", 10, 124))  # replaced under the same name: new work
    assert again.count() == 1
    again.close()


def test_unique_name_never_overwrites_an_earlier_input(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert unique_name(fd, "a.png") == "a.png"
        (tmp_path / "a.png").write_bytes(b"1")
        (tmp_path / "a.1.png").symlink_to("nowhere")  # a dangling link takes its name too
        assert unique_name(fd, "a.png") == "a.2.png"
    finally:
        os.close(fd)


def test_config_file_merges_defaults_folders_and_command_line(tmp_path: Path) -> None:
    config = tmp_path / "conf.toml"
    config.write_text(
        """
jobs = 3
settle = 250
status-file = "status.json"
[defaults]
quality = 70
on_success = "keep"
[[folder]]
input = "a/in"
output = "a/out"
[[folder]]
input = "/srv/b/in"
output = "/srv/b/out"
action = "flip"
format = "png"
""",
        encoding="utf-8",
    )
    built = watch_config.build(config_file=config, settings={"jobs": 1, "rescan": None})
    assert built.jobs == 1 and built.settle_ms == 250 and built.rescan == 60
    assert built.status_file == tmp_path / "status.json"
    first, second = built.folders
    assert first.input == tmp_path / "a" / "in" and first.quality == 70
    assert first.on_success == "keep" and first.action == "defend"
    assert second.action == "flip" and second.format == "png" and second.input == Path("/srv/b/in")
    overridden = watch_config.build(config_file=config, options={"quality": 50})
    assert {f.quality for f in overridden.folders} == {50}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ("jobs = true\n", "jobs must be a int"),
        ("[[folder]]\ninput = 'x'\n", r"\[\[folder\]\] #1: output is missing"),
        ("[[folder]]\ninput='i'\noutput='o'\naction='shrink'\n", "action must be one of"),
        ("[[folder]]\ninput='i'\noutput='o'\non_success='drop'\n", "on_success must be one of"),
        ("[[folder]]\ninput='i'\noutput='i'\n", "same folder"),
        ("[[folder]]\ninput='i'\noutput='o'\n[[folder]]\ninput='i/sub'\noutput='p'\n", "overlap"),
        ("jobs = \n", "not valid TOML"),
        ("", "nothing to watch"),
    ],
)
def test_config_errors_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as raised:
        watch_config.build(config_file=config)
    assert "\n" not in str(raised.value)


def test_command_line_folders() -> None:
    one = watch_config.build(inputs=["in"], output=Path("out"))
    assert [(f.input, f.output) for f in one.folders] == [(Path("in"), Path("out"))]
    pairs = watch_config.build(inputs=["a:b", "c:d"])
    assert [(f.input, f.output) for f in pairs.folders] == [
        (Path("a"), Path("b")),
        (Path("c"), Path("d")),
    ]
    with pytest.raises(UsageError, match="is not IN:OUT"):
        watch_config.build(inputs=["a"])
    with pytest.raises(UsageError, match="exactly one input"):
        watch_config.build(inputs=["a", "b"], output=Path("o"))


def small_png(path: Path, seed: int = 0) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def work_item(tmp_path: Path, relative: str, on_success: str, job: object = None):
    from lltd.batch.scan import Task
    from lltd.jobs.defend import DefendJob
    from lltd.watch.worker import WorkItem

    inp, out = tmp_path / "in", tmp_path / "out"
    return WorkItem(
        job=job or DefendJob(output_dir=out, force=True),  # type: ignore[arg-type]
        task=Task(source=inp / relative, relative=Path(relative)),
        on_success=on_success,
        state_dir=inp / ".lltd",
        quarantine_dir=out / "failed",
    )


@pytest.mark.parametrize("on_success", ["move", "delete", "keep"])
def test_worker_disposes_of_an_input_only_after_its_output(tmp_path: Path, on_success: str) -> None:
    from lltd.watch.worker import process

    data = small_png(tmp_path / "in" / "sub" / "a.png")
    done = process(work_item(tmp_path, "sub/a.png", on_success))
    assert done.result.outcome.value == "converted"
    assert (tmp_path / "out" / "sub" / "a.png").is_file()
    moved = tmp_path / "in" / ".lltd" / "done" / "sub" / "a.png"
    if on_success == "move":
        assert done.disposed == f"moved:{moved}" and moved.read_bytes() == data
    elif on_success == "delete":
        assert done.disposed == "deleted" and not (tmp_path / "in" / "sub" / "a.png").exists()
    else:
        assert done.disposed == "kept" and (tmp_path / "in" / "sub" / "a.png").read_bytes() == data
    # The same name dropped again later: the first original in done/ is not overwritten.
    if on_success == "move":
        small_png(tmp_path / "in" / "sub" / "a.png", seed=1)
        again = process(work_item(tmp_path, "sub/a.png", on_success))
        assert again.disposed.endswith("a.1.png") and moved.read_bytes() == data


def test_worker_sets_failures_aside_with_a_reason_for_every_action(tmp_path: Path) -> None:
    from lltd.codecs import EncodeOptions
    from lltd.jobs.compress import CompressJob
    from lltd.watch.worker import process

    bad = tmp_path / "in" / "bad.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    compress = CompressJob(output_dir=tmp_path / "out", options=EncodeOptions(quality=60))
    done = process(work_item(tmp_path, "bad.png", "move", job=compress))
    assert done.result.outcome.value == "failed"
    copy = tmp_path / "out" / "failed" / "bad.png"
    assert copy.read_bytes() == b"\x89PNG\r\n\x1a\nnot really"
    reason = (tmp_path / "out" / "failed" / "bad.png.error.txt").read_text()
    assert reason.startswith(f"{bad}: ") and "image" in reason
    assert done.disposed == f"moved:{tmp_path / 'in' / '.lltd' / 'failed' / 'bad.png'}"


def test_worker_leaves_a_file_that_changed_while_it_was_read(tmp_path: Path) -> None:
    from dataclasses import dataclass

    from lltd.batch.scan import Task
    from lltd.jobs.defend import DefendJob
    from lltd.watch.worker import process

    @dataclass(frozen=True)
    class WriterStillAtWork:
        inner: DefendJob

        def __call__(self, task: Task):
            result = self.inner(task)
            with task.source.open("ab") as handle:  # the writer appends after our read
                handle.write(b"more")
            return result

    small_png(tmp_path / "in" / "a.png")
    job = WriterStillAtWork(DefendJob(output_dir=tmp_path / "out", force=True))
    done = process(work_item(tmp_path, "a.png", "move", job=job))
    assert done.disposed == "changed"
    assert (tmp_path / "in" / "a.png").exists()  # not moved: it is done again once settled
