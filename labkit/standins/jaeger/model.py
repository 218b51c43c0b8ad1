"""Translate OTLP spans into Jaeger's v1 JSON model, as Jaeger v2 does.

Jaeger v2 stores OTLP and, for its ``/api`` JSON, runs the query adjusters (attributes
sorted by key, events by time) and then the collector-contrib translator
(``pkg/translator/jaeger``): scope name/version become ``otel.scope.*`` tags, span kind
becomes ``span.kind``, status becomes ``otel.status_code`` (+ ``error=true``,
``otel.status_description``), events become logs whose first field is ``event``, the
parent becomes a CHILD_OF reference and links FOLLOWS_FROM ones, resource attributes
become process tags with ``service.name`` as the process's serviceName.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["SpanRow", "jaeger_span_id", "jaeger_trace_id", "process_json", "rows_from_request"]

SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
MISSING_SERVICE = "missing-service-name"  # Jaeger v2's sanitizer names a resource without one
EMPTY_SERVICE = "empty-service-name"
_JS_MAX_SAFE = (1 << 53) - 1


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One span ready to store: index columns plus its rendered Jaeger JSON."""

    trace_id: str  # 32 lowercase hex characters
    span_id: str  # 16 lowercase hex characters
    parent_id: str | None
    service: str
    operation: str
    kind: str  # "" when unspecified
    start_us: int
    duration_us: int
    span_json: str  # a Jaeger span object without processID, ending in "}"; "warnings" last,
    # only when ingest found something to warn about
    process: str  # the process object as JSON


def jaeger_trace_id(hex32: str) -> str:
    """Jaeger prints a 128-bit id whose high half is zero as 16 hex digits."""
    return hex32[16:] if hex32[:16] == "0000000000000000" else hex32


def jaeger_span_id(hex16: str) -> str:
    return hex16


