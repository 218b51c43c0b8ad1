"""Decode OTLP/HTTP trace export requests (protobuf or JSON, optionally gzipped).

OTLP's JSON encoding differs from plain proto3 JSON in one way that matters here:
trace and span ids are hex strings, not base64. We rewrite them to base64 and let
protobuf's own ``json_format`` do the rest (lowerCamelCase names, enum ints,
int64 as strings, unknown fields ignored as the OTLP spec requires).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from labkit.serving import BadBody, BodyTooLarge, decompress, parse_json

__all__ = [
    "JSON",
    "MAX_BODY_BYTES",
    "MAX_REQUEST_BYTES",
    "PROTOBUF",
    "OTLPDecodeError",
    "decode_request",
    "encode_response",
    "encode_status",
    "media_type",
]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# A BatchSpanProcessor request of 512 spans is well under 1 MiB. The request as sent is
# capped like the OpenTelemetry Collector's confighttp (max_request_body_size, 20 MiB);
# what it decompresses to is capped too (gzip bombs).
MAX_REQUEST_BYTES = 20 * 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_JSON_DEPTH = 100  # nested AnyValue maps and arrays; protobuf's own recursion limit

_ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


class OTLPDecodeError(ValueError):
    """The request body is not a valid OTLP trace export request."""


def media_type(content_type: str | None) -> str | None:
    """Return PROTOBUF or JSON for a Content-Type header, None when neither."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return base if base in (PROTOBUF, JSON) else None


def _decompress(body: bytes, encoding: str | None) -> bytes:
    """gzip (all OTLP/HTTP asks for) undone within MAX_BODY_BYTES; BodyTooLarge past it."""
    try:
        return decompress(body, encoding, MAX_BODY_BYTES, accept=("gzip",))
    except BodyTooLarge:
        raise
    except BadBody as exc:
        raise OTLPDecodeError(str(exc)) from None


def _hex_ids_to_base64(node: Any, path: str = "") -> None:
    """Rewrite OTLP-JSON hex ids in place to the base64 that json_format expects."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                size = _ID_FIELDS[key]
                if value == "" and key == "parentSpanId":
                    continue
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raw = b""
                if len(raw) != size:
                    raise OTLPDecodeError(
                        f"{path}{key} must be {2 * size} hex characters, got {value!r}"
                    )
                node[key] = base64.b64encode(raw).decode("ascii")
            else:
                _hex_ids_to_base64(value, f"{path}{key}.")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _hex_ids_to_base64(item, f"{path.rstrip('.')}[{i}].")


def decode_request(
    body: bytes, content_type: str | None, content_encoding: str | None = None
) -> ExportTraceServiceRequest:
    """Parse a request body into an ExportTraceServiceRequest, or raise OTLPDecodeError."""
    kind = media_type(content_type)
    if kind is None:
        raise OTLPDecodeError(
            f"unsupported Content-Type {content_type!r}: send {PROTOBUF} or {JSON}"
        )
    data = _decompress(body, content_encoding)
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(data)
        except DecodeError as exc:
            raise OTLPDecodeError(
                f"body is not a valid protobuf ExportTraceServiceRequest: {exc}"
            ) from exc
    else:
        try:
            doc = parse_json(data, max_depth=MAX_JSON_DEPTH)
        except BadBody as exc:
            raise OTLPDecodeError(str(exc)) from None
        if not isinstance(doc, dict):
            raise OTLPDecodeError("JSON body must be an object with a 'resourceSpans' list")
        _hex_ids_to_base64(doc)
        try:
            json_format.ParseDict(doc, request, ignore_unknown_fields=True)
        except (json_format.ParseError, binascii.Error, TypeError, ValueError) as exc:
            raise OTLPDecodeError(f"JSON body is not a valid OTLP trace request: {exc}") from exc
    _validate_ids(request)
    return request


def _validate_ids(request: ExportTraceServiceRequest) -> None:
    """Reject spans whose ids have the wrong size or are all zero (invalid in OTLP)."""
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if len(span.trace_id) != 16 or not any(span.trace_id):
                    raise OTLPDecodeError(
                        f"span {span.name!r} has an invalid trace id "
                        f"({span.trace_id.hex() or 'empty'}): it must be 16 non-zero bytes"
                    )
                if len(span.span_id) != 8 or not any(span.span_id):
                    raise OTLPDecodeError(
                        f"span {span.name!r} has an invalid span id "
                        f"({span.span_id.hex() or 'empty'}): it must be 8 non-zero bytes"
                    )
                if span.parent_span_id and len(span.parent_span_id) != 8:
                    raise OTLPDecodeError(
                        f"span {span.name!r} has a parent span id of "
                        f"{len(span.parent_span_id)} bytes: it must be 8"
                    )


def encode_response(kind: str) -> bytes:
    """An empty ExportTraceServiceResponse (full success) in the request's encoding."""
    if kind == JSON:
        return b"{}"
    return ExportTraceServiceResponse().SerializeToString()


def encode_status(kind: str | None, message: str, code: int = 3) -> bytes:
    """A google.rpc.Status body (code 3 = INVALID_ARGUMENT), as the OTLP spec asks for errors."""
    from google.rpc.status_pb2 import (
        Status,  # googleapis-common-protos, an OTel dependency
    )

    status = Status(code=code, message=message)
    if kind == PROTOBUF:
        return status.SerializeToString()
    return json.dumps({"code": code, "message": message}).encode()
