"""What a chat request may carry, checked at the edge before anything is queued or forwarded.

The body is read with a byte cap (counted on the stream: a chunked body has no
``Content-Length`` and a client may lie), parsed as bounded JSON, validated with
pydantic, and only an allowlist of fields goes on to llama-server: OpenAI's chat
fields and llama.cpp's sampling fields. Fields that would bypass the gateway's
token budget and cost accounting (``n_predict``, ``ignore_eos``, ``id_slot``, ...)
are refused, as is anything unrecognised, the way OpenAI refuses it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from labkit.gateway.errors import APIError, bad_request
from labkit.serving import BadBody, parse_json, read_body

__all__ = ["FORWARDED_FIELDS", "ChatRequest", "admin_json", "forwarded_payload", "openapi_body",
           "parse_chat", "request_ids"]

# OpenAI's chat-completion request fields that llama-server understands.
OPENAI_FIELDS = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options",
    "temperature", "top_p", "stop", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "seed", "response_format", "tools", "tool_choice",
    "parallel_tool_calls", "user",
})
# llama.cpp's sampling fields (tools/server/README.md, "POST /completion" options).
LLAMA_SAMPLING_FIELDS = frozenset({
    "top_k", "min_p", "typical_p", "top_n_sigma", "dynatemp_range", "dynatemp_exponent",
    "repeat_penalty", "repeat_last_n", "dry_multiplier", "dry_base", "dry_allowed_length",
    "dry_penalty_last_n", "dry_sequence_breakers", "xtc_probability", "xtc_threshold",
    "mirostat", "mirostat_tau", "mirostat_eta", "grammar", "json_schema", "n_probs",
    "min_keep", "samplers",
})
FORWARDED_FIELDS = OPENAI_FIELDS | LLAMA_SAMPLING_FIELDS
# OpenAI fields that mean nothing to llama-server: accepted, not forwarded.
DROPPED_FIELDS = frozenset({"n", "metadata", "store", "service_tier", "modalities",
                            "reasoning_effort", "prediction", "web_search_options"})
# llama-server controls that would escape the gateway's budget, slots or accounting.
CONTROL_FIELDS = frozenset({"n_predict", "ignore_eos", "id_slot", "n_keep", "n_discard",
                            "t_max_predict_ms", "n_indent", "lora", "n_cmpl"})

REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
MAX_USER_CHARS = 128


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields the gateway checks itself; the other allowed ones go through as sent."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)  # llama-server makes one choice per request
    user: str | None = Field(default=None, max_length=MAX_USER_CHARS)


async def parse_chat(request: Request, max_bytes: int) -> tuple[dict[str, Any], ChatRequest]:
    """The raw JSON object and its validated form, or an :class:`APIError` saying why not."""
    try:
        body = parse_json(await read_body(request, max_bytes), what="the body")
    except BadBody as exc:
        error_type = "payload_too_large" if exc.status == 413 else "invalid_json"
        raise APIError(exc.status, str(exc), error_type=error_type) from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object", error_type="invalid_json")
    _check_fields(body)
    try:
        req = ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}", param=where) from None
    if req.user is not None:
        check_user_id(req.user, "user")
    return body, req


async def admin_json(request: Request, max_bytes: int) -> Any:
    """An admin body (``{}`` when empty), capped and parsed as bounded JSON, or a 400/413."""
    try:
        return parse_json(await read_body(request, max_bytes) or b"{}", what="the faults body")
    except BadBody as exc:
        raise APIError(exc.status, str(exc), error_type="invalid_json") from None


def _check_fields(body: dict[str, Any]) -> None:
    control = sorted(CONTROL_FIELDS & body.keys())
    if control:
        raise bad_request(
            f"{', '.join(control)}: llama-server controls the gateway does not forward (they "
            "would bypass its token budget, slots and cost accounting); use max_tokens",
            error_type="unsupported_field", param=control[0])
    unknown = sorted(body.keys() - FORWARDED_FIELDS - DROPPED_FIELDS)
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {', '.join(unknown)}",
                          error_type="unsupported_field", param=unknown[0])


def forwarded_payload(body: dict[str, Any], model: str, max_tokens: int) -> dict[str, Any]:
    """What goes to llama-server: the allowed fields, the checked model and token budget."""
    payload = {k: v for k, v in body.items() if k in FORWARDED_FIELDS}
    payload.pop("max_completion_tokens", None)
    payload.update(model=model, max_tokens=max_tokens)
    return payload


def check_user_id(value: str, where: str) -> str:
    """A user id as stored in the usage table: 1-128 printable characters."""
    if not 0 < len(value) <= MAX_USER_CHARS or not value.isprintable():
        raise bad_request(f"{where} must be 1 to {MAX_USER_CHARS} printable characters",
                          error_type="invalid_header" if where.startswith("x-") else
                          "invalid_request", param=where)
    return value


def request_ids(request: Request, new_id: str) -> tuple[str, str | None, APIError | None]:
    """The request id and user id from the headers, and the error if either is malformed.

    A malformed ``x-request-id`` is replaced by ``new_id`` so the refusal can still be
    traced.
    """
    rid = request.headers.get("x-request-id") or None
    uid = request.headers.get("x-user-id") or None
    if rid is not None and not REQUEST_ID.fullmatch(rid):
        return new_id, None, bad_request(
            "x-request-id must be 1 to 64 letters, digits or '.', '_', ':', '-'",
            error_type="invalid_header", param="x-request-id")
    if uid is not None:
        try:
            check_user_id(uid, "x-user-id")
        except APIError as err:
            return rid or new_id, None, err
    return rid or new_id, uid, None


def openapi_body(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` for a route that reads its body itself (so it can cap it).

    FastAPI documents only bodies it parses; this puts the schema (with pydantic's
    ``$defs`` inlined) where clients and API fuzzers find it.
    """
    defs = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[1]])
            return {k: inline(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}}}


CHAT_OPENAPI = openapi_body(ChatRequest.model_json_schema())
