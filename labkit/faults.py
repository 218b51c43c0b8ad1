"""Inject faults into the running gateway from a notebook or a script.

>>> from labkit import faults                          # doctest: +SKIP
>>> faults.inject(error_rate=0.5)                      # half the requests fail with 500
>>> faults.inject(latency_ms=800, hold_slots=4)        # slow, and llama-server's slots busy
>>> faults.reset()
>>> with faults.active(error_rate=0.3):                # only inside the block
...     run_some_traffic()

Each call replaces the faults in force (unspecified faults go back to zero).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from labkit.config import LabConfig
from labkit.query.http import ServiceClient

__all__ = ["FAULT_NAMES", "active", "current", "inject", "inject_upstream", "reset",
           "reset_upstream"]

FAULT_NAMES = ("error_rate", "latency_ms", "upstream_timeout_s", "hold_slots")


def _gateway(gateway_url: str | None) -> str:
    if gateway_url:
        return gateway_url.rstrip("/")
    from labkit.lab import connect

    return connect().gateway_url


def _call(method: str, gateway_url: str | None, body: dict[str, Any] | None = None,
          path: str = "/admin/faults") -> dict[str, Any]:
    token = LabConfig.from_env().admin_token
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with ServiceClient(_gateway(gateway_url), service="the gateway", headers=headers) as client:
        return client.json(method, path, json=body, what="the faults")  # type: ignore[no-any-return]


def inject(*, error_rate: float = 0.0, latency_ms: float = 0.0, upstream_timeout_s: float = 0.0,
           hold_slots: int = 0, gateway_url: str | None = None) -> dict[str, Any]:
    """Set the gateway's faults; returns the faults now in force.

    error_rate: fraction of requests answered with an injected 500.
    latency_ms: delay added to every request before it is forwarded.
    upstream_timeout_s: replaces the upstream timeout, so slower generations fail with 504.
    hold_slots: llama-server slots kept busy by endless background generations.
    """
    return _call("POST", gateway_url, {"error_rate": error_rate, "latency_ms": latency_ms,
                                       "upstream_timeout_s": upstream_timeout_s,
                                       "hold_slots": hold_slots})


def reset(gateway_url: str | None = None) -> dict[str, Any]:
    """Clear every fault."""
    return _call("DELETE", gateway_url)


def current(gateway_url: str | None = None) -> dict[str, Any]:
    """The faults in force."""
    return _call("GET", gateway_url)


def inject_upstream(*, model: str = "", error_rate: float = 0.0, latency_ms: float = 0.0,
                    tokenize_ms: float = 0.0, gateway_url: str | None = None) -> dict[str, Any]:
    """Set faults of the model server itself (see :mod:`labkit.gateway.upstream_faults`).

    model: only this model's calls (default: every model).
    error_rate: fraction of its calls that fail with an upstream 502.
    latency_ms: delay inside the inference call (the ``inference`` span is the slow one).
    tokenize_ms: delay of every exact token count (the ``tokenize`` span of long prompts).
    """
    return _call("POST", gateway_url, {"model": model, "error_rate": error_rate,
                                       "latency_ms": latency_ms, "tokenize_ms": tokenize_ms},
                 path="/admin/faults/upstream")


def reset_upstream(gateway_url: str | None = None) -> dict[str, Any]:
    """Clear the model-server faults."""
    return _call("DELETE", gateway_url, path="/admin/faults/upstream")


@contextmanager
def active(*, gateway_url: str | None = None, **faults: float) -> Iterator[dict[str, Any]]:
    """Inject ``faults`` for the duration of a ``with`` block, then restore the previous ones.

    The faults are restored even when the block raises or is interrupted, so a notebook
    stopped mid-incident does not leave the gateway failing for the next one.

    >>> with active(error_rate=0.5) as now:        # doctest: +SKIP
    ...     generate_load(lab.gateway_url, rate=4, duration=10)
    """
    unknown = set(faults) - set(FAULT_NAMES)
    if unknown:
        raise TypeError(f"unknown fault(s) {sorted(unknown)}; known: {list(FAULT_NAMES)}")
    before = current(gateway_url)
    now = _call("POST", gateway_url, dict(faults))
    try:
        yield now
    finally:
        _call("POST", gateway_url, {k: before[k] for k in FAULT_NAMES if k in before})
