"""Run a schedule open-loop against an OpenAI-compatible server, in a script or a notebook."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pandas as pd
from tqdm.auto import tqdm

from labkit.load.client import send_one
from labkit.load.result import COLUMNS, LoadResult
from labkit.load.schedule import Arrival, build_schedule

__all__ = ["agenerate_load", "generate_load"]


def _endpoint(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r} "
                         "(e.g. http://127.0.0.1:8000, the gateway)")
    base = url.rstrip("/")
    return base if base.endswith("/v1/chat/completions") else base + "/v1/chat/completions"


async def agenerate_load(
    url: str, *, rate: float = 5.0, duration: float = 30.0, concurrency: int = 16,
    stream: bool = True, prompts: Sequence[str] | None = None, max_tokens: int = 32,
    model: str = "labkit-tiny", seed: int = 0,
    users: Sequence[str] | Mapping[str, float] | None = None, progress: bool = True,
    timeout: float = 60.0, headers: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Async form of :func:`generate_load`, for code already inside an event loop."""
    endpoint = _endpoint(url)
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
    schedule = build_schedule(rate=rate, duration=duration, seed=seed, prompts=prompts, users=users)
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    bar = tqdm(total=len(schedule), desc="requests", unit="req", disable=not progress)
    wall0, t0 = time.time(), time.perf_counter()

    waiting: set[asyncio.Task[Any]] = set()

    async def one(client: httpx.AsyncClient, arrival: Arrival) -> dict[str, Any] | None:
        scheduled = t0 + arrival.offset_s
        task = asyncio.current_task()
        assert task is not None
        waiting.add(task)
        try:
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        except asyncio.CancelledError:  # stopped before it was due: never sent
            return None
        waiting.discard(task)
        # The request is due now; if every slot is busy it waits, and that wait is
        # part of its latency (queued_s), as it would be for a real user.
        async with slots:
            started = time.perf_counter()
            rec = await send_one(client, endpoint, arrival, scheduled=scheduled,
                                 stream=stream, model=model, max_tokens=max_tokens)
        bar.update(1)
        return {
            **rec, "user": arrival.user, "prompt": arrival.prompt,
            "scheduled_at": wall0 + arrival.offset_s, "start": wall0 + (started - t0),
            "queued_s": started - scheduled,
        }

    async def watch_stop() -> None:
        # Requests already sent finish; those not yet due are dropped.
        if stop is None:
            return
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for task in list(waiting):
            task.cancel()

    try:
        async with httpx.AsyncClient(timeout=timeout, limits=limits,
                                     headers=dict(headers or {})) as client:
            watcher = asyncio.ensure_future(watch_stop())
            try:
                records = await asyncio.gather(*(one(client, a) for a in schedule))
            finally:
                watcher.cancel()
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    frame = pd.DataFrame([r for r in records if r is not None], columns=COLUMNS)
    for col in ("scheduled_at", "start"):
        frame[col] = pd.to_datetime(frame[col].astype("float64"), unit="s", utc=True)
    frame["status"] = frame["status"].astype("int64")
    settings = {"url": url, "rate": rate, "duration": duration, "concurrency": concurrency,
                "stream": stream, "max_tokens": max_tokens, "model": model, "seed": seed}
    return LoadResult(frame=frame, duration_s=elapsed, settings=settings)


def generate_load(url: str, **kwargs: Any) -> LoadResult:
    """Send open-loop Poisson traffic to ``{url}/v1/chat/completions`` and time every request.

    Arrivals are fixed up-front from ``seed`` (same seed, same offsets, prompts and users),
    at ``rate`` requests/s for ``duration`` seconds; at most ``concurrency`` are in flight
    and the rest queue, their wait counted in their latency. Errors are recorded, not raised.
    Setting the ``threading.Event`` ``stop`` ends the run early: requests already sent
    finish, the ones not yet due are never sent.
    Works in a plain script and in a Jupyter cell (whose event loop is already running).
    Keyword arguments are those of :func:`agenerate_load`.

    >>> result = generate_load("http://127.0.0.1:8000", rate=5, duration=10)  # doctest: +SKIP
    >>> result.frame[["ttft_s", "e2e_s", "status"]].describe()                # doctest: +SKIP
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(agenerate_load(url, **kwargs))
    # A loop already runs in this thread (Jupyter): run ours in a fresh thread instead.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="labkit-load") as pool:
        return pool.submit(lambda: asyncio.run(agenerate_load(url, **kwargs))).result()