def _raw(value: AnyValue) -> Any:
    """An AnyValue as a plain Python value (for rendering arrays and maps as JSON)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_raw(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _raw(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which is None:
        return None
    return getattr(value, which)


def _tag(key: str, value: AnyValue) -> dict[str, Any]:
    which = value.WhichOneof("value")
    if which == "string_value":
        return {"key": key, "type": "string", "value": value.string_value}
    if which == "bool_value":
        return {"key": key, "type": "bool", "value": value.bool_value}
    if which == "int_value":
        i = value.int_value
        # Jaeger writes integers JavaScript cannot hold exactly as strings.
        return {
            "key": key,
            "type": "int64",
            "value": i if -_JS_MAX_SAFE <= i <= _JS_MAX_SAFE else str(i),
        }
    if which == "double_value":
        return {"key": key, "type": "float64", "value": _go_float(value.double_value)}
    if which == "bytes_value":
        return {
            "key": key,
            "type": "binary",
            "value": base64.b64encode(value.bytes_value).decode("ascii"),
        }
    if which in ("array_value", "kvlist_value"):
        text = json.dumps(_raw(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return {"key": key, "type": "string", "value": text}
    return {"key": key, "type": "string", "value": ""}


def _go_float(d: float) -> float | int | str:
    """A float64 as Go's encoding/json writes it: whole numbers without ".0" (2.0 -> 2),
    so the JSON reads back as the same number the real Jaeger sends."""
    if not math.isfinite(d):
        return str(d)
    return int(d) if d.is_integer() and abs(d) < 1e21 else d


def _sorted_tags(attributes: Any, skip: str | None = None) -> list[dict[str, Any]]:
    return [
        _tag(kv.key, kv.value) for kv in sorted(attributes, key=lambda kv: kv.key) if kv.key != skip
    ]


def process_json(resource: Any) -> tuple[str, str]:
    """(serviceName, process JSON) for an OTLP resource."""
    service = MISSING_SERVICE
    for kv in resource.attributes:
        if kv.key == "service.name":
            service = (
                kv.value.string_value if kv.value.WhichOneof("value") == "string_value" else ""
            )
            service = service or EMPTY_SERVICE
    body = {"serviceName": service, "tags": _sorted_tags(resource.attributes, skip="service.name")}
    return service, json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _references(span: Any, trace_hex: str) -> list[dict[str, str]]:
    refs: list[dict[str, str]] = []
    parent = span.parent_span_id.hex() if any(span.parent_span_id) else ""
    if parent:
        refs.append(
            {"refType": "CHILD_OF", "traceID": jaeger_trace_id(trace_hex), "spanID": parent}
        )
    for link in span.links:
        ref_type = "FOLLOWS_FROM"
        for kv in link.attributes:
            if kv.key == "opentracing.ref_type" and kv.value.string_value == "child_of":
                ref_type = "CHILD_OF"
        link_trace, link_span = link.trace_id.hex(), link.span_id.hex()
        if parent and link_trace == trace_hex and link_span == parent:
            refs[0]["refType"] = ref_type  # the link re-types the parent reference
            continue
        refs.append(
            {"refType": ref_type, "traceID": jaeger_trace_id(link_trace), "spanID": link_span}
        )
    return refs


def _span_tags(span: Any, scope: Any) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = []
    if scope.name:
        tags.append({"key": "otel.scope.name", "type": "string", "value": scope.name})
    if scope.version:
        tags.append({"key": "otel.scope.version", "type": "string", "value": scope.version})
    tags.extend(_sorted_tags(span.attributes))
    if span.kind in SPAN_KINDS:
        tags.append({"key": "span.kind", "type": "string", "value": SPAN_KINDS[span.kind]})
    code = span.status.code
    if code == 1:
        tags.append({"key": "otel.status_code", "type": "string", "value": "OK"})
    elif code == 2:
        tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
        tags.append({"key": "error", "type": "bool", "value": True})
    if span.status.message:
        tags.append(
            {"key": "otel.status_description", "type": "string", "value": span.status.message}
        )
    if span.trace_state:
        tags.append({"key": "w3c.tracestate", "type": "string", "value": span.trace_state})
    # Jaeger's query service sorts every tag by key, the translator's ones included.
    return sorted(tags, key=lambda t: t["key"])


def _logs(span: Any) -> list[dict[str, Any]]:
    logs = []
    # By time, as Jaeger answers them; same-time events by name (Python's sort is stable).
    for event in sorted(sorted(span.events, key=lambda e: e.name), key=lambda e: e.time_unix_nano):
        fields = _sorted_tags(event.attributes)
        if event.name and not any(f["key"] == "event" for f in fields):
            fields.insert(0, {"key": "event", "type": "string", "value": event.name})
        logs.append({"timestamp": event.time_unix_nano // 1000, "fields": fields})
    return logs


def go_time(ns: int) -> str:
    """A Unix time in nanoseconds as Go's ``time.Time.String()`` prints a UTC time."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + " +0000 UTC"


def _sanitizer_warnings(span: Any) -> list[str]:
    """Jaeger's ingest sanitizer gives a span that ends at or before its start 1 ns, and says so."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if end > start:
        return []
    return [f"Negative duration detected, sanitizing end timestamp. Original end timestamp: "
            f"{go_time(end)}, adjusted to: {go_time(start + 1)}"]


def rows_from_request(request: ExportTraceServiceRequest) -> Iterator[SpanRow]:
    """Every span of an export request as a SpanRow."""
    for rs in request.resource_spans:
        service, process = process_json(rs.resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                trace_hex = span.trace_id.hex()
                span_hex = span.span_id.hex()
                start_us = span.start_time_unix_nano // 1000
                warnings = _sanitizer_warnings(span)
                duration_us = max(0, span.end_time_unix_nano - span.start_time_unix_nano) // 1000
                body = {
                    "traceID": jaeger_trace_id(trace_hex),
                    "spanID": span_hex,
                    "operationName": span.name,
                    "references": _references(span, trace_hex),
                    "startTime": start_us,
                    "duration": duration_us,
                    "tags": _span_tags(span, ss.scope),
                    "logs": _logs(span),
                    **({"warnings": warnings} if warnings else {}),
                }
                yield SpanRow(
                    trace_id=trace_hex,
                    span_id=span_hex,
                    parent_id=span.parent_span_id.hex() if any(span.parent_span_id) else None,
                    service=service,
                    operation=span.name,
                    kind=SPAN_KINDS.get(span.kind, ""),
                    start_us=start_us,
                    duration_us=duration_us,
                    span_json=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                    process=process,
                )
