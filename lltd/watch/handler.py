"""Turn watchdog events into "this file is complete" (or "watch it settle") decisions.

The handler knows nothing of threads or queues: it filters names and calls a :class:`Sink`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from lltd.batch.scan import is_within

#: Names writers give files they are still writing; such files wait until renamed.
PARTIAL_PATTERNS = ("*.part", "*.tmp", "*~", "*.crdownload", "*.partial", "*.swp")


def is_partial_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or any(fnmatch.fnmatchcase(lowered, p) for p in PARTIAL_PATTERNS)


class Filter:
    """Which paths under ``root`` are inputs: no partial names, nothing under a dot-folder
    (``.lltd/`` included) or under ``exclude``, no links that lead outside ``root``, and what
    ``is_input`` (the planner's rule, handed in as data: the job's extensions and its own rule)
    takes, given the input-relative name."""

    def __init__(
        self, root: Path, is_input: Callable[[str], bool], exclude: tuple[Path, ...] = ()
    ) -> None:
        self.root = root
        self.is_input = is_input
        self.exclude = exclude

    def accepts(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        parts = relative.parts
        if not parts or any(part.startswith(".") for part in parts[:-1]):
            return False
        if is_partial_name(parts[-1]):
            return False
        if any(is_within(path, folder) for folder in self.exclude):
            return False
        return self.is_input(relative.as_posix()) and not is_link_outside(path, self.root)

    def accepts_directory(self, path: Path) -> bool:
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return False
        if any(part.startswith(".") for part in parts):
            return False
        if any(is_within(path, folder) for folder in self.exclude):
            return False
        return not os.path.islink(path)


def is_link_outside(path: Path, root: Path) -> bool:
    """A symbolic link (in the name or any folder above it) that resolves outside ``root``."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a link loop: RuntimeError before Python 3.13
        return True
    return not is_within(resolved, root)


class Sink(Protocol):
    """What the daemon does with the handler's decisions (``path`` is already accepted)."""

    def complete(self, path: Path) -> None:
        """Written and closed, or renamed into place: ready to process."""

    def moved_in(self, path: Path) -> None:
        """Renamed into place: complete, whatever the completion rule."""

    def candidate(self, path: Path) -> None:
        """Appeared or changed with no completion signal: process once it settles."""

    def opened(self, path: Path) -> None: ...

    def closed_unwritten(self, path: Path) -> None: ...

    def gone(self, path: Path) -> None:
        """Deleted or renamed away."""

    def directory(self, path: Path) -> None:
        """A folder appeared (created or moved in): scan it."""


class WatchHandler(FileSystemEventHandler):
    """Native (inotify) events: close-after-write and renames complete a file; a bare creation
    (a file moved in from another folder looks like one) waits to settle, unless an open for
    writing shows that someone is still writing it.

    With ``polling`` nothing signals completion, so every new or changed file settles.
    """

    def __init__(self, filter: Filter, sink: Sink, *, polling: bool = False) -> None:
        self.filter = filter
        self.sink = sink
        self.polling = polling

    def dispatch(self, event: FileSystemEvent) -> None:
        # Paths are str because the observers are given str paths.
        src = Path(os.fsdecode(event.src_path)) if event.src_path else None
        dest = Path(os.fsdecode(event.dest_path)) if event.dest_path else None
        if isinstance(event, DirCreatedEvent | DirMovedEvent):
            target = dest if isinstance(event, DirMovedEvent) else src
            if target is not None and self.filter.accepts_directory(target):
                self.sink.directory(target)
            return
        if isinstance(event, FileMovedEvent):
            if src is not None:
                self.sink.gone(src)
            if dest is not None and self.filter.accepts(dest):
                if self.polling:
                    self.sink.candidate(dest)
                else:
                    self.sink.moved_in(dest)
            return
        if src is None:
            return
        if isinstance(event, FileDeletedEvent):
            self.sink.gone(src)
            return
        if not self.filter.accepts(src):
            return
        if isinstance(event, FileClosedEvent):
            self.sink.complete(src)
        elif isinstance(event, FileCreatedEvent | FileModifiedEvent):
            self.sink.candidate(src)
        elif isinstance(event, FileOpenedEvent):
            self.sink.opened(src)
        elif isinstance(event, FileClosedNoWriteEvent):
            self.sink.closed_unwritten(src)
