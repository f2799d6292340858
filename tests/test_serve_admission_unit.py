"""``lltd.serve.admission.Budget`` in-process: first come first served, and a wait given up
(timeout, disconnect) hands on what it was granted or lets the next ones through."""

from __future__ import annotations

import asyncio

import pytest

from lltd.serve.admission import Budget


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_large_cost_at_the_head_is_not_overtaken() -> None:
    async def main() -> None:
        budget = Budget(10)
        await budget.take(6)
        order: list[str] = []

        async def want(name: str, cost: int) -> None:
            await budget.take(cost)
            order.append(name)

        large = asyncio.create_task(want("large", 10))
        await asyncio.sleep(0)
        small = asyncio.create_task(want("small", 1))  # would fit now, but the large one waits
        await asyncio.sleep(0)
        assert order == [] and len(budget.waiting) == 2
        budget.release(6)
        await large
        assert order == ["large"] and budget.used == [10]
        budget.release(10)
        await small
        assert order == ["large", "small"] and budget.used == [1]

    run(main())


def test_a_wait_given_up_lets_the_next_ones_through() -> None:
    async def main() -> None:
        budget = Budget(4, 100)
        await budget.take(1, 90)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await budget.take(1, 20)  # the pixels do not fit: it waits, then gives up
        assert not budget.waiting and budget.used == [1, 90]
        head = asyncio.create_task(budget.take(1, 20))
        await asyncio.sleep(0)
        behind = asyncio.create_task(budget.take(1, 5))
        await asyncio.sleep(0)
        head.cancel()  # the client went away: the one behind it fits and goes
        await behind
        assert budget.used == [2, 95] and not budget.waiting

    run(main())


def test_a_grant_that_arrives_as_the_wait_is_cancelled_is_handed_back() -> None:
    async def main() -> None:
        budget = Budget(1)
        await budget.take(1)
        waiter = asyncio.create_task(budget.take(1))
        await asyncio.sleep(0)
        budget.release(1)  # granted to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert budget.used == [0]

    run(main())


def test_a_cost_that_can_never_fit_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(ValueError) as refused:
            await Budget(2, 10).take(1, 11)
        assert str(refused.value) == "cost (1, 11) can never fit in (2, 10)"

    run(main())


def test_a_cancelled_request_keeps_its_pixels_until_its_thread_is_done() -> None:
    import io
    import threading

    from PIL import Image
    from starlette.requests import Request

    from lltd.serve.app import Service
    from lltd.serve.settings import ServeSettings

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(buffer, "PNG")
    messages = [{"type": "http.request", "body": buffer.getvalue(), "more_body": False}]

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {"type": "http", "method": "POST", "path": "/v1/defend", "headers": []}

    async def main() -> None:
        service = Service(ServeSettings(threads=1))
        await service.start()
        assert service.executor is not None
        gate = threading.Event()
        service.executor.submit(gate.wait, 60)  # the one thread is busy: the image queues there
        try:
            request = asyncio.create_task(service.defend(Request(scope, receive)))
            while service.admission.pixels_in_flight == 0:
                await asyncio.sleep(0.001)
            request.cancel()  # as uvicorn does at its graceful-shutdown deadline
            for _ in range(20):
                await asyncio.sleep(0)
            # The image is still going to be decoded in that thread: its pixels stay counted.
            assert not request.done() and service.admission.pixels_in_flight == 1200
        finally:
            gate.set()
        with pytest.raises(asyncio.CancelledError):
            await request
        assert service.admission.pixels_in_flight == 0 and service.admission.threads_busy == 0
        await service.stop()

    run(main())


def test_a_wait_cancelled_in_the_same_turn_as_a_release_gets_nothing_and_the_next_is_served() -> (
    None
):
    """A client that disconnects while it waits has its task cancelled; a request that ends in
    the same turn of the event loop releases before that task runs. The release must skip the
    given-up wait (it raised InvalidStateError from set_result, and the waits behind it stalled)
    and serve the next one."""

    async def main() -> None:
        budget = Budget(10)
        await budget.take(10)
        gone = asyncio.create_task(budget.take(10))
        await asyncio.sleep(0)
        behind = asyncio.create_task(budget.take(4))
        await asyncio.sleep(0)
        gone.cancel()  # the client left ...
        budget.release(10)  # ... and another request ends before its task runs
        assert budget.used == [4]  # served by that release, not later by the cancelled task
        await behind
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert budget.used == [4] and not budget.waiting

    run(main())


def test_a_cost_must_name_every_capacity_when_asked_taken_or_given_back() -> None:
    budget = Budget(2, 10)
    for short_or_long in ((1,), (1, 2, 3)):
        with pytest.raises(ValueError):
            budget.would_wait(*short_or_long)
        with pytest.raises(ValueError):
            asyncio.run(budget.take(*short_or_long))
        with pytest.raises(ValueError):
            budget.release(*short_or_long)
    assert budget.used == [0, 0]
