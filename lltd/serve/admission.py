"""Admission by cost: what a request may take of a worker process, and when.

Its body first: :func:`lltd.serve.intake.read_body` reads it on the event loop, within
``--max-bytes`` and ``--read-timeout``, each chunk counted in :class:`BodyBytes` as it arrives, so
bodies in memory stay within ``--max-inflight-bytes`` and a client holds only the bytes it has
really sent (a slow one holds its connection, never a thread). Then a request holds
one of the process's threads and the pixels its image decodes to, until its answer is ready
(forwarding included); at most ``--max-inflight-pixels`` pixels are held at once, which bounds
the memory the threads can take (docs/operations/serve-capacity.md derives the default from the
shipped unit's ``MemoryMax=``). A request that does not fit waits, first come first served, at
most ``--queue`` of them and at most ``--queue-timeout`` seconds each (a chunk of a body waits for
its bytes in the same way); beyond either the answer is 503 with ``Retry-After``
(:func:`lltd.serve.problems.busy`).

One event loop per process: no locks are needed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from lltd.serve.problems import busy


class Budget:
    """Capacities shared first come first served: :meth:`take` waits until a cost fits in all.

    First come first served on purpose: a large image waiting at the head is not overtaken by a
    stream of small ones, so it is served within the wait of the requests before it.
    """

    def __init__(self, *capacity: int) -> None:
        self.capacity = capacity
        self.used = [0] * len(capacity)
        self.waiting: deque[tuple[tuple[int, ...], asyncio.Future[None]]] = deque()

    def _fits(self, cost: tuple[int, ...]) -> bool:
        return all(u + c <= cap for u, c, cap in zip(self.used, cost, self.capacity, strict=True))

    def would_wait(self, *cost: int) -> bool:
        return bool(self.waiting) or not self._fits(cost)

    def _grant(self, cost: tuple[int, ...]) -> None:
        self.used = [u + c for u, c in zip(self.used, cost, strict=True)]

    async def take(self, *cost: int) -> None:
        if not all(c <= cap for c, cap in zip(cost, self.capacity, strict=True)):
            raise ValueError(f"cost {cost} can never fit in {self.capacity}")
        if not self.would_wait(*cost):
            self._grant(cost)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cost, granted)
        self.waiting.append(entry)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self.release(*cost)  # granted just as the wait was given up: hand it on
            else:
                if entry in self.waiting:  # _wake may have dropped it already
                    self.waiting.remove(entry)
                self._wake()  # it may have been the head that held the others back
            raise

    def release(self, *cost: int) -> None:
        self.used = [u - c for u, c in zip(self.used, cost, strict=True)]
        self._wake()

    def _wake(self) -> None:
        while self.waiting:
            cost, granted = self.waiting[0]
            if granted.done():
                # Given up (a client gone: its task cancelled) in this same turn of the loop,
                # before that task could take itself off the queue: it gets nothing.
                self.waiting.popleft()
                continue
            if not self._fits(cost):
                return
            self.waiting.popleft()
            self._grant(cost)
            granted.set_result(None)


class Admission:
    """One request at a time per thread, at most ``pixels`` decoded pixels in flight."""

    def __init__(self, threads: int, pixels: int, queue: int, timeout: float) -> None:
        self.budget = Budget(threads, pixels)
        self.queue = queue
        self.timeout = timeout

    @property
    def threads_busy(self) -> int:
        return self.budget.used[0]

    @property
    def pixels_in_flight(self) -> int:
        return self.budget.used[1]

    @property
    def waiting(self) -> int:
        return len(self.budget.waiting)

    @property
    def full(self) -> bool:
        """Whether a request arriving now would be refused at once."""
        return self.waiting >= self.queue  # (--queue is at least 1: someone waits)

    @asynccontextmanager
    async def admit(self, pixels: int) -> AsyncIterator[None]:
        """Hold a thread and ``pixels`` for the body of the ``async with``; 503 if they do not
        come within the queue's bounds."""
        cost = (1, pixels)
        if self.budget.would_wait(*cost):
            if self.waiting >= self.queue:
                raise busy(
                    f"busy: {self.threads_busy} requests in progress and {self.waiting} "
                    f"waiting (--queue {self.queue}); retry later"
                )
            try:
                async with asyncio.timeout(self.timeout):
                    await self.budget.take(*cost)
            except TimeoutError:
                raise busy(
                    f"busy: no thread and {pixels} of --max-inflight-pixels "
                    f"{self.budget.capacity[1]} free within --queue-timeout {self.timeout:g} s; "
                    "retry later"
                ) from None
        else:
            await self.budget.take(*cost)
        try:
            yield
        finally:
            self.budget.release(*cost)


class BodyBytes:
    """Bytes of request bodies in memory: taken chunk by chunk as they arrive, all given back
    when the request ends (its answer sent or refused)."""

    def __init__(
        self, capacity: int, timeout: float, count: Callable[[int], None] = lambda _: None
    ) -> None:
        self.budget = Budget(capacity)
        self.timeout = timeout
        self.count = count  # told every change of what is held (the metrics' gauge)

    @property
    def held(self) -> int:
        return self.budget.used[0]

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
        """A ``take(n)`` for one request's chunks; what it took is released on the way out."""
        taken = 0

        async def take(size: int) -> None:
            nonlocal taken
            try:
                async with asyncio.timeout(self.timeout):
                    await self.budget.take(size)
            except TimeoutError:
                raise busy(
                    f"busy: request bodies fill --max-inflight-bytes {self.budget.capacity[0]} "
                    f"for --queue-timeout {self.timeout:g} s; retry later"
                ) from None
            taken += size
            self.count(size)

        try:
            yield take
        finally:
            self.budget.release(taken)
            self.count(-taken)
