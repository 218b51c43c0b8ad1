"""A concurrency limit with a bounded waiting queue, reported as ``llm_queue_depth``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from labkit.gateway.errors import APIError

__all__ = ["ConcurrencyLimiter"]


class ConcurrencyLimiter:
    """At most ``limit`` requests run; up to ``max_queue`` wait; the rest get 429.

    ``on_change(waiting)`` is called whenever the number of waiting requests changes.
    """

    def __init__(self, limit: int, max_queue: int,
                 on_change: Callable[[int], None] = lambda n: None) -> None:
        self.limit = limit
        self.max_queue = max_queue
        self._sem = asyncio.Semaphore(limit)
        self._on_change = on_change
        self.waiting = 0
        self._held = 0

    def _set_waiting(self, n: int) -> None:
        self.waiting = n
        self._on_change(n)

    async def acquire(self) -> float:
        """Wait for a slot (or raise 429 when the queue is full); returns seconds queued."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        if self._sem.locked():
            if self.waiting >= self.max_queue:
                raise APIError(429, f"the gateway queue is full ({self.max_queue} waiting); "
                               "retry later", error_type="queue_full", kind="rate_limit_error",
                               code="rate_limit_exceeded")
            self._set_waiting(self.waiting + 1)
            try:
                await self._sem.acquire()
            finally:
                self._set_waiting(self.waiting - 1)
        else:
            await self._sem.acquire()
        self._held += 1
        return loop.time() - start

    def release(self) -> None:
        self._sem.release()
        self._held -= 1

    @property
    def in_use(self) -> int:
        """How many slots are held now."""
        return self._held

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """Hold a slot for the body of the ``async with``; yields seconds spent queued."""
        queued = await self.acquire()
        try:
            yield queued
        finally:
            self.release()
