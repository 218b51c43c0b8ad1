"""A streamed chat completion: relay llama-server's SSE events, then record the outcome once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi.responses import StreamingResponse
from opentelemetry import trace

from labkit.gateway.errors import APIError
from labkit.gateway.inference import (
    inference_span_attrs,
    internal_error,
    release_slot,
    set_usage,
)
from labkit.gateway.record import RequestRecord
from labkit.gateway.state import GatewayState

__all__ = ["CLIENT_CLOSED", "GuardedStream", "StreamEnd", "relay", "stream_response"]


def stream_response(state: GatewayState, rec: RequestRecord, payload: dict[str, Any],
                    want_usage: bool, max_tokens: int,
                    headers: dict[str, str]) -> StreamingResponse:
    """The response that relays the completion; it owns the request's slot and its record."""
    payload["stream_options"] = {"include_usage": True}
    end = StreamEnd(state, rec)
    return GuardedStream(relay(state, rec, payload, want_usage, max_tokens, end), end,
                         media_type="text/event-stream", headers=headers)


class StreamEnd:
    """Frees a stream's slot and records its outcome exactly once, whoever gets there first."""

    def __init__(self, state: GatewayState, rec: RequestRecord) -> None:
        self.state, self.rec, self.done = state, rec, False

    def __call__(self, status: int, error: APIError | None = None,
                 exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        release_slot(self.state, self.rec)
        self.rec.finish(status, self.state.metrics, self.state.usage, error=error, exc=exc)
        self.rec.end_spans()


class GuardedStream(StreamingResponse):
    """A stream whose slot is freed even if the client leaves before the first chunk.

    The generator then never runs, so its own cleanup never does; this runs after the
    response either way (a no-op when the generator already finished the request).
    """

    def __init__(self, content: AsyncIterator[bytes], end: StreamEnd, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._end = end

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._end(499, CLIENT_CLOSED)


CLIENT_CLOSED = APIError(499, "the client closed the connection", error_type="client_closed")


async def relay(state: GatewayState, rec: RequestRecord, payload: dict[str, Any],
                 want_usage: bool, max_tokens: int, end: StreamEnd) -> AsyncIterator[bytes]:
    """Relay llama-server's SSE events chunk by chunk, recording TTFT and usage.

    The closing ``[DONE]`` is held back until the request is recorded and its spans are
    ended: a client that hangs up on reading it must not leave them open or count as a 499.
    """
    tracer = state.tracer
    done = b"data: [DONE]\n\n"
    try:
        with trace.use_span(rec.span, end_on_exit=False,  # type: ignore[arg-type]
                            record_exception=False, set_status_on_exception=False):
            with tracer.start_as_current_span(
                    "inference",
                    attributes=inference_span_attrs(state, max_tokens, rec.model)) as span:
                async for raw, event in state.upstream.stream_chat(
                        payload, timeout=state.faults.upstream_timeout()):
                    if event is None:
                        if raw.startswith(b"data: [DONE]"):
                            done = raw
                            continue
                        yield raw
                        continue
                    if event.get("usage"):
                        rec.prompt_tokens = int(event["usage"].get("prompt_tokens", 0))
                        rec.completion_tokens = int(event["usage"].get("completion_tokens", 0))
                    choices = event.get("choices") or []
                    if choices:
                        delta = choices[0].get("delta") or {}
                        if rec.ttft_s is None and delta.get("content"):
                            rec.ttft_s = time.perf_counter() - rec.started
                            span.add_event("gen_ai.first_token",
                                           {"gen_ai.server.time_to_first_token": rec.ttft_s})
                        rec.finish_reason = choices[0].get("finish_reason") or rec.finish_reason
                    elif event.get("usage") and not want_usage:
                        continue  # the client did not ask for the usage chunk
                    event["model"] = rec.model
                    yield b"data: " + orjson.dumps(event) + b"\n\n"
                set_usage(span, rec)
            with tracer.start_as_current_span("post_process"):
                pass  # chunks were rewritten on the fly; nothing is left to do
        end(200)
        yield done
    except APIError as err:
        end(err.status, err)
        yield b"data: " + orjson.dumps(err.body()) + b"\n\n"
    except Exception as exc:  # a fault of ours mid-stream: an error, not the client leaving
        internal = internal_error(exc)
        end(500, internal, exc)
        yield b"data: " + orjson.dumps(internal.body()) + b"\n\n"
    except BaseException as exc:  # the client went away (CancelledError, GeneratorExit)
        end(499, CLIENT_CLOSED, exc if not isinstance(exc, GeneratorExit) else None)
        raise
