"""Drop folders on storage URLs (``lltd.watch.objects``), in-process on ``file://`` folders in
the test's temporary folder: an object taken only once two listings agree on its size and time,
never empty, never a partial name, a dot folder's or the output's; the output names from the
planner; each disposal (``.lltd/done/``, ``.lltd/failed/``, deleted, left for a later poll);
each log line and count word for word; and the life cycle (refusals, status, notifications).
The worker threads are replaced by a pool whose submissions the test runs when it says."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from waiting import wait_for

from lltd.batch.outcome import FileResult, Outcome
from lltd.cluster.storage import Storage
from lltd.common.errors import UsageError
from lltd.watch.config import FolderConfig, WatchConfig
from lltd.watch.log import Log
from lltd.watch.notify import Notifier
from lltd.watch.objects import POLL_MIN, LazyListing, ObjectWatcher

BAD = b"\x89PNG\r\n\x1a\nnot really"


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
    def __init__(self) -> None:
        super().__init__(None)
        self.said: list[tuple[str, str | None]] = []

    def ready(self, status: str | None = None) -> bool:
        self.said.append(("ready", status))
        return True

    def status(self, text: str) -> bool:
        self.said.append(("status", text))
        return True

    def stopping(self, status: str | None = None) -> bool:
        self.said.append(("stopping", status))
        return True

    def close(self) -> None:
        self.said.append(("close", None))


class Deferred:
    """The worker threads' pool: each submission runs when the test calls :meth:`run`."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.waiting.append((fn, args, future))
        return future

    def run(self) -> list[Any]:
        done, self.waiting = self.waiting, []
        results = []
        for fn, args, future in done:
            results.append(fn(*args))
            future.set_result(results[-1])
        return results


def picture(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3), colour).save(path)
    return path.read_bytes()


class Setup:
    def __init__(
        self, tmp_path: Path, *, on_success: str = "move", out: str = "out", **config: Any
    ) -> None:
        self.inp = tmp_path / "in"
        self.out = tmp_path / out
        self.inp.mkdir(exist_ok=True)
        folder = FolderConfig(
            f"file://{self.inp}",  # type: ignore[arg-type]
            f"file://{self.out}",  # type: ignore[arg-type]
            action="flip",
            on_success=on_success,
        )
        self.log = Lines()
        self.notifier = Said()
        self.watcher = ObjectWatcher(
            WatchConfig((folder,), jobs=1, **config), notifier=self.notifier, log=self.log
        )
        # run() as far as its loop: the storages, the job, then straight to the end.
        self.watcher.stop()
        assert self.watcher.run(install_signals=False) == 0
        self.log.lines.clear()
        self.pool = Deferred()

    def poll(self) -> None:
        self.watcher._poll(self.pool)  # type: ignore[arg-type]

    def url(self, name: str) -> str:
        return f"file://{self.inp}/{name}"


# -- refusals and settings ---------------------------------------------------------------------


def test_one_folder_only_and_never_keep(tmp_path: Path) -> None:
    one = FolderConfig("memory://a", "memory://b")  # type: ignore[arg-type]
    with pytest.raises(UsageError) as caught:
        ObjectWatcher(WatchConfig((one, one)))
    assert str(caught.value) == "an object-storage drop folder is watched alone: one IN -o OUT"
    keep = FolderConfig("memory://a", "memory://b", on_success="keep")  # type: ignore[arg-type]
    with pytest.raises(UsageError) as caught:
        ObjectWatcher(WatchConfig((keep,)))
    assert str(caught.value) == (
        "memory://a: object-storage drop folders take --on-success move or delete "
        "(keep needs a journal beside the inputs)"
    )


def test_the_poll_period_is_the_settle_period_but_never_under_0_2_s(tmp_path: Path) -> None:
    fc = FolderConfig("memory://a", "memory://b")  # type: ignore[arg-type]
    assert POLL_MIN == 0.2
    assert ObjectWatcher(WatchConfig((fc,), settle_ms=100)).poll == 0.2
    assert ObjectWatcher(WatchConfig((fc,), settle_ms=1500)).poll == 1.5
    assert ObjectWatcher(WatchConfig((fc,), jobs=3)).jobs == 3


def test_a_missing_input_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    fc = FolderConfig(f"file://{tmp_path}/none", f"file://{tmp_path}/out")  # type: ignore[arg-type]
    with pytest.raises(UsageError) as caught:
        ObjectWatcher(WatchConfig((fc,), jobs=1), log=Lines(), notifier=Said()).run(
            install_signals=False
        )
    assert str(caught.value) == f"input folder file://{tmp_path}/none does not exist"


