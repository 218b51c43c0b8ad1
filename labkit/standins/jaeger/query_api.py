"""The Jaeger query HTTP API (``/api/...``) of the stand-in, one named handler per endpoint.

Each handler reads the span store from ``request.app.state.store``
(:func:`labkit.standins.jaeger.app.create_query_app` puts it there).
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .envelope import envelope, error_response, json_response, raw_json, traces_envelope
from .model import jaeger_trace_id
from .search import (
    INT64_MAX,
    INT64_MIN,
    QueryParamError,
    canonical_trace_id,
    parse_int64,
    parse_trace_query,
)
from .store import Store

__all__ = ["ROUTES"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _clamp(us: int) -> int:
    """A time in microseconds, held inside SQLite's (and Go's) int64."""
    return max(INT64_MIN, min(INT64_MAX, us))


def _ms_param(text: str, name: str, default: int) -> int:
    if text == "":
        return default
    try:
        return parse_int64(text, name)
    except QueryParamError as exc:
        raise QueryParamError(f"unable to parse param '{name}': {exc}") from None


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


def health(request: Request) -> Response:
    return json_response({"status": "Server available", "traces": _store(request).trace_count()})


def services(request: Request) -> Response:
    names = _store(request).services()
    return json_response(envelope(names, total=len(names)))


def service_operations(request: Request) -> Response:
    names = sorted({name for name, _ in _store(request).operations(request.path_params["service"])})
    return json_response(envelope(names or None, total=len(names)))  # Go's nil slice: null


def operations(request: Request) -> Response:
    service = request.query_params.get("service", "")
    if not service:
        return error_response(400, "parameter 'service' is required")
    ops = _store(request).operations(service, request.query_params.get("spanKind", ""))
    return json_response(envelope([{"name": n, "spanKind": k} for n, k in ops], total=len(ops)))


def search(request: Request) -> Response:
    try:
        query, trace_ids = parse_trace_query(_params(request))
    except QueryParamError as exc:
        return error_response(exc.status, str(exc))
    errors = None
    if query is not None:
        trace_ids = _store(request).find_trace_ids(query)
    traces = _store(request).spans_of(trace_ids)
    if query is None:
        missing = [t for t in trace_ids if t not in traces]
        errors = [
            {"msg": "trace not found", "traceID": jaeger_trace_id(t)} for t in missing
        ] or None
    return raw_json(traces_envelope(traces, errors))


def get_trace(request: Request) -> Response:
    try:
        trace_id = canonical_trace_id(request.path_params["trace_id"])
    except QueryParamError as exc:
        return error_response(400, str(exc))
    traces = _store(request).spans_of([trace_id])
    if not traces:
        return error_response(404, "trace not found")
    return raw_json(traces_envelope(traces, None))


def dependencies(request: Request) -> Response:
    q = request.query_params
    try:  # endTs defaults to now; lookback is in milliseconds (Jaeger's defaults)
        end_ms = _ms_param(q.get("endTs", ""), "endTs", int(time.time() * 1000))
        lookback_ms = _ms_param(q.get("lookback", ""), "lookback", 24 * 3600 * 1000)
    except QueryParamError as exc:
        return error_response(400, str(exc))
    service = q.get("service", "")
    links = [
        {"parent": p, "child": c, "callCount": n}
        for p, c, n in _store(request).dependencies(_clamp((end_ms - lookback_ms) * 1000),
                                          _clamp(end_ms * 1000))
        if not service or service in (p, c)
    ]
    return json_response(envelope(links))


ROUTES = [
    Route("/", health),
    Route("/health", health),
    Route("/api/services", services),
    Route("/api/services/{service:path}/operations", service_operations),
    Route("/api/operations", operations),
    Route("/api/traces", search),
    Route("/api/traces/{trace_id}", get_trace),
    Route("/api/dependencies", dependencies),
]
