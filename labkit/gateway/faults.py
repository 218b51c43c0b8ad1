"""Fault injection: make the gateway fail, slow down, time out or starve llama-server's slots.

A fault is set through ``POST /admin/faults`` (see :mod:`labkit.faults` for the
client) and stays until ``DELETE /admin/faults``. Every injected fault shows in
all three pillars: the error counter (``error_type="injected_fault"`` or
``upstream_timeout``), the duration histogram, the log line and the span.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import asdict, dataclass, fields
from typing import Any

from opentelemetry import trace

from labkit.gateway.errors import APIError, bad_request
from labkit.gateway.upstream import Upstream

__all__ = ["FaultController", "Faults", "check_fault_keys"]


def check_fault_keys(cls: type, raw: Any, what: str, example: str, noun: str) -> None:
    """A fault update must be a JSON object whose keys are all fields of ``cls`` (else 400)."""
    if not isinstance(raw, dict):
        raise bad_request(f"{what} must be a JSON object, {example}")
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise bad_request(f"unknown {noun} {sorted(unknown)}; known: {sorted(known)}")

log = logging.getLogger("llm-api")


@dataclass(frozen=True)
class Faults:
    """The faults in force. All zero means none."""

    error_rate: float = 0.0  # fraction of requests answered with an injected 500
    latency_ms: float = 0.0  # added before the request is forwarded
    upstream_timeout_s: float = 0.0  # when > 0, replaces the upstream timeout (forces 504s)
    hold_slots: int = 0  # llama-server slots kept busy by background generations

    @classmethod
    def parse(cls, raw: Any) -> Faults:
        """Validate a JSON object from the admin endpoint; unknown keys are an error."""
        check_fault_keys(cls, raw, "faults", 'e.g. {"error_rate": 0.5}', "fault(s)")
        for name, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad_request(f"{name} must be a number, got {value!r:.40}", param=name)
        try:
            faults = cls(**{k: type(getattr(cls(), k))(v) for k, v in raw.items()})
        except (TypeError, ValueError, OverflowError) as exc:
            raise bad_request(f"bad fault value: {exc}") from None
        limits = {"error_rate": (0, 1), "latency_ms": (0, 120_000),
                  "upstream_timeout_s": (0, 600), "hold_slots": (0, 64)}
        for name, (lo, hi) in limits.items():
            value = getattr(faults, name)
            if not lo <= value <= hi:
                raise bad_request(f"{name}={value} is out of range [{lo}, {hi}]", param=name)
        return faults

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The admin body's JSON schema (for the OpenAPI document)."""
        return {"type": "object", "additionalProperties": False,
                "properties": {f.name: {"type": "integer" if f.type in (int, "int") else "number",
                                        "minimum": 0} for f in fields(cls)}}


class FaultController:
    """Holds the current faults and the background tasks that occupy slots."""

    def __init__(self, upstream: Upstream, model: str, rng: random.Random | None = None) -> None:
        self.upstream = upstream
        self.model = model
        self.faults = Faults()
        self._rng = rng or random.Random()
        self._holders: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()  # overlapping updates would leak slot-holding tasks

    async def set(self, faults: Faults) -> Faults:
        """Replace the faults in force; updates run one at a time, in arrival order."""
        async with self._lock:
            await self._stop_holders()
            self.faults = faults
            self._holders = [asyncio.create_task(self._hold_slot(i))
                             for i in range(faults.hold_slots)]
            log.warning("Faults changed", extra={"faults": faults.as_dict()})
            return faults

    @property
    def holders(self) -> int:
        """How many slot-holding tasks run now."""
        return sum(not t.done() for t in self._holders)

    async def reset(self) -> Faults:
        return await self.set(Faults())

    async def before_forward(self) -> None:
        """Apply latency and error faults to one request, before it reaches llama-server."""
        f = self.faults
        if f.latency_ms:
            trace.get_current_span().add_event("labkit.fault.latency",
                                               {"labkit.fault.latency_ms": f.latency_ms})
            await asyncio.sleep(f.latency_ms / 1000)
        if f.error_rate and self._rng.random() < f.error_rate:
            raise APIError(500, "injected fault: the gateway was told to fail this request",
                           error_type="injected_fault", kind="server_error")

    def upstream_timeout(self) -> float | None:
        return self.faults.upstream_timeout_s or None

    async def _hold_slot(self, index: int) -> None:
        """Keep one llama-server slot generating until the fault is cleared."""
        payload = {"model": self.model, "max_tokens": 100_000, "ignore_eos": True,
                   "messages": [{"role": "user", "content": f"hold slot {index}"}]}
        while True:
            try:
                await self.upstream.chat(payload, timeout=600)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the holder must outlive upstream hiccups
                log.error("Slot holder failed", extra={"error_type": "fault_holder",
                                                       "exception": repr(exc)})
                await asyncio.sleep(1.0)

    async def _stop_holders(self) -> None:
        for task in self._holders:
            task.cancel()
        for task in self._holders:
            try:
                await task
            except asyncio.CancelledError:
                pass  # what cancel() asked for
            except Exception as exc:  # a holder that died on its own: say so, carry on
                log.error("Slot holder ended with an error", extra={
                    "error_type": "fault_holder", "exception": repr(exc)})
        self._holders = []

    async def aclose(self) -> None:
        await self._stop_holders()
