"""The gateway's concurrency limit queues requests, reports the queue and refuses overflow."""

from __future__ import annotations

import asyncio

import pytest

from labkit.gateway.errors import APIError
from labkit.gateway.limiter import ConcurrencyLimiter


def test_requests_beyond_the_limit_wait_and_are_reported() -> None:
    """With one slot, a second request waits (queue depth 1) and runs after the first."""
    depths: list[int] = []
    order: list[str] = []

    async def scenario() -> float:
        limiter = ConcurrencyLimiter(1, max_queue=4, on_change=depths.append)

        async def job(name: str, hold: float) -> float:
            async with limiter.slot() as queued:
                order.append(name)
                await asyncio.sleep(hold)
                return queued

        first = asyncio.create_task(job("first", 0.2))
        await asyncio.sleep(0.05)
        second = await job("second", 0.0)
        await first
        return second

    queued = asyncio.run(scenario())
    assert order == ["first", "second"]
    assert depths == [1, 0]
    assert queued > 0.1, "the second request's wait is reported"


def test_a_full_queue_is_refused_with_429() -> None:
    """When the queue is full, the next request gets a 429 queue_full error at once."""

    async def scenario() -> None:
        limiter = ConcurrencyLimiter(1, max_queue=1)
        await limiter.acquire()
        waiting = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        with pytest.raises(APIError) as info:
            await limiter.acquire()
        assert (info.value.status, info.value.error_type) == (429, "queue_full")
        limiter.release()
        await waiting
        limiter.release()

    asyncio.run(scenario())
