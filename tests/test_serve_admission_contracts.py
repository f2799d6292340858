"""What ``lltd serve``'s admission tells a client and its metrics, exactly: the 503 lines name
the numbers a client or an operator acts on, and the body-bytes gauge is told every change."""

from __future__ import annotations

import asyncio

import pytest

from lltd.serve.admission import Admission, BodyBytes
from lltd.serve.problems import Problem


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_a_full_queue_names_the_requests_in_progress_waiting_and_the_queue() -> None:
    async def main() -> None:
        admission = Admission(threads=1, pixels=100, queue=1, timeout=5)
        async with admission.admit(10):
            waiter = asyncio.create_task(admission.admit(10).__aenter__())
            await asyncio.sleep(0)
            with pytest.raises(Problem) as refused:
                async with admission.admit(10):
                    pass
            waiter.cancel()
        assert refused.value.status == 503
        assert str(refused.value) == (
            "busy: 1 requests in progress and 1 waiting (--queue 1); retry later"
        )
        assert admission.threads_busy == 0 and admission.pixels_in_flight == 0

    run(main())


def test_a_wait_past_the_queue_timeout_names_the_pixels_the_budget_and_the_timeout() -> None:
    async def main() -> None:
        admission = Admission(threads=2, pixels=100, queue=4, timeout=0.05)
        async with admission.admit(90):
            with pytest.raises(Problem) as refused:
                async with admission.admit(20):
                    pass
        assert str(refused.value) == (
            "busy: no thread and 20 of --max-inflight-pixels 100 free within --queue-timeout "
            "0.05 s; retry later"
        )
        assert admission.pixels_in_flight == 0 and admission.waiting == 0

    run(main())


def test_body_bytes_tell_the_gauge_each_chunk_and_give_all_back_at_the_end() -> None:
    async def main() -> None:
        told: list[int] = []
        bodies = BodyBytes(100, timeout=5, count=told.append)
        async with bodies.holding() as take:
            await take(30)
            await take(12)
            assert bodies.held == 42
        assert told == [30, 12, -42] and bodies.held == 0

    run(main())


def test_a_chunk_that_cannot_fit_in_time_names_the_budget_and_is_not_counted() -> None:
    async def main() -> None:
        told: list[int] = []
        bodies = BodyBytes(100, timeout=0.05, count=told.append)
        async with bodies.holding() as first:
            await first(80)
            with pytest.raises(Problem) as refused:
                async with bodies.holding() as second:
                    await second(30)
            assert bodies.held == 80
        assert str(refused.value) == (
            "busy: request bodies fill --max-inflight-bytes 100 for --queue-timeout 0.05 s; "
            "retry later"
        )
        assert told == [80, 0, -80] and bodies.held == 0  # the refused request gave back 0

    run(main())
