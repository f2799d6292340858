"""``--scheduler ADDR``: the daemon's files run on a Dask cluster.

The daemon still watches, claims and accounts (its journal stays the one truth); only
:func:`lltd.watch.worker.process` runs on the workers, which must see IN and OUT at the same
paths (one host, or a shared file system). A worker that dies mid-file costs a rerun on another
worker, which the scheduler does by itself: the rerun replaces the output atomically with an
identical one, and the input is disposed of once (a second disposal finds it gone).
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from typing import Any

from lltd.common.errors import LltdError


class DaskExecutor:
    """The part of :class:`concurrent.futures.Executor` the pool uses, on a Dask client."""

    def __init__(self, address: str) -> None:
        from distributed import Client

        from lltd.cluster.runner import _probe

        try:
            _probe(address)
            self.client = Client(address, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise LltdError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        # pure=False: a file submitted again (a retry) is new work, not a cached result.
        self._executor = self.client.get_executor(pure=False)
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        future: Future[Any] = self._executor.submit(fn, *args)
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The pool first asks to stop taking work (``wait=False``) and waits for the files in
        flight itself; a file still running on a worker cannot be stopped from here, so only
        the last call (``wait=True``) cancels what is left and disconnects."""
        if not wait:
            return
        with contextlib.suppress(Exception):
            self._executor.shutdown(wait=False)  # cancels what is left
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
