"""What the daemon has done, in SQLite beside the inputs (``IN/.lltd/journal.sqlite``).

``outputs`` says which input each output name was given to, in every mode: a later input whose
output name is taken by a different input (``a.png`` then ``a.jpg``, both ``a.png`` in OUT)
gets another name instead of replacing it. ``done`` is what ``--on-success keep`` has done.

An input is identified by its path relative to IN, size and mtime: a file replaced under the same
name is new work. A record is written only after the output is in place, so a crash in between
means the file is done again (the output is replaced atomically by an identical one), never lost.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS done (
    relative TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    output TEXT,
    finished REAL NOT NULL,
    PRIMARY KEY (relative, size, mtime_ns)
);
CREATE TABLE IF NOT EXISTS outputs (
    output TEXT PRIMARY KEY,
    input TEXT NOT NULL
)
"""

Key = tuple[str, int, int]  # pragma: no mutate (used in annotations only, never evaluated)


class Journal:
    def __init__(self, path: Path | str) -> None:
        self.path = path  # pragma: no mutate (for whoever inspects a Journal; lltd never reads it)
        # One connection shared by the daemon's threads, serialised by our own lock. The busy
        # timeout (30 s) only matters when another process holds the database that long.
        self._db = sqlite3.connect(
            path,
            check_same_thread=False,
            isolation_level=None,
            timeout=30,  # pragma: no mutate
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def seen(self, key: Key) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM done WHERE relative=? AND size=? AND mtime_ns=?", key
            ).fetchone()
        return row is not None

    def record(self, key: Key, outcome: str, output: str | None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?, ?)",
                (*key, outcome, output, time.time()),
            )

    def assign_output(
        self, input: str, candidates: Iterable[str], exists: Callable[[str], bool]
    ) -> str:
        """The first of ``candidates`` (output names relative to OUT) that is ``input``'s already,
        or free: recorded for no other input and, if recorded for none, not on disk (an output we
        cannot attribute is never replaced). Recorded before the output is written."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                chosen = self._choose(input, candidates, exists)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return chosen

    def _choose(self, input: str, candidates: Iterable[str], exists: Callable[[str], bool]) -> str:
        for candidate in candidates:
            row = self._db.execute(
                "SELECT input FROM outputs WHERE output=?", (candidate,)
            ).fetchone()
            if row is not None:
                if row[0] == input:
                    return candidate
                continue
            if exists(candidate):
                continue
            self._db.execute("INSERT INTO outputs VALUES (?, ?)", (candidate, input))
            return candidate
        raise RuntimeError("no free output name")  # candidates are an endless series

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM done").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
