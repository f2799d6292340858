"""The file a work item names, opened once by descriptor and acted on through that descriptor.

A name in IN can be re-pointed at any time by whoever uploads: between the moment a file
settled and the moment a worker gets to it, the upload can become a link to a file outside IN, a
FIFO or another file. So the worker never reads, moves or deletes *by name*. It opens IN, walks
down to the file's folder one component at a time with ``O_NOFOLLOW``, checks the file itself
without following it, opens it ``O_NOFOLLOW``, and compares what ``fstat`` says with the version
the file settled with (all through :mod:`lltd.fs`). The job then reads that very descriptor
(``Task.opened``), and the disposal renames or unlinks the name in the folder held open only
while it still holds that same node.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol

from lltd.batch.scan import Task
from lltd.common.errors import LltdError
from lltd.fs.entries import exists, move_verified
from lltd.fs.identity import Version
from lltd.fs.resolve import Escape
from lltd.fs.tree import Folder, Input, NotRegular


class WorkItem(Protocol):
    """What opening a settled file needs of the worker's item (:class:`lltd.watch.worker.
    WorkItem`), named here so this module imports nothing of the worker."""

    task: Task
    state_dir: Path
    input_root: Path | None
    expect: Version | None
    root_identity: tuple[int, int] | None


class NotSettled(LltdError):
    """The name no longer holds the file that settled (a link, a FIFO, another version)."""


class Settled:
    """The settled file, open (:class:`lltd.fs.tree.Input`: its descriptor, version, and the
    folder it was opened in, held open for the disposal)."""

    def __init__(self, opened: Input) -> None:
        self.input = opened

    def __enter__(self) -> Settled:
        return self

    def __exit__(self, *exc: object) -> None:
        self.input.close()

    def task(self, task: Task) -> Task:
        """``task`` reading this descriptor; failures still name the file as uploaded."""
        return Task(
            task.source, task.relative, task.output,
            display=task.display or task.source, opened=self.input,
        )  # fmt: skip

    def unchanged(self) -> bool:
        """Nobody wrote to it since it was opened."""
        return self.input.unchanged()

    def _named(self, name: str, dir_fd: int) -> bool:
        """``name`` in ``dir_fd`` is this very node, as it was opened (a link is a link)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and Version.of(st) == self.input.version

    def move_to(self, dir_fd: int, name: str) -> str:
        """Rename the file into ``dir_fd`` as ``name``: "moved", "vanished", or "changed" when
        the name held another node (put back, never kept in our state)."""
        folder, own = self.input.folder.fd, self.input.name
        if not self._named(own, folder):
            return "changed" if exists(folder, own) else "vanished"
        # Swapped between the check and the rename: what arrived is somebody else's upload.
        return move_verified(folder, own, dir_fd, name, self.input.version)

    def remove(self) -> str:
        """Unlink the name only while it is this node (:meth:`lltd.fs.tree.Folder.remove`):
        "deleted", "vanished" or "changed"."""
        why = self.input.folder.remove(self.input.name, self.input.version)
        if why is None:
            return "deleted"
        return "vanished" if why == "it is gone" else "changed"


def open_settled(item: WorkItem) -> Settled:
    """Open the file ``item`` names as the module docstring says. ``FileNotFoundError``: it is
    gone; :class:`NotSettled`: the name holds something else now (nothing of it was read)."""
    root = item.state_dir.parent if item.input_root is None else item.input_root
    relative = item.task.source.relative_to(root).as_posix()
    with Folder.open(root) as tree:
        if item.root_identity is not None and tree.identity != item.root_identity:
            raise NotSettled(f"{root} is no longer the folder the daemon opened")
        try:
            opened = tree.open_input(relative)
        except Escape:
            raise NotSettled("replaced by a symbolic link since it settled: not followed") from None
        except NotRegular:
            raise NotSettled("replaced by something that is not a regular file") from None
    if item.expect is not None and opened.version != item.expect:
        opened.close()
        raise NotSettled("replaced or written to since it settled")
    return Settled(opened)
