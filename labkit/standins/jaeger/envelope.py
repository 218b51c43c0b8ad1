"""Jaeger's query API answers: its envelope, its errors, and traces rendered as Jaeger JSON.

Query responses use Jaeger's envelope ``{"data","total","limit","offset","errors"}``;
errors are sent as Jaeger's Go ``http.Error`` sends them (text/plain, JSON body).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from .model import SpanRow, jaeger_trace_id
from .store import StoredSpan

__all__ = ["envelope", "error_body", "error_response", "json_response", "raw_json",
           "render_trace", "traces_envelope"]

_WARNINGS = ',"warnings":'


def envelope(
    data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def json_response(doc: Any) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), media_type="application/json")


def raw_json(text: str) -> Response:
    return Response(text, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    body = json.dumps(
        envelope(None, errors=[{"code": status, "msg": message}]), separators=(",", ":")
    )
    return Response(
        body + "\n",
        status_code=status,
        media_type="text/plain",
        headers={"X-Content-Type-Options": "nosniff"},
    )


def render_trace(trace_id: str, spans: Sequence[StoredSpan | SpanRow]) -> str:
    """One trace as Jaeger JSON text, from its stored spans (in start order).

    Besides the ingest warnings stored with a span, a span whose parent is not in the trace
    gets the warning of Jaeger's clock-skew adjuster, as the real query service adds it.
    """
    keys: dict[str, str] = {}
    ids = {span.span_id for span in spans}
    parts = []
    for span in spans:
        key = keys.get(span.process)
        if key is None:
            key = keys[span.process] = f"p{len(keys) + 1}"
        # The stored span ends in "}": splice in the per-trace fields in Jaeger's order.
        body, warnings = span.span_json[:-1], []
        cut = body.rfind(_WARNINGS)  # a key: inside a JSON string the quotes are escaped
        if cut >= 0:
            body, warnings = body[:cut], json.loads(body[cut + len(_WARNINGS):])
        if span.parent_id and span.parent_id not in ids:
            warnings.append(f"invalid parent span IDs={span.parent_id}; "
                            "skipping clock skew adjustment")
        text = json.dumps(warnings, ensure_ascii=False) if warnings else "null"
        parts.append(f'{body},"processID":"{key}","warnings":{text}}}')
    processes = ",".join(f'"{key}":{process}' for process, key in keys.items())
    return (
        f'{{"traceID":"{jaeger_trace_id(trace_id)}","spans":[{",".join(parts)}],'
        f'"processes":{{{processes}}},"warnings":null}}'
    )


def traces_envelope(
    traces: dict[str, list[StoredSpan]], errors: list[dict[str, Any]] | None
) -> str:
    data = ",".join(render_trace(t, spans) for t, spans in traces.items())
    err = json.dumps(errors, separators=(",", ":")) if errors else "null"
    return f'{{"data":[{data}],"total":0,"limit":0,"offset":0,"errors":{err}}}'


def error_body(status: int, message: str) -> tuple[bytes, str]:
    """What the Host/cross-site guard answers with: a query API error."""
    return bytes(error_response(status, message).body), "text/plain"
