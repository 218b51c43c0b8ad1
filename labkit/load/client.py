"""One request to an OpenAI-compatible chat endpoint, timed from its scheduled send time.

Every latency here is measured from when the request *should* have been sent, not from
when a concurrency slot freed up: that is what keeps queueing delay visible (no
coordinated omission).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx

from labkit.load.schedule import Arrival

__all__ = ["send_one"]


def _error_text(resp_text: str) -> str:
    """The OpenAI-style ``error.message`` when there is one, else the body's start."""
    try:
        body = json.loads(resp_text)
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except ValueError:
        pass
    return resp_text.strip()[:300] or "empty response body"


async def send_one(
    client: httpx.AsyncClient, url: str, arrival: Arrival, *, scheduled: float,
    stream: bool, model: str, max_tokens: int,
) -> dict[str, Any]:
    """Send ``arrival`` and return its record; never raises for HTTP or network errors.

    ``scheduled`` is the ``time.perf_counter()`` reading at which it was due.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": arrival.prompt}],
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    rec: dict[str, Any] = {
        "request_id": None, "ttft_s": math.nan, "itl_s": math.nan, "e2e_s": math.nan,
        "prompt_tokens": math.nan, "completion_tokens": math.nan, "status": 0, "error": None,
    }
    headers = {"X-User-Id": arrival.user}
    token_times: list[float] = []
    try:
        async with client.stream("POST", url, json=body, headers=headers) as resp:
            rec["status"] = resp.status_code
            rec["request_id"] = resp.headers.get("x-request-id")
            if resp.status_code >= 400:
                rec["error"] = _error_text((await resp.aread()).decode("utf-8", "replace"))
            elif stream:
                await _read_stream(resp, rec, token_times)
            else:
                payload = json.loads(await resp.aread())
                rec["request_id"] = rec["request_id"] or payload.get("id")
                _usage(rec, payload.get("usage"))
    except httpx.TimeoutException as exc:
        rec["error"] = f"timed out ({type(exc).__name__})"
    except httpx.HTTPError as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except ValueError as exc:  # a body that is not the JSON the API promises
        rec["error"] = f"bad response body: {exc}"
    end = time.perf_counter()
    rec["e2e_s"] = end - scheduled
    if not stream and rec["status"] == 200 and rec["error"] is None:
        rec["ttft_s"] = rec["e2e_s"]  # the whole answer arrives at once
    if token_times:
        rec["ttft_s"] = token_times[0] - scheduled
        if len(token_times) > 1:
            rec["itl_s"] = (token_times[-1] - token_times[0]) / (len(token_times) - 1)
        if math.isnan(rec["completion_tokens"]):
            rec["completion_tokens"] = len(token_times)  # one token per chunk, as servers send
    return rec


async def _read_stream(resp: httpx.Response, rec: dict[str, Any], times: list[float]) -> None:
    """Consume SSE ``data:`` lines until ``[DONE]``, timing each content chunk."""
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments, "event:" lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        chunk = json.loads(data)
        if "error" in chunk:  # llama-server reports mid-stream failures this way
            rec["error"] = _error_text(data)
            return
        rec["request_id"] = rec["request_id"] or chunk.get("id")
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                times.append(time.perf_counter())
                break
        _usage(rec, chunk.get("usage"))
    rec["error"] = rec["error"] or "stream ended without data: [DONE]"


def _usage(rec: dict[str, Any], usage: dict[str, Any] | None) -> None:
    if usage:
        rec["prompt_tokens"] = usage.get("prompt_tokens", math.nan)
        rec["completion_tokens"] = usage.get("completion_tokens", math.nan)
