"""The two HTTP faces of the stand-in: the OTLP/HTTP receiver and the Jaeger query API.

Query responses use Jaeger's envelope ``{"data","total","limit","offset","errors"}``;
errors are sent as Jaeger's Go ``http.Error`` sends them (text/plain, JSON body).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from labkit.serving import BadBody, LoopbackGuard, allowed_hosts, read_body

from . import otlp
from .model import SpanRow, jaeger_trace_id, rows_from_request
from .search import (
    INT64_MAX,
    INT64_MIN,
    QueryParamError,
    canonical_trace_id,
    parse_int64,
    parse_trace_query,
)
from .store import Store, StoredSpan

_WARNINGS = ',"warnings":'

__all__ = ["create_otlp_app", "create_query_app", "render_trace"]


def _envelope(
    data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")), media_type="application/json")


def _raw_json(text: str) -> Response:
    return Response(text, media_type="application/json")


def _error(status: int, message: str) -> Response:
    body = json.dumps(
        _envelope(None, errors=[{"code": status, "msg": message}]), separators=(",", ":")
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


def _traces_envelope(
    traces: dict[str, list[StoredSpan]], errors: list[dict[str, Any]] | None
) -> str:
    data = ",".join(render_trace(t, spans) for t, spans in traces.items())
    err = json.dumps(errors, separators=(",", ":")) if errors else "null"
    return f'{{"data":[{data}],"total":0,"limit":0,"offset":0,"errors":{err}}}'


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


def _guarded(app: Starlette, host: str, body_types: tuple[str, ...],
             error_body: Callable[[int, str], tuple[bytes, str]]) -> Starlette:
    """Refuse foreign Host names and cross-site POSTs (see :mod:`labkit.serving.guard`)."""
    app.add_middleware(LoopbackGuard, hosts=allowed_hosts(host), error_body=error_body,
                       body_types={"": body_types})
    return app


def _query_error_body(status: int, message: str) -> tuple[bytes, str]:
    return bytes(_error(status, message).body), "text/plain"


def _otlp_error_body(status: int, message: str) -> tuple[bytes, str]:
    return otlp.encode_status(otlp.JSON, message), otlp.JSON


def create_query_app(store: Store, host: str = "127.0.0.1") -> Starlette:
    """The Jaeger query HTTP API (``/api/...``) over ``store``; ``/`` answers 200 (health)."""

    def params(request: Request) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            out.setdefault(key, []).append(value)
        return out

    def health(request: Request) -> Response:
        return _json({"status": "Server available", "traces": store.trace_count()})

    def services(request: Request) -> Response:
        names = store.services()
        return _json(_envelope(names, total=len(names)))

    def service_operations(request: Request) -> Response:
        names = sorted({name for name, _ in store.operations(request.path_params["service"])})
        return _json(_envelope(names or None, total=len(names)))  # Go's nil slice: null

    def operations(request: Request) -> Response:
        service = request.query_params.get("service", "")
        if not service:
            return _error(400, "parameter 'service' is required")
        ops = store.operations(service, request.query_params.get("spanKind", ""))
        return _json(_envelope([{"name": n, "spanKind": k} for n, k in ops], total=len(ops)))

    def search(request: Request) -> Response:
        try:
            query, trace_ids = parse_trace_query(params(request))
        except QueryParamError as exc:
            return _error(exc.status, str(exc))
        errors = None
        if query is not None:
            trace_ids = store.find_trace_ids(query)
        traces = store.spans_of(trace_ids)
        if query is None:
            missing = [t for t in trace_ids if t not in traces]
            errors = [
                {"msg": "trace not found", "traceID": jaeger_trace_id(t)} for t in missing
            ] or None
        return _raw_json(_traces_envelope(traces, errors))

    def get_trace(request: Request) -> Response:
        try:
            trace_id = canonical_trace_id(request.path_params["trace_id"])
        except QueryParamError as exc:
            return _error(400, str(exc))
        traces = store.spans_of([trace_id])
        if not traces:
            return _error(404, "trace not found")
        return _raw_json(_traces_envelope(traces, None))

    def dependencies(request: Request) -> Response:
        q = request.query_params
        try:  # endTs defaults to now; lookback is in milliseconds (Jaeger's defaults)
            end_ms = _ms_param(q.get("endTs", ""), "endTs", int(time.time() * 1000))
            lookback_ms = _ms_param(q.get("lookback", ""), "lookback", 24 * 3600 * 1000)
        except QueryParamError as exc:
            return _error(400, str(exc))
        service = q.get("service", "")
        links = [
            {"parent": p, "child": c, "callCount": n}
            for p, c, n in store.dependencies(_clamp((end_ms - lookback_ms) * 1000),
                                              _clamp(end_ms * 1000))
            if not service or service in (p, c)
        ]
        return _json(_envelope(links))

    routes = [
        Route("/", health),
        Route("/health", health),
        Route("/api/services", services),
        Route("/api/services/{service:path}/operations", service_operations),
        Route("/api/operations", operations),
        Route("/api/traces", search),
        Route("/api/traces/{trace_id}", get_trace),
        Route("/api/dependencies", dependencies),
    ]
    return _guarded(Starlette(routes=routes), host, ("application/json",), _query_error_body)


def create_otlp_app(store: Store, host: str = "127.0.0.1") -> Starlette:
    """The OTLP/HTTP trace receiver (``POST /v1/traces``) writing into ``store``."""

    async def export(request: Request) -> Response:
        kind = otlp.media_type(request.headers.get("content-type"))
        if kind is None:
            message = (
                f"unsupported Content-Type {request.headers.get('content-type')!r}: "
                f"send {otlp.PROTOBUF} or {otlp.JSON}"
            )
            return Response(
                otlp.encode_status(otlp.JSON, message), status_code=415, media_type=otlp.JSON
            )
        try:
            body = await read_body(request, otlp.MAX_REQUEST_BYTES)
            # Decoding, translating and the committed write run off the event loop.
            await run_in_threadpool(ingest, body, kind, request.headers.get("content-encoding"))
        except (otlp.OTLPDecodeError, BadBody) as exc:
            status = exc.status if isinstance(exc, BadBody) else 400
            return Response(otlp.encode_status(kind, str(exc)), status_code=status,
                            media_type=kind)
        return Response(otlp.encode_response(kind), media_type=kind)

    def ingest(body: bytes, kind: str, encoding: str | None) -> None:
        store.write(rows_from_request(otlp.decode_request(body, kind, encoding)))

    def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    app = Starlette(routes=[Route("/v1/traces", export, methods=["POST"]), Route("/", health)])
    return _guarded(app, host, (otlp.PROTOBUF, otlp.JSON), _otlp_error_body)
