"""Send payloads to Loki's push API and say what to do with the answer.

Loki answers 204 when it took the batch. A 5xx, a 429 or no answer at all
means "try again later"; any other 4xx means some or all of the batch is refused
and sending it again unchanged would fail forever. Loki stores the valid entries
of a push and answers 400 naming the rejected ones (ending ``total ignored: K out
of N``); entries too old for their stream ("entry too far behind", "out of
order") are refused the same way. The shipper (not this module) decides what
to do: see :meth:`labkit.shipper.Shipper`.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["LokiPusher", "PushResult", "backoff_delay", "push_url"]

PUSH_PATH = "/loki/api/v1/push"
_STALE_MARKERS = ("out of order", "too far behind", "duplicate")
_IGNORED = re.compile(r"total ignored: (\d+) out of (\d+)")


def push_url(loki_url: str) -> str:
    """The push endpoint for a Loki base URL (a full push URL is kept as is)."""
    parts = urlsplit(loki_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"bad Loki URL {loki_url!r}: give one like http://127.0.0.1:3100")
    if parts.path.rstrip("/") in ("", PUSH_PATH):
        return f"{parts.scheme}://{parts.netloc}{PUSH_PATH}"
    raise ValueError(f"bad Loki URL {loki_url!r}: give the server's base URL, "
                     f"e.g. http://127.0.0.1:3100 (the shipper adds {PUSH_PATH})")


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 30.0,
                  rand: float | None = None) -> float:
    """Exponential backoff with equal jitter: between half and all of min(cap, base*2^n)."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 32))
    r = random.random() if rand is None else rand
    return ceiling / 2 + r * ceiling / 2


@dataclass(frozen=True)
class PushResult:
    """What Loki said about one push."""

    accepted: bool  # Loki stored the batch
    retry: bool  # send it again later
    status: int | None  # HTTP status, None when no answer came
    message: str
    retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def ignored(self) -> tuple[int, int] | None:
        """(rejected, sent) when Loki says it stored the rest: ``total ignored: K out of N``."""
        found = _IGNORED.findall(self.message) if self.status == 400 else []
        if not found:
            return None
        return sum(int(k) for k, _ in found), sum(int(n) for _, n in found)

    @property
    def stale(self) -> bool:
        """Loki refused some entries as too old for their stream, keeping the rest."""
        return self.status == 400 and any(m in self.message.lower() for m in _STALE_MARKERS)


class LokiPusher:
    """A small client for ``POST /loki/api/v1/push`` with a JSON body.

    ``compress=True`` gzips the body (Loki accepts ``Content-Encoding: gzip``);
    it is off by default because on loopback it costs CPU and saves nothing.
    """

    def __init__(self, loki_url: str, *, timeout: float = 10.0, compress: bool = False,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = push_url(loki_url)
        self.compress = compress
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def push(self, payload: dict[str, Any]) -> PushResult:
        """Send one payload; never raises for network or HTTP errors."""
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.compress:
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            resp = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return PushResult(False, True, None, f"{type(exc).__name__}: {exc}")
        text = resp.text.strip()[:4000]
        if resp.is_success:
            return PushResult(True, False, resp.status_code, "")
        if resp.status_code == 429 or resp.status_code >= 500:
            return PushResult(False, True, resp.status_code, text,
                              _retry_after(resp.headers.get("Retry-After")))
        return PushResult(False, False, resp.status_code, text)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (dates are ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
