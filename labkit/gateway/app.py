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

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from labkit.gateway.errors import APIError, error_body
from labkit.gateway.routes import add_routes, api_error, unexpected_error
from labkit.gateway.settings import GatewaySettings
from labkit.gateway.state import GatewayState
from labkit.gateway.tracing import make_tracer_provider
from labkit.gateway.upstream_faults import FaultyUpstream, add_upstream_fault_routes
from labkit.serving import LoopbackGuard, allowed_hosts, is_loopback

__all__ = ["create_app"]


def create_app(settings: GatewaySettings, *, tracer_provider: TracerProvider | None = None,
               seed: int | None = None) -> FastAPI:
    """Build a gateway app; its state lives on ``app.state.gateway``."""
    provider = _tracer_provider(settings, tracer_provider)
    state = GatewayState.build(settings, provider, seed=seed)
    app = FastAPI(title="labkit gateway (llm-api)", lifespan=_lifespan)
    app.state.gateway = state
    app.add_middleware(LoopbackGuard, hosts=allowed_hosts(settings.host, settings.allowed_hosts),
                       admin_token=settings.admin_token,
                       admin_required=not (is_loopback(settings.host) or settings.admin_open),
                       error_body=error_body)
    if settings.tracing:
        _instrument(app, state, provider)
    app.state.started = time.time()
    app.add_exception_handler(APIError, api_error)
    add_routes(app)
    if isinstance(state.upstream, FaultyUpstream):
        add_upstream_fault_routes(app, state.upstream, settings.max_admin_body_bytes)
    app.add_exception_handler(Exception, unexpected_error)
    return app


def _tracer_provider(settings: GatewaySettings,
                     given: TracerProvider | None) -> trace.TracerProvider:
    """A no-op provider when tracing is off; else ``given``, or one exporting over OTLP."""
    if not settings.tracing:
        return trace.NoOpTracerProvider()
    return given or make_tracer_provider(
        settings.otlp_endpoint, version=settings.service_version,
        environment=settings.environment, sample_ratio=settings.trace_sample_ratio)


def _instrument(app: FastAPI, state: GatewayState, provider: trace.TracerProvider) -> None:
    """Client spans for calls to llama-server; server spans for the API (but health,
    metrics and admin, and chat when the gateway makes that span itself)."""
    HTTPXClientInstrumentor.instrument_client(state.upstream.client, tracer_provider=provider)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                       excluded_urls="health,metrics,admin" + (
                                           ",v1/chat/completions"
                                           if state.settings.manual_server_span else ""),
                                       exclude_spans=["receive", "send"])


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await app.state.gateway.aclose()