def test_the_life_cycle_lines_notifications_and_status_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    status_file = tmp_path / "status.json"
    fc = FolderConfig(f"file://{tmp_path}/in", f"file://{tmp_path}/out")  # type: ignore[arg-type]
    log, said = Lines(), Said()
    watcher = ObjectWatcher(
        WatchConfig((fc,), jobs=2, settle_ms=300, status_file=status_file),
        log=log,
        notifier=said,
    )
    at_ready: list[str] = []
    real_ready = said.ready

    def ready(status: str | None = None) -> bool:
        at_ready.append(json.loads(status_file.read_text())["state"])
        return real_ready(status)

    said.ready = ready  # type: ignore[method-assign]
    watcher.stop()
    assert watcher.run(install_signals=False) == 0
    assert at_ready == ["running"]  # the status file exists, running, when READY=1 is said
    idle = "processed 0, failed 0, queued 0, in flight 0"
    assert log.lines == [
        ("info", f"watching file://{tmp_path}/in (polling every 0.3 s) with 2 worker(s): {idle}"),
        ("info", f"stopped: {idle}"),
    ]
    assert [s for s in said.said if s[0] != "status"] == [
        ("ready", idle),
        ("stopping", idle),
        ("close", None),
    ]
    written = json.loads(status_file.read_text())
    assert written["state"] == "stopped" == watcher.counters.state
    assert written["folders"] == [
        {
            "input": f"file://{tmp_path}/in",
            "output": f"file://{tmp_path}/out",
            "processed": 0,
            "failed": 0,
        }
    ]


# -- what is taken, and when ---------------------------------------------------------------------


