"""The call to llama-server: the request's slot, the ``inference`` span, a whole completion."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from labkit.gateway.errors import APIError
from labkit.gateway.record import RequestRecord
from labkit.gateway.state import GatewayState

__all__ = ["Slot", "complete", "inference_span_attrs", "internal_error", "set_usage"]


def internal_error(exc: BaseException) -> APIError:
    """A 500 for a fault of the gateway's own: the answer still says what happened."""
    return APIError(500, f"internal gateway error: {type(exc).__name__}: {exc}",
                    error_type="internal_error", kind="server_error")


class Slot:
    """A request's place among the requests llama-server works on, held until released."""

    def __init__(self, state: GatewayState, rec: RequestRecord) -> None:
        self.state, self.rec, self.held = state, rec, False

    async def acquire(self) -> None:
        """Wait for a slot (the time waited is the record's ``queued_s``)."""
        self.rec.queued_s = await self.state.limiter.acquire()
        self.held = True
        self.state.metrics.active.labels(self.rec.model).inc()

    def hand_over(self) -> None:
        """A stream owns the slot from here and releases it when it ends."""
        self.held = False

    def release(self) -> None:
        """Free the slot if this request still holds it; safe to call twice."""
        if self.held:
            self.held = False
            release_slot(self.state, self.rec)


def release_slot(state: GatewayState, rec: RequestRecord) -> None:
    state.limiter.release()
    state.metrics.active.labels(rec.model).dec()


def inference_span_attrs(state: GatewayState, max_tokens: int, model: str) -> dict[str, Any]:
    """The GenAI semantic-convention attributes of the ``inference`` span."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "llama.cpp",
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
        "server.address": state.upstream_host,
        "server.port": state.upstream_port,
    }


def set_usage(span: trace.Span, rec: RequestRecord) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", rec.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", rec.completion_tokens)
    span.set_attribute("gen_ai.response.finish_reasons", [rec.finish_reason or "unknown"])


async def complete(state: GatewayState, rec: RequestRecord, payload: dict[str, Any],
                   max_tokens: int) -> dict[str, Any]:
    """A whole (non-streamed) completion from llama-server, its usage on the record."""
    tracer = state.tracer
    with tracer.start_as_current_span(
            "inference", attributes=inference_span_attrs(state, max_tokens, rec.model)) as span:
        result = await state.upstream.chat(payload, timeout=state.faults.upstream_timeout())
        usage = result.get("usage") or {}
        rec.prompt_tokens = int(usage.get("prompt_tokens", 0))
        rec.completion_tokens = int(usage.get("completion_tokens", 0))
        choices = result.get("choices") or [{}]
        rec.finish_reason = choices[0].get("finish_reason")
        span.set_attribute("gen_ai.response.id", str(result.get("id", "")))
        set_usage(span, rec)
    with tracer.start_as_current_span("post_process"):
        result["model"] = rec.model
        result.setdefault("id", rec.request_id)
    return result
