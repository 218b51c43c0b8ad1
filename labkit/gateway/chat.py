"""``POST /v1/chat/completions``: validate, queue, forward to llama-server, relay, record."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

from labkit.gateway.errors import APIError
from labkit.gateway.inference import Slot, complete, internal_error
from labkit.gateway.record import RequestRecord, new_request_id
from labkit.gateway.request import ChatRequest, forwarded_payload, parse_chat, request_ids
from labkit.gateway.state import GatewayState
from labkit.gateway.stream import stream_response

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
    rec, span = _open_record(request, state, request_id, user_id)
    headers = {"x-request-id": rec.request_id}
    slot = Slot(state, rec)
    try:
        # record.finish() annotates the span; use_span would add a second exception event.
        with trace.use_span(span, end_on_exit=False, record_exception=False,
                            set_status_on_exception=False):
            if header_error is not None:
                raise header_error
            body, req, max_tokens = await _admit(request, state, rec, span)
            await state.faults.before_forward()
            # The exact count (a /tokenize call) is work for llama-server: it waits its turn.
            await slot.acquire()
            span.set_attribute("queue_wait_ms", rec.queued_s * 1000)
            counted = await _count_prompt(state, span, req, max_tokens)
            _check_context(counted, max_tokens, state.settings.context_per_request)
            payload = forwarded_payload(body, req.model, max_tokens)
            if req.stream:
                want_usage = req.stream_options is not None and req.stream_options.include_usage
                slot.hand_over()
                return stream_response(state, rec, payload, want_usage, max_tokens, headers)
            result = await complete(state, rec, payload, max_tokens)
        slot.release()
        _record(state, rec, 200)
        return Response(orjson.dumps(result), media_type="application/json", headers=headers)
    except APIError as err:
        slot.release()
        return _refuse(state, rec, err, headers)
    except Exception as exc:  # the gateway answers; it never falls over
        slot.release()
        return _refuse(state, rec, internal_error(exc), headers, exc)


def _open_record(request: Request, state: GatewayState, request_id: str,
                 user_id: str | None) -> tuple[RequestRecord, Span]:
    """The request's record and its ``chat_completion`` span (under a server span if asked)."""
    rec = RequestRecord(request_id=request_id, endpoint=ENDPOINT, user_id=user_id)
    server = _server_span(request, state) if state.settings.manual_server_span else None
    span = state.tracer.start_span(
        "chat_completion",
        context=trace.set_span_in_context(server) if server is not None else None)
    rec.span = span
    if server is not None:
        rec.extra_spans.append(server)
    return rec, span


async def _admit(request: Request, state: GatewayState, rec: RequestRecord,
                 span: Span) -> tuple[dict[str, Any], ChatRequest, int]:
    """Parse the body and check the model: (raw body, request, max_tokens), noted on the span."""
    body, req = await parse_chat(request, state.settings.max_body_bytes)
    rec.user_id = rec.user_id or req.user
    rec.stream = req.stream
    if req.model not in state.settings.models:
        raise APIError(404, f"The model `{req.model}` does not exist; available: "
                       f"{', '.join(state.settings.models)}", error_type="model_not_found",
                       param="model")
    rec.model = req.model
    max_tokens = req.max_completion_tokens or req.max_tokens or state.settings.default_max_tokens
    span.set_attribute("model", req.model)
    span.set_attribute("max_tokens", max_tokens)
    span.set_attribute("user_id", rec.user_id or "")
    span.set_attribute("request_id", rec.request_id)
    if state.settings.log_prompts:
        rec.prompt = _prompt_text(req)
    return body, req, max_tokens


async def _count_prompt(state: GatewayState, span: Span, req: ChatRequest,
                        max_tokens: int) -> int:
    """The prompt's tokens: a cheap upper bound, or llama-server's exact count when it matters."""
    budget = state.settings.context_per_request
    with state.tracer.start_as_current_span("tokenize") as tok_span:
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
    return counted


def _check_context(counted: int, max_tokens: int, budget: int) -> None:
    """Refuse, as OpenAI does, a request whose prompt and completion exceed the context."""
    if counted + max_tokens > budget:
        raise APIError(
            400, f"This model's maximum context length is {budget} tokens. However, you "
            f"requested {counted + max_tokens} tokens ({counted} in the messages, "
            f"{max_tokens} in the completion). Please reduce the length of the messages "
            "or completion.", error_type="context_length_exceeded", param="messages")


def _record(state: GatewayState, rec: RequestRecord, status: int, error: APIError | None = None,
            exc: BaseException | None = None) -> None:
    rec.finish(status, state.metrics, state.usage, error=error, exc=exc)
    rec.end_spans()


def _refuse(state: GatewayState, rec: RequestRecord, err: APIError, headers: dict[str, str],
            exc: BaseException | None = None) -> JSONResponse:
    """Record a failed request and answer with OpenAI's error body."""
    _record(state, rec, err.status, err, exc)
    return JSONResponse(err.body(), status_code=err.status, headers=headers)


def _server_span(request: Request, state: GatewayState) -> Span:
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
