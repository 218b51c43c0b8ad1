"""``POST /v1/chat/completions``: validate, queue, forward to llama-server, relay, record."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from labkit.gateway.errors import APIError
from labkit.gateway.record import RequestRecord, new_request_id
from labkit.gateway.request import ChatRequest, forwarded_payload, parse_chat, request_ids
from labkit.gateway.state import GatewayState

__all__ = ["ChatRequest", "handle_chat"]

ENDPOINT = "/v1/chat/completions"
TEMPLATE_TOKENS_PER_MESSAGE = 8  # ChatML: <|im_start|>role\n ... <|im_end|>\n


def _prompt_text(req: ChatRequest) -> str:
    parts = []
    for m in req.messages:
        if isinstance(m.content, str):
            parts.append(m.content)
        elif isinstance(m.content, list):
            parts.extend(str(p.get("text", "")) for p in m.content if isinstance(p, dict))
    return "\n".join(parts)


async def handle_chat(request: Request, state: GatewayState) -> Response:
    """Serve one chat completion; never raises (every failure becomes an answer)."""
    request_id, user_id, header_error = request_ids(request, new_request_id())
    rec = RequestRecord(request_id=request_id, endpoint=ENDPOINT, user_id=user_id)
    tracer = state.tracer
    server = _server_span(request, state) if state.settings.manual_server_span else None
    span = tracer.start_span(
        "chat_completion",
        context=trace.set_span_in_context(server) if server is not None else None)
    rec.span = span
    if server is not None:
        rec.extra_spans.append(server)
    headers = {"x-request-id": rec.request_id}
    acquired = False
    try:
        # record.finish() annotates the span; use_span would add a second exception event.
        with trace.use_span(span, end_on_exit=False, record_exception=False,
                            set_status_on_exception=False):
            if header_error is not None:
                raise header_error
            body, req = await parse_chat(request, state.settings.max_body_bytes)
            rec.user_id = rec.user_id or req.user
            rec.stream = req.stream
            if req.model not in state.settings.models:
                raise APIError(404, f"The model `{req.model}` does not exist; available: "
                               f"{', '.join(state.settings.models)}", error_type="model_not_found",
                               param="model")
            rec.model = req.model
            max_tokens = req.max_completion_tokens or req.max_tokens or \
                state.settings.default_max_tokens
            span.set_attribute("model", req.model)
            span.set_attribute("max_tokens", max_tokens)
            span.set_attribute("user_id", rec.user_id or "")
            span.set_attribute("request_id", rec.request_id)
            if state.settings.log_prompts:
                rec.prompt = _prompt_text(req)
            await state.faults.before_forward()
            # The exact count (a /tokenize call) is work for llama-server: it waits its turn.
            rec.queued_s = await state.limiter.acquire()
            acquired = True
            state.metrics.active.labels(rec.model).inc()
            span.set_attribute("queue_wait_ms", rec.queued_s * 1000)
            budget = state.settings.context_per_request
            with tracer.start_as_current_span("tokenize") as tok_span:
                text = _prompt_text(req)
                # A byte-level BPE token is at least one byte, and the chat template adds a
                # few tokens per message: when even that bound fits, skip the round trip to
                # llama-server's /tokenize (it would add latency to every request).
                counted = len(text.encode()) + TEMPLATE_TOKENS_PER_MESSAGE * len(req.messages)
                exact = counted + max_tokens > budget
                if exact:
                    counted = await state.upstream.tokenize(text)
                    tok_span.set_attribute("prompt_tokens", counted)
                    span.set_attribute("prompt_tokens", counted)
                else:  # the exact count arrives with llama-server's usage, on `inference`
                    tok_span.set_attribute("labkit.prompt_tokens_bound", counted)
                tok_span.set_attribute("labkit.tokenize.exact", exact)
            if counted + max_tokens > budget:
                raise APIError(
                    400, f"This model's maximum context length is {budget} tokens. However, you "
                    f"requested {counted + max_tokens} tokens ({counted} in the messages, "
                    f"{max_tokens} in the completion). Please reduce the length of the messages "
                    "or completion.", error_type="context_length_exceeded", param="messages")
            payload = forwarded_payload(body, req.model, max_tokens)
            if req.stream:
                payload["stream_options"] = {"include_usage": True}
                want_usage = req.stream_options is not None and req.stream_options.include_usage
                acquired = False  # the stream owns the slot from here
                end = _StreamEnd(state, rec)
                return _GuardedStream(
                    _relay(state, rec, payload, want_usage, max_tokens, end), end,
                    media_type="text/event-stream", headers=headers)
            result = await _complete(state, rec, payload, max_tokens)
        _release(state, rec)
        rec.finish(200, state.metrics, state.usage)
        rec.end_spans()
        return Response(orjson.dumps(result), media_type="application/json", headers=headers)
    except APIError as err:
        if acquired:
            _release(state, rec)
        rec.finish(err.status, state.metrics, state.usage, error=err)
        rec.end_spans()
        return JSONResponse(err.body(), status_code=err.status, headers=headers)
    except Exception as exc:  # the gateway answers; it never falls over
        if acquired:
            _release(state, rec)
        internal = APIError(500, f"internal gateway error: {type(exc).__name__}: {exc}",
                            error_type="internal_error", kind="server_error")
        rec.finish(500, state.metrics, state.usage, error=internal, exc=exc)
        rec.end_spans()
        return JSONResponse(internal.body(), status_code=500, headers=headers)


def _server_span(request: Request, state: GatewayState) -> trace.Span:
    """The HTTP server span, made here instead of by the FastAPI instrumentation.

    Same name, kind and attributes as the instrumentation's, parented on the caller's
    ``traceparent``; it saves the instrumentation's per-request middleware work.
    """
    # The attribute names the FastAPI instrumentation still uses (its default semconv).
    return state.tracer.start_span(
        f"POST {ENDPOINT}", context=propagate.extract(request.headers), kind=SpanKind.SERVER,
        attributes={"http.method": "POST", "http.route": ENDPOINT, "http.target": ENDPOINT,
                    "http.scheme": request.url.scheme, "http.flavor": request.scope.get(
                        "http_version", "1.1"), "http.host": request.headers.get("host", ""),
                    "http.user_agent": request.headers.get("user-agent", "")})


def _release(state: GatewayState, rec: RequestRecord) -> None:
    state.limiter.release()
    state.metrics.active.labels(rec.model).dec()


def _inference_span_attrs(state: GatewayState, max_tokens: int, model: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "llama.cpp",
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
        "server.address": state.upstream_host,
        "server.port": state.upstream_port,
    }


def _set_usage(span: trace.Span, rec: RequestRecord) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", rec.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", rec.completion_tokens)
    span.set_attribute("gen_ai.response.finish_reasons", [rec.finish_reason or "unknown"])


async def _complete(state: GatewayState, rec: RequestRecord, payload: dict[str, Any],
                    max_tokens: int) -> dict[str, Any]:
    tracer = state.tracer
    with tracer.start_as_current_span(
            "inference", attributes=_inference_span_attrs(state, max_tokens, rec.model)) as span:
        result = await state.upstream.chat(payload, timeout=state.faults.upstream_timeout())
        usage = result.get("usage") or {}
        rec.prompt_tokens = int(usage.get("prompt_tokens", 0))
        rec.completion_tokens = int(usage.get("completion_tokens", 0))
        choices = result.get("choices") or [{}]
        rec.finish_reason = choices[0].get("finish_reason")
        span.set_attribute("gen_ai.response.id", str(result.get("id", "")))
        _set_usage(span, rec)
    with tracer.start_as_current_span("post_process"):
        result["model"] = rec.model
        result.setdefault("id", rec.request_id)
    return result


class _StreamEnd:
    """Frees a stream's slot and records its outcome exactly once, whoever gets there first."""

    def __init__(self, state: GatewayState, rec: RequestRecord) -> None:
        self.state, self.rec, self.done = state, rec, False

    def __call__(self, status: int, error: APIError | None = None,
                 exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        _release(self.state, self.rec)
        self.rec.finish(status, self.state.metrics, self.state.usage, error=error, exc=exc)
        self.rec.end_spans()


class _GuardedStream(StreamingResponse):
    """A stream whose slot is freed even if the client leaves before the first chunk.

    The generator then never runs, so its own cleanup never does; this runs after the
    response either way (a no-op when the generator already finished the request).
    """

    def __init__(self, content: AsyncIterator[bytes], end: _StreamEnd, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._end = end

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._end(499, CLIENT_CLOSED)


CLIENT_CLOSED = APIError(499, "the client closed the connection", error_type="client_closed")


async def _relay(state: GatewayState, rec: RequestRecord, payload: dict[str, Any],
                 want_usage: bool, max_tokens: int, end: _StreamEnd) -> AsyncIterator[bytes]:
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
                    attributes=_inference_span_attrs(state, max_tokens, rec.model)) as span:
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
                _set_usage(span, rec)
            with tracer.start_as_current_span("post_process"):
                pass  # chunks were rewritten on the fly; nothing is left to do
        end(200)
        yield done
    except APIError as err:
        end(err.status, err)
        yield b"data: " + orjson.dumps(err.body()) + b"\n\n"
    except Exception as exc:  # a fault of ours mid-stream: an error, not the client leaving
        internal = APIError(500, f"internal gateway error: {type(exc).__name__}: {exc}",
                            error_type="internal_error", kind="server_error")
        end(500, internal, exc)
        yield b"data: " + orjson.dumps(internal.body()) + b"\n\n"
    except BaseException as exc:  # the client went away (CancelledError, GeneratorExit)
        end(499, CLIENT_CLOSED, exc if not isinstance(exc, GeneratorExit) else None)
        raise
