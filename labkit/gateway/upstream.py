"""The HTTP client to llama-server, with its failures mapped to gateway errors in one place."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from opentelemetry.instrumentation.utils import suppress_http_instrumentation

from labkit.gateway.errors import APIError, upstream_error, upstream_timeout, upstream_unavailable

__all__ = ["Upstream"]

JSON_HEADERS = {"content-type": "application/json"}


@contextlib.contextmanager
def _mapped(timeout: float):  # type: ignore[no-untyped-def]
    """Translate httpx's exceptions into APIError at this one boundary."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise upstream_timeout(timeout) from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise upstream_unavailable(f"{type(exc).__name__}: {exc}") from exc


class Upstream:
    """llama-server's OpenAI-compatible API, as the gateway uses it."""

    def __init__(self, base_url: str, *, timeout: float = 60.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client = client or httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    def _timeout(self, override: float | None) -> httpx.Timeout:
        t = self.timeout if override is None else override
        return httpx.Timeout(t, connect=min(5.0, t))

    async def health(self) -> bool:
        try:
            # Health probes are not requests: without this each made a lone "GET" trace.
            with suppress_http_instrumentation():
                return (await self.client.get("/health", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def tokenize(self, text: str, *, timeout: float | None = None) -> int:
        """How many tokens llama-server makes of ``text``."""
        with _mapped(timeout or self.timeout):
            response = await self.client.post("/tokenize", json={"content": text},
                                              timeout=self._timeout(timeout))
        if response.status_code != 200:
            raise upstream_error(response.status_code, response.text)
        return len(response.json().get("tokens", []))

    async def chat(self, payload: dict[str, Any], *, timeout: float | None = None
                   ) -> dict[str, Any]:
        """A non-streaming chat completion."""
        t = timeout or self.timeout
        with _mapped(t):
            response = await self.client.post("/v1/chat/completions",
                                              content=orjson.dumps(payload),
                                              headers=JSON_HEADERS, timeout=self._timeout(timeout))
        if response.status_code != 200:
            raise _upstream_status(response.status_code, response.text)
        return orjson.loads(response.content)  # type: ignore[no-any-return]

    async def stream_chat(self, payload: dict[str, Any], *, timeout: float | None = None
                          ) -> AsyncIterator[tuple[bytes, dict[str, Any] | None]]:
        """A streaming chat completion: yields each SSE event's raw bytes and its JSON
        (None for ``[DONE]`` and comments)."""
        t = timeout or self.timeout
        with _mapped(t):
            async with self.client.stream("POST", "/v1/chat/completions",
                                          content=orjson.dumps(payload), headers=JSON_HEADERS,
                                          timeout=self._timeout(timeout)) as response:
                if response.status_code != 200:
                    body = (await response.aread()).decode(errors="replace")
                    raise _upstream_status(response.status_code, body)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    event = None
                    if data and data != "[DONE]":
                        try:
                            event = orjson.loads(data)
                        except ValueError:
                            event = None
                    yield f"data: {data}\n\n".encode(), event


def _upstream_status(status: int, body: str) -> APIError:
    # llama-server answers 400 for requests it cannot serve (e.g. context overflow):
    # that is the client's problem, not an outage, so it stays a 4xx.
    if status == 400:
        try:
            message = json.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:300]
        return APIError(400, f"the model server rejected the request: {message}",
                        error_type="upstream_rejected")
    if status == 503:
        return upstream_unavailable(f"HTTP 503 {body[:200]}")
    return upstream_error(status, body)
