"""Send a plan's requests open-loop, each with its own seeded trace id, and time them.

Each request carries a W3C ``traceparent`` whose trace id comes from the plan, so the
gateway's spans join that trace: the same seed gives the same trace ids on every run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from labkit.incident.plan import PlannedRequest

__all__ = ["send_all"]


def traceparent(trace_id: str, index: int) -> str:
    """A sampled W3C trace context with the plan's trace id (the span id only names the client)."""
    return f"00-{trace_id}-{index + 1:016x}-01"


async def _send(client: httpx.AsyncClient, url: str, index: int, req: PlannedRequest,
                due: float) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    body = {"model": req.model, "messages": [{"role": "user", "content": req.prompt}],
            "max_tokens": req.max_tokens, **req.extra}
    headers = {"X-User-Id": req.user, "traceparent": traceparent(req.trace_id, index)}
    sent = time.time()
    error: str | None = None
    try:
        resp = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        status, error = 0, f"{type(exc).__name__}: {exc}"
    else:
        status = resp.status_code
        if status != 200:
            error = resp.text[:200]
    return {"trace_id": req.trace_id, "model": req.model, "user": req.user, "sent": sent,
            "seconds": time.time() - sent, "status": status, "error": error,
            "incident": req.incident}


async def send_all(gateway_url: str, requests: Sequence[PlannedRequest], *,
                   on_done: Callable[[], None] | None = None, timeout: float = 90.0
                   ) -> list[dict[str, Any]]:
    """Send every request at its offset after now; returns one result dict per request."""
    url = gateway_url.rstrip("/") + "/v1/chat/completions"
    t0 = time.perf_counter()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        async def one(i: int, req: PlannedRequest) -> dict[str, Any]:
            result = await _send(client, url, i, req, t0 + req.offset_s)
            if on_done is not None:
                on_done()
            return result

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))
