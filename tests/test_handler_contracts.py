"""The watch filter's and handler's own rules (issue 27), apart from the planner's: ``is_input``
takes every name here, so what is refused is refused by the filter itself. Real files in
tmp_path, events built by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchdog.events import DirCreatedEvent, DirMovedEvent, FileClosedEvent

from lltd.watch.handler import Filter, WatchHandler, is_link_outside, is_partial_name


def everything(name: str) -> bool:
    return True


@pytest.mark.parametrize(
    "name",
    ["a.png.part", "a.png.tmp", "a.png~", "a.png.crdownload", "a.png.partial", "a.png.swp"],
)
def test_every_partial_pattern_holds_a_file_back(name: str) -> None:
    assert is_partial_name(name)
    assert is_partial_name(name.upper())
    assert not is_partial_name(name + ".png")  # renamed to its final name: an input


@pytest.mark.parametrize(
    ("relative", "accepted"),
    [
        ("a.png", True),
        ("sub/deeper/a.png", True),
        ("sub/x.y/a.png", True),  # a dot inside a folder's name hides nothing
        (".hidden/a.png", False),
        ("sub/.hidden/a.png", False),
        ("sub/deeper/.hidden/a.png", False),
        (".a/b/c/a.png", False),
    ],
)
def test_nothing_under_a_dot_folder_at_any_depth_is_an_input(
    tmp_path: Path, relative: str, accepted: bool
) -> None:
    path = tmp_path / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    assert Filter(tmp_path, everything).accepts(path) is accepted


def test_the_watched_folder_itself_and_paths_outside_it_are_no_inputs(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    flt = Filter(root, everything)
    assert not flt.accepts(root)
    assert not flt.accepts(tmp_path / "beside.png")
    assert not flt.accepts_directory(tmp_path / "beside")
    assert flt.accepts_directory(root / "sub")


def test_a_link_loop_is_no_input_and_raises_nothing(tmp_path: Path) -> None:
    (tmp_path / "loop.png").symlink_to("loop.png")
    (tmp_path / "ping.png").symlink_to("pong.png")
    (tmp_path / "pong.png").symlink_to("ping.png")
    assert is_link_outside(tmp_path / "loop.png", tmp_path)
    flt = Filter(tmp_path, everything)
    assert not flt.accepts(tmp_path / "loop.png")
    assert not flt.accepts(tmp_path / "ping.png")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Path]] = []

    def __getattr__(self, name: str):
        return lambda path: self.calls.append((name, path))


def test_only_folders_the_filter_accepts_are_scanned(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("sub", ".lltd", "out", "moved-in"):
        (root / name).mkdir(parents=True)
    sink = Recorder()
    handler = WatchHandler(Filter(root, everything, exclude=(root / "out",)), sink)  # type: ignore[arg-type]
    handler.dispatch(DirCreatedEvent(str(root / ".lltd")))
    handler.dispatch(DirCreatedEvent(str(root / "out")))
    handler.dispatch(DirCreatedEvent(str(tmp_path / "elsewhere")))
    handler.dispatch(DirMovedEvent(str(root / "sub"), ""))  # moved out of the watch
    handler.dispatch(DirMovedEvent(str(root / "x"), str(root / ".trash" / "x")))
    assert sink.calls == []
    handler.dispatch(DirCreatedEvent(str(root / "sub")))
    handler.dispatch(DirMovedEvent("", str(root / "moved-in")))
    handler.dispatch(FileClosedEvent(str(root / ".lltd" / "a.png")))
    assert sink.calls == [("directory", root / "sub"), ("directory", root / "moved-in")]
