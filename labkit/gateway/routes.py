"""The gateway's endpoints, each a named handler reading the app's :class:`GatewayState`.

``add_routes`` registers them; the handlers find the state on ``request.app.state.gateway``
(set by :func:`labkit.gateway.app.create_app`), so none of them is a closure.
"""

from __future__ import annotations

from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import choose_encoder

from labkit.gateway.chat import handle_chat
from labkit.gateway.errors import APIError
from labkit.gateway.faults import Faults
from labkit.gateway.request import CHAT_OPENAPI, admin_json, openapi_body
from labkit.gateway.state import GatewayState

__all__ = ["add_routes", "api_error", "unexpected_error"]


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def chat_completions(request: Request) -> Response:
    return await handle_chat(request, _state(request))


async def models(request: Request) -> dict[str, object]:
    started = int(request.app.state.started)
    return {"object": "list", "data": [
        {"id": m, "object": "model", "created": started, "owned_by": "labkit"}
        for m in _state(request).settings.models]}


async def health(request: Request) -> JSONResponse:
    state = _state(request)
    upstream_ok = await state.upstream.health()
    return JSONResponse({"status": "ok" if upstream_ok else "degraded",
                         "upstream": state.settings.upstream, "upstream_ok": upstream_ok},
                        status_code=200 if upstream_ok else 503)


async def metrics(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_state(request).metrics.registry), media_type=content_type)


async def get_faults(request: Request) -> dict[str, object]:
    return _state(request).faults.faults.as_dict()


async def set_faults(request: Request) -> dict[str, object]:
    state = _state(request)
    raw = await admin_json(request, state.settings.max_admin_body_bytes)
    faults = await state.faults.set(Faults.parse(raw))
    return faults.as_dict()


async def reset_faults(request: Request) -> dict[str, object]:
    return (await _state(request).faults.reset()).as_dict()


def add_routes(app: FastAPI) -> None:
    """The chat, models, health and metrics endpoints and the fault-injection admin API."""
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"],
                      openapi_extra=CHAT_OPENAPI)
    app.add_api_route("/v1/models", models, methods=["GET"])
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    app.add_api_route("/admin/faults", get_faults, methods=["GET"])
    app.add_api_route("/admin/faults", set_faults, methods=["POST"],
                      openapi_extra=openapi_body(Faults.json_schema()))
    app.add_api_route("/admin/faults", reset_faults, methods=["DELETE"])


async def api_error(request: Request, err: Exception) -> JSONResponse:
    """An APIError raised outside a handler that answers for itself: OpenAI's error body."""
    api = cast(APIError, err)  # registered for APIError only
    return JSONResponse(api.body(), status_code=api.status)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: a 500 naming the exception's type, counted as an internal error."""
    err = APIError(500, f"internal gateway error: {type(exc).__name__}",
                   error_type="internal_error", kind="server_error")
    _state(request).metrics.errors.labels(err.error_type).inc()
    return JSONResponse(err.body(), status_code=500)
