"""The two HTTP faces of the stand-in: the OTLP/HTTP receiver and the Jaeger query API.

Both keep the span store on ``app.state.store``; the query API's handlers are in
:mod:`.query_api`, its response shapes in :mod:`.envelope`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from labkit.serving import BadBody, LoopbackGuard, allowed_hosts, read_body

from . import otlp
from .envelope import error_body, render_trace
from .model import rows_from_request
from .query_api import ROUTES
from .store import Store

__all__ = ["create_otlp_app", "create_query_app", "render_trace"]


def _guarded(app: Starlette, host: str, body_types: tuple[str, ...],
             error_body: Callable[[int, str], tuple[bytes, str]]) -> Starlette:
    """Refuse foreign Host names and cross-site POSTs (see :mod:`labkit.serving.guard`)."""
    app.add_middleware(LoopbackGuard, hosts=allowed_hosts(host), error_body=error_body,
                       body_types={"": body_types})
    return app


def _otlp_error_body(status: int, message: str) -> tuple[bytes, str]:
    return otlp.encode_status(otlp.JSON, message), otlp.JSON


def create_query_app(store: Store, host: str = "127.0.0.1") -> Starlette:
    """The Jaeger query HTTP API (``/api/...``) over ``store``; ``/`` answers 200 (health)."""
    app = Starlette(routes=ROUTES)
    app.state.store = store
    return _guarded(app, host, ("application/json",), error_body)


def create_otlp_app(store: Store, host: str = "127.0.0.1") -> Starlette:
    """The OTLP/HTTP trace receiver (``POST /v1/traces``) writing into ``store``."""
    app = Starlette(routes=[Route("/v1/traces", export, methods=["POST"]),
                            Route("/", otlp_health)])
    app.state.store = store
    return _guarded(app, host, (otlp.PROTOBUF, otlp.JSON), _otlp_error_body)


async def export(request: Request) -> Response:
    """``POST /v1/traces``: OTLP protobuf or JSON in; 200 once the spans are committed."""
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
        await run_in_threadpool(_ingest, request.app.state.store, body, kind,
                                request.headers.get("content-encoding"))
    except (otlp.OTLPDecodeError, BadBody) as exc:
        status = exc.status if isinstance(exc, BadBody) else 400
        return Response(otlp.encode_status(kind, str(exc)), status_code=status,
                        media_type=kind)
    return Response(otlp.encode_response(kind), media_type=kind)


def _ingest(store: Store, body: bytes, kind: str, encoding: str | None) -> None:
    """Decode, translate and store one export (runs off the event loop)."""
    store.write(rows_from_request(otlp.decode_request(body, kind, encoding)))


def otlp_health(request: Request) -> Response:
    return Response("ok\n", media_type="text/plain")