def test_an_object_is_taken_once_two_listings_agree(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    data = picture(made.inp / "a.png")
    made.poll()
    assert made.pool.waiting == []  # seen once: not yet
    made.poll()
    assert [args for _, args, _ in made.pool.waiting] == [
        ("a.png", (len(data), (made.inp / "a.png").stat().st_mtime), "a_f.png")
    ]
    made.poll()  # in flight: not taken twice
    assert len(made.pool.waiting) == 1
    [result] = made.pool.run()
    assert result.outcome is Outcome.CONVERTED
    assert (made.out / "a_f.png").is_file()
    assert (made.inp / ".lltd" / "done" / "a.png").read_bytes() == data
    assert not (made.inp / "a.png").exists()
    assert made.watcher.counters.processed == 1 and made.watcher._in_flight == {}
    assert made.log.lines == [
        ("file", f"converted: {made.url('a.png')} -> file://{made.out}/a_f.png")
    ]


def test_a_changing_object_waits_until_it_holds_still(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    made.poll()
    picture(made.inp / "a.png", (1, 2, 3))
    with (made.inp / "a.png").open("ab") as handle:
        handle.write(b"more")
    made.poll()
    assert made.pool.waiting == []
    made.poll()
    assert len(made.pool.waiting) == 1


def test_empty_partial_dotted_and_output_objects_are_never_taken(tmp_path: Path) -> None:
    made = Setup(tmp_path, out="in/out")
    (made.inp / "empty.png").write_bytes(b"")
    (made.inp / "a.png.part").write_bytes(BAD)
    picture(made.inp / ".cache" / "b.png")
    picture(made.inp / "sub" / ".x" / "c.png")
    picture(made.inp / "out" / "d.png")
    picture(made.inp / "outer" / "e.png")  # a name that begins as the output's
    (made.inp / "f.png.tmp").write_bytes(BAD)
    (made.inp / "notes.txt").write_bytes(b"text")
    made.poll()
    made.poll()
    assert [args[0] for _, args, _ in made.pool.waiting] == ["outer/e.png"]


def test_an_output_folder_equal_to_nothing_inside_takes_everything(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "out" / "d.png")  # "out" is not the output here
    made.poll()
    made.poll()
    assert [args[0] for _, args, _ in made.pool.waiting] == ["out/d.png"]


def test_colliding_names_get_the_planners_names(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    made.poll()
    made.poll()
    picture(made.inp / "a_f.png")  # the flip of a.png already: no input
    picture(made.inp / "b.png")
    picture(made.inp / "c_f.png")  # no c.* beside it: an input like any
    made.poll()
    made.poll()
    assert [(args[0], args[2]) for _, args, _ in made.pool.waiting] == [
        ("a.png", "a_f.png"),
        ("b.png", "b_f.png"),
        ("c_f.png", "c_f_f.png"),
    ]


def test_an_output_name_held_in_flight_is_let_go_once_the_file_is_done(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    made.poll()
    made.poll()
    assert made.watcher.names.held != {}
    made.pool.run()
    assert made.watcher._finished == ["a_f.png"]
    made.poll()
    assert made.watcher._finished == [] and "a_f.png" not in made.watcher.names.held


def test_a_name_the_planner_refuses_is_left_in_place_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    picture(made.inp / "b.png")
    made.poll()
    from lltd.batch.plan import Planner

    real = Planner.assign

    def assign(self: Planner, name: str) -> str:
        if name == "a.png":
            raise UsageError("a_f.png: taken by someone else")
        return real(self, name)

    monkeypatch.setattr(Planner, "assign", assign)
    made.poll()
    assert made.log.lines == [
        ("error", f"{made.url('a.png')}: a_f.png: taken by someone else; left in place")
    ]
    assert [args[0] for _, args, _ in made.pool.waiting] == ["b.png"]


# -- processing and disposal -------------------------------------------------------------------


def taken(made: Setup) -> list[FileResult]:
    made.poll()
    made.poll()
    return made.pool.run()


def test_a_failure_is_set_aside_counted_and_its_input_moved_to_failed(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    (made.inp / "bad.png").write_bytes(BAD)
    [result] = taken(made)
    assert result.outcome is Outcome.FAILED
    assert (made.out / "failed" / "bad.png").read_bytes() == BAD
    assert (made.inp / ".lltd" / "failed" / "bad.png").read_bytes() == BAD
    assert not (made.inp / "bad.png").exists()
    counters = made.watcher.counters
    assert (counters.processed, counters.failed) == (0, 1)
    assert counters.outcomes() == {"failed": 1}
    assert counters.last_error == f"{made.url('bad.png')}: {result.error}"
    assert made.log.lines == [
        (
            "error",
            f"failed: {result.input}: {result.error} (set aside in {result.output})",
        )
    ]


def test_delete_removes_the_input_of_a_success_and_of_a_failure(tmp_path: Path) -> None:
    made = Setup(tmp_path, on_success="delete")
    picture(made.inp / "a.png")
    (made.inp / "bad.png").write_bytes(BAD)
    taken(made)
    assert sorted(p.name for p in made.inp.iterdir()) == []
    assert (made.out / "a_f.png").is_file() and (made.out / "failed" / "bad.png").is_file()


def test_an_object_changed_while_processed_stays_and_is_not_counted(
    tmp_path: Path,
) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    made.poll()
    made.poll()
    with (made.inp / "a.png").open("ab") as handle:
        handle.write(b"more")
    made.pool.run()
    assert (made.inp / "a.png").is_file() and not (made.inp / ".lltd").exists()
    assert made.watcher.counters.processed == 0
    assert made.log.lines == [("warning", "a.png changed while processed: again")]
    assert made.watcher._in_flight == {} and made.watcher._finished == ["a_f.png"]


def test_an_object_gone_while_processed_stays_gone_uncounted(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    made.poll()
    made.poll()
    remote = made.watcher.remote

    def then_gone(task: Any) -> FileResult:
        result = remote(task)
        (made.inp / "a.png").unlink()
        return result

    made.watcher.remote = then_gone  # type: ignore[assignment]
    made.pool.run()
    assert made.log.lines == [("warning", "a.png changed while processed: again")]


def test_a_failure_not_even_set_aside_stays_for_a_later_poll(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    data = picture(made.inp / "a.png")
    made.watcher.remote = lambda task: FileResult("in/a.png", None, Outcome.FAILED, error="no")  # type: ignore[assignment]
    taken(made)
    assert (made.inp / "a.png").read_bytes() == data and not (made.inp / ".lltd").exists()
    assert made.watcher.counters.failed == 1
    assert made.log.lines == [("error", "failed: in/a.png: no")]


def test_any_trouble_with_one_object_is_one_line_and_a_failed_result(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")

    def broken(task: Any) -> FileResult:
        raise ConnectionError("the network\nis down")

    made.watcher.remote = broken  # type: ignore[assignment]
    [result] = taken(made)
    assert result == FileResult("a.png", None, Outcome.FAILED, error="the network\nis down")
    assert made.log.lines == [
        (
            "error",
            f"failed: {made.url('a.png')}: ConnectionError: the network\\nis down; left in place",
        )
    ]
    assert made.watcher._in_flight == {} and made.watcher._finished == ["a_f.png"]
    assert (made.inp / "a.png").is_file()


def test_a_listing_that_fails_is_a_warning_and_the_next_poll_tries_again(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    calls: list[int] = []

    def listing() -> dict:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("reset by peer")
        made.watcher.stop()
        return real_listing(made.watcher.source)

    made.watcher._stop = type(made.watcher._stop)()  # not stopped: run the loop
    inp = f"file://{made.inp}"

    def patched(self: Storage) -> dict:
        return listing() if self.location == inp else real_listing(self)

    real_listing = Storage.listing
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Storage, "listing", patched)
        assert made.watcher.run(install_signals=False) == 0
    assert len(calls) == 2
    assert ("warning", f"cannot list file://{made.inp}: reset by peer") in made.log.lines
    assert made.watcher.counters.rescans == 2


# -- the lazy listing ---------------------------------------------------------------------------


def test_a_lazy_listing_lists_once_on_first_use(tmp_path: Path) -> None:
    picture(tmp_path / "a.png")
    picture(tmp_path / "sub" / "b.png")
    calls: list[int] = []

    class Counted(Storage):
        def listing_if_any(self) -> dict:
            calls.append(1)
            return super().listing_if_any()

    storage = Counted.of(f"file://{tmp_path}")
    lazy = LazyListing(storage)
    assert calls == []
    assert sorted(lazy) == ["a.png", "sub/b.png"] and len(lazy) == 2
    assert lazy["a.png"].size == (tmp_path / "a.png").stat().st_size
    assert "sub/b.png" in lazy and "c.png" not in lazy
    assert calls == [1]


def test_a_one_byte_object_is_taken(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    (made.inp / "one.png").write_bytes(b"x")
    made.poll()
    made.poll()
    assert [args[0] for _, args, _ in made.pool.waiting] == ["one.png"]


def test_metrics_are_served_while_running_and_closed_after(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    made = Setup(tmp_path)
    fc = made.watcher.folder
    log = Lines()
    watcher = ObjectWatcher(
        WatchConfig((fc,), jobs=1, metrics_port="127.0.0.1:0"), notifier=Said(), log=log
    )
    served: list[object] = []
    real = watcher._serve_metrics

    def serve():  # type: ignore[no-untyped-def]
        served.append(real())
        return served[-1]

    watcher._serve_metrics = serve  # type: ignore[method-assign]
    watcher.stop()
    watcher.run(install_signals=False)
    [metrics] = served
    url = metrics.url  # type: ignore[attr-defined]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    assert log.lines[0] == ("info", f"serving Prometheus metrics on {url}")
    import socket

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # closed at the end


def test_run_installs_its_signal_handlers_unless_told_not_to(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    installed: list[int] = []
    made.watcher._stop.install = lambda: installed.append(1)  # type: ignore[method-assign]
    made.watcher.run()
    assert installed == [1]
    made.watcher.run(install_signals=False)
    assert installed == [1]


def test_a_whole_run_takes_an_object_on_a_worker_thread_and_publishes_its_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from lltd.cluster import remote

    threads: list[str] = []
    real = remote.RemoteJob.__call__

    def on_thread(self, task):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real(self, task)

    monkeypatch.setattr(remote.RemoteJob, "__call__", on_thread)
    (tmp_path / "in").mkdir()
    data = picture(tmp_path / "in" / "a.png")
    status_file = tmp_path / "status.json"
    fc = FolderConfig(f"file://{tmp_path}/in", f"file://{tmp_path}/out")  # type: ignore[arg-type]
    watcher = ObjectWatcher(
        WatchConfig((fc,), jobs=1, settle_ms=100, status_file=status_file),
        notifier=Said(),
        log=Lines(),
    )
    thread = threading.Thread(target=watcher.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    wait_for(lambda: watcher.counters.processed == 1 or not thread.is_alive(), "a.png done")
    wait_for(
        lambda: json.loads(status_file.read_text())["processed"] == 1 or not thread.is_alive(),
        "the status file's count",
    )
    watcher.stop()
    thread.join(60)
    assert not thread.is_alive()
    assert [name.rpartition("_")[0] for name in threads] == ["lltd-object"]
    assert (tmp_path / "in" / ".lltd" / "done" / "a.png").read_bytes() == data
    written = json.loads(status_file.read_text())
    assert (written["state"], written["processed"], written["in_flight"]) == ("stopped", 1, 0)
    assert written["rescans"] == watcher.counters.rescans >= 2


def test_stopping_waits_for_the_object_in_flight_and_drops_those_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from lltd.cluster import remote

    started, release = threading.Event(), threading.Event()
    real = remote.RemoteJob.__call__

    def slow(self, task):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(60)
        return real(self, task)

    monkeypatch.setattr(remote.RemoteJob, "__call__", slow)
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png"):
        picture(tmp_path / "in" / name)
    status_file = tmp_path / "status.json"
    fc = FolderConfig(f"file://{tmp_path}/in", f"file://{tmp_path}/out")  # type: ignore[arg-type]
    watcher = ObjectWatcher(
        WatchConfig((fc,), jobs=1, settle_ms=100, status_file=status_file),
        notifier=Said(),
        log=Lines(),
    )
    published: list[tuple[int, int, int]] = []
    real_publish = watcher.publisher.publish

    def publish(now: float, *, force: bool = False) -> None:
        counters = watcher.counters
        published.append((counters.queued, counters.settling, counters.in_flight))
        real_publish(now, force=force)

    watcher.publisher.publish = publish  # type: ignore[method-assign]
    thread = threading.Thread(target=watcher.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        assert started.wait(60), "no object was started"
        wait_for(lambda: len(watcher._in_flight) == 2 or not thread.is_alive(), "both submitted")
        watcher.stop()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for a.png's worker
    finally:
        release.set()
    thread.join(60)
    assert not thread.is_alive()
    assert published[:2] == [(0, 0, 0), (0, 2, 0)]  # ready; then both seen once
    assert watcher.counters.processed == 1
    assert (tmp_path / "in" / ".lltd" / "done" / "a.png").is_file()
    assert (tmp_path / "in" / "b.png").is_file()  # never started: left for the next start
    written = json.loads(status_file.read_text())
    assert (written["state"], written["settling"], written["in_flight"]) == ("stopped", 0, 0)


def test_a_name_taken_in_the_output_folder_is_not_given_again(tmp_path: Path) -> None:
    """a.png then a.jpg, both a_f.png in OUT: a.png's output holds the name from its record
    once it is done, so a.jpg takes the next one (the output folder's own listing)."""
    (tmp_path / "in").mkdir()
    picture(tmp_path / "in" / "a.png")
    fc = FolderConfig(
        f"file://{tmp_path}/in",  # type: ignore[arg-type]
        f"file://{tmp_path}/out",  # type: ignore[arg-type]
        action="flip",
        format="png",
    )
    watcher = ObjectWatcher(WatchConfig((fc,), jobs=1), notifier=Said(), log=Lines())
    watcher.stop()
    watcher.run(install_signals=False)
    pool = Deferred()
    for _ in range(2):
        watcher._poll(pool)  # type: ignore[arg-type]
    pool.run()
    Image.new("RGB", (4, 3), (1, 2, 3)).save(tmp_path / "in" / "a.jpg")
    for _ in range(2):
        watcher._poll(pool)  # type: ignore[arg-type]
    assert [(args[0], args[2]) for _, args, _ in pool.waiting] == [("a.jpg", "a.jpg_f.png")]


def test_an_output_folder_that_is_the_input_is_listed_once_per_poll(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    picture(tmp_path / "in" / "a.png")
    calls: list[str] = []

    class Counted(Storage):
        def listing_if_any(self) -> dict:
            calls.append(self.location)
            return super().listing_if_any()

    fc = FolderConfig(f"file://{tmp_path}/in", f"file://{tmp_path}/in")  # type: ignore[arg-type]
    watcher = ObjectWatcher(WatchConfig((fc,), jobs=1), notifier=Said(), log=Lines())
    watcher.stop()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Storage, "of", classmethod(lambda cls, loc: Counted(str(loc))))
        watcher.run(install_signals=False)
    pool = Deferred()
    for _ in range(2):
        watcher._poll(pool)  # type: ignore[arg-type]
    assert [(args[0], args[2]) for _, args, _ in pool.waiting] == [("a.png", "a.png.png")]
    assert calls == []  # the poll's own listing serves as the output's


def test_every_object_done_is_moved_into_the_one_done_folder(tmp_path: Path) -> None:
    made = Setup(tmp_path)
    for name in ("a.png", "b.png", "sub/c.png"):
        picture(made.inp / name)
    taken(made)
    done = made.inp / ".lltd" / "done"
    assert sorted(p.relative_to(done).as_posix() for p in done.rglob("*.png")) == [
        "a.png",
        "b.png",
        "sub/c.png",
    ]
    assert made.watcher.counters.processed == 3


def test_a_result_without_an_error_or_an_output_is_logged_with_nothing_in_its_place(
    tmp_path: Path,
) -> None:
    made = Setup(tmp_path)
    picture(made.inp / "a.png")
    picture(made.inp / "b.png")
    results = {
        "a.png": FileResult("in/a.png", None, Outcome.FAILED),
        "b.png": FileResult("in/b.png", None, Outcome.NAME_MATCH),
    }
    made.watcher.remote = lambda task: results[task.relative.as_posix()]  # type: ignore[assignment]
    taken(made)
    assert made.log.lines == [("error", "failed: in/a.png: "), ("file", "name_match: in/b.png -> ")]
