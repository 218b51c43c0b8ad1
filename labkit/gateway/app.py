"""The gateway's FastAPI application: the seed's "llm-api" in front of llama-server.

Endpoints: ``POST /v1/chat/completions`` (plain and ``stream: true``),
``GET /v1/models``, ``GET /health``, ``GET /metrics`` (Prometheus text, or
OpenMetrics with trace-id exemplars when the scraper asks for it), and the
fault-injection admin API ``GET|POST|DELETE /admin/faults``.

>>> app = create_app(GatewaySettings(upstream="http://127.0.0.1:8081"))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.exposition import choose_encoder

from labkit.gateway.chat import handle_chat
from labkit.gateway.errors import APIError, error_body
from labkit.gateway.faults import Faults
from labkit.gateway.request import CHAT_OPENAPI, admin_json, openapi_body
from labkit.gateway.settings import GatewaySettings
from labkit.gateway.state import GatewayState
from labkit.gateway.tracing import make_tracer_provider
from labkit.gateway.upstream_faults import FaultyUpstream, add_upstream_fault_routes
from labkit.serving import LoopbackGuard, allowed_hosts, is_loopback

__all__ = ["create_app"]


def create_app(settings: GatewaySettings, *, tracer_provider: TracerProvider | None = None,
               seed: int | None = None) -> FastAPI:
    """Build a gateway app; its state lives on ``app.state.gateway``."""
    provider: trace.TracerProvider
    if not settings.tracing:
        provider = trace.NoOpTracerProvider()
    else:
        provider = tracer_provider or make_tracer_provider(
            settings.otlp_endpoint, version=settings.service_version,
            environment=settings.environment, sample_ratio=settings.trace_sample_ratio)
    state = GatewayState.build(settings, provider, seed=seed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="labkit gateway (llm-api)", lifespan=lifespan)
    app.state.gateway = state
    app.add_middleware(LoopbackGuard, hosts=allowed_hosts(settings.host, settings.allowed_hosts),
                       admin_token=settings.admin_token,
                       admin_required=not (is_loopback(settings.host) or settings.admin_open),
                       error_body=error_body)
    if settings.tracing:
        HTTPXClientInstrumentor.instrument_client(state.upstream.client,
                                                  tracer_provider=provider)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                           excluded_urls="health,metrics,admin" + (
                                               ",v1/chat/completions"
                                               if settings.manual_server_span else ""),
                                           exclude_spans=["receive", "send"])
    started = time.time()

    @app.exception_handler(APIError)
    async def _api_error(request: Request, err: APIError) -> JSONResponse:
        return JSONResponse(err.body(), status_code=err.status)

    @app.post("/v1/chat/completions", openapi_extra=CHAT_OPENAPI)
    async def chat_completions(request: Request) -> Response:
        return await handle_chat(request, state)

    @app.get("/v1/models")
    async def models() -> dict[str, object]:
        return {"object": "list", "data": [
            {"id": m, "object": "model", "created": int(started), "owned_by": "labkit"}
            for m in settings.models]}

    @app.get("/health")
    async def health() -> JSONResponse:
        upstream_ok = await state.upstream.health()
        return JSONResponse({"status": "ok" if upstream_ok else "degraded",
                             "upstream": settings.upstream, "upstream_ok": upstream_ok},
                            status_code=200 if upstream_ok else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(state.metrics.registry), media_type=content_type)

    @app.get("/admin/faults")
    async def get_faults() -> dict[str, object]:
        return state.faults.faults.as_dict()

    @app.post("/admin/faults", openapi_extra=openapi_body(Faults.json_schema()))
    async def set_faults(request: Request) -> dict[str, object]:
        raw = await admin_json(request, settings.max_admin_body_bytes)
        faults = await state.faults.set(Faults.parse(raw))
        return faults.as_dict()

    @app.delete("/admin/faults")
    async def reset_faults() -> dict[str, object]:
        return (await state.faults.reset()).as_dict()

    if isinstance(state.upstream, FaultyUpstream):
        add_upstream_fault_routes(app, state.upstream, settings.max_admin_body_bytes)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        err = APIError(500, f"internal gateway error: {type(exc).__name__}",
                       error_type="internal_error", kind="server_error")
        state.metrics.errors.labels(err.error_type).inc()
        return JSONResponse(err.body(), status_code=500)

    return app
