"""Faults of the model server itself, optionally for one model: errors, slowness, slow tokenizer.

The faults of :mod:`labkit.gateway.faults` hit every request before it is forwarded. These
act *inside* the calls to llama-server, so they show where a real upstream fault shows: the
``inference`` span is the slow one (or the failed one), and the ``tokenize`` span is slow
when the exact token count is fetched from llama-server's ``/tokenize``.

Set with ``POST /admin/faults/upstream`` (client: :func:`labkit.faults.inject_upstream`),
cleared with ``DELETE /admin/faults/upstream``::

    {"model": "labkit-code", "error_rate": 1.0}   # every labkit-code request fails with 502
    {"latency_ms": 1500}                          # every model answers 1.5 s later
    {"tokenize_ms": 1200}                         # the exact-count tokenizer path is slow
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from opentelemetry import trace

from labkit.gateway.errors import bad_request, upstream_error
from labkit.gateway.faults import check_fault_keys
from labkit.gateway.request import admin_json
from labkit.gateway.upstream import Upstream

__all__ = ["FaultyUpstream", "UpstreamFaults", "add_upstream_fault_routes"]

log = logging.getLogger("llm-api")

LIMITS = {"error_rate": (0.0, 1.0), "latency_ms": (0.0, 120_000.0),
          "tokenize_ms": (0.0, 120_000.0)}


@dataclass(frozen=True)
class UpstreamFaults:
    """Model-server faults in force; ``model=""`` means every model. All zero means none."""

    model: str = ""
    error_rate: float = 0.0  # fraction of the model's calls answered with an upstream 502
    latency_ms: float = 0.0  # added inside the inference call, before the first token
    tokenize_ms: float = 0.0  # added to every exact token count (llama-server's /tokenize)

    @classmethod
    def parse(cls, raw: Any) -> UpstreamFaults:
        """Validate a JSON object from the admin endpoint; unknown keys are an error."""
        check_fault_keys(cls, raw, "upstream faults", 'e.g. {"latency_ms": 500}',
                         "upstream fault(s)")
        model = raw.get("model") or ""
        if not isinstance(model, str):
            raise bad_request(f"model must be a model name or empty, got {model!r}",
                              param="model")
        values: dict[str, float] = {}
        for name, (lo, hi) in LIMITS.items():
            value = raw.get(name, 0.0)
            try:
                if isinstance(value, bool):
                    raise TypeError
                values[name] = float(value)
            except (TypeError, ValueError, OverflowError):
                raise bad_request(f"{name} must be a number, got {raw.get(name)!r}",
                                  param=name) from None
            if not lo <= values[name] <= hi:
                raise bad_request(f"{name}={values[name]:g} is out of range [{lo:g}, {hi:g}]",
                                  param=name)
        return cls(model=model, **values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def applies_to(self, model: Any) -> bool:
        return not self.model or self.model == model


class FaultyUpstream(Upstream):
    """llama-server's client with :class:`UpstreamFaults` applied to each call."""

    def __init__(self, *args: Any, rng: random.Random | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.upstream_faults = UpstreamFaults()
        self._rng = rng or random.Random()

    async def _before_call(self, model: Any) -> None:
        f = self.upstream_faults
        if not f.applies_to(model):
            return
        if f.latency_ms:
            trace.get_current_span().add_event("labkit.fault.upstream_latency",
                                               {"labkit.fault.latency_ms": f.latency_ms})
            await asyncio.sleep(f.latency_ms / 1000)
        if f.error_rate and self._rng.random() < f.error_rate:
            raise upstream_error(500, f"model {model} backend error (injected upstream fault)")

    async def tokenize(self, text: str, *, timeout: float | None = None) -> int:
        if self.upstream_faults.tokenize_ms:
            await asyncio.sleep(self.upstream_faults.tokenize_ms / 1000)
        return await super().tokenize(text, timeout=timeout)

    async def chat(self, payload: dict[str, Any], *, timeout: float | None = None
                   ) -> dict[str, Any]:
        await self._before_call(payload.get("model"))
        return await super().chat(payload, timeout=timeout)

    async def stream_chat(self, payload: dict[str, Any], *, timeout: float | None = None
                          ) -> AsyncIterator[tuple[bytes, dict[str, Any] | None]]:
        await self._before_call(payload.get("model"))
        async for item in super().stream_chat(payload, timeout=timeout):
            yield item


def add_upstream_fault_routes(app: FastAPI, upstream: FaultyUpstream,
                              max_body_bytes: int = 4096) -> None:
    """``GET|POST|DELETE /admin/faults/upstream`` on ``app``."""

    @app.get("/admin/faults/upstream")
    async def get_upstream_faults() -> dict[str, object]:
        return upstream.upstream_faults.as_dict()

    @app.post("/admin/faults/upstream")
    async def set_upstream_faults(request: Request) -> dict[str, object]:
        raw = await admin_json(request, max_body_bytes)
        upstream.upstream_faults = UpstreamFaults.parse(raw)
        log.warning("Upstream faults changed", extra={"faults": upstream.upstream_faults.as_dict()})
        return upstream.upstream_faults.as_dict()

    @app.delete("/admin/faults/upstream")
    async def reset_upstream_faults() -> dict[str, object]:
        upstream.upstream_faults = UpstreamFaults()
        log.warning("Upstream faults changed", extra={"faults": upstream.upstream_faults.as_dict()})
        return upstream.upstream_faults.as_dict()
