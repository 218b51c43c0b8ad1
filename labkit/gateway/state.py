"""Everything one gateway instance holds: settings, clients, metrics, faults."""

from __future__ import annotations

import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.trace import Tracer, TracerProvider

from labkit.gateway.faults import FaultController
from labkit.gateway.limiter import ConcurrencyLimiter
from labkit.gateway.metrics import GatewayMetrics
from labkit.gateway.settings import GatewaySettings
from labkit.gateway.upstream import Upstream
from labkit.gateway.upstream_faults import FaultyUpstream
from labkit.gateway.usage import UsageRecorder

__all__ = ["GatewayState"]


@dataclass
class GatewayState:
    settings: GatewaySettings
    metrics: GatewayMetrics
    upstream: Upstream
    limiter: ConcurrencyLimiter
    faults: FaultController
    tracer_provider: TracerProvider
    tracer: Tracer
    usage: UsageRecorder | None

    @classmethod
    def build(cls, settings: GatewaySettings, tracer_provider: TracerProvider,
              *, seed: int | None = None) -> GatewayState:
        metrics = GatewayMetrics()
        metrics.initialise(settings.models, "/v1/chat/completions")
        upstream = FaultyUpstream(settings.upstream, timeout=settings.upstream_timeout,
                                  rng=random.Random(seed))
        return cls(
            settings=settings,
            metrics=metrics,
            upstream=upstream,
            limiter=ConcurrencyLimiter(settings.max_concurrency, settings.max_queue,
                                       on_change=metrics.queue_depth.set),
            faults=FaultController(upstream, settings.model_name, random.Random(seed)),
            tracer_provider=tracer_provider,
            tracer=tracer_provider.get_tracer("labkit.gateway"),
            usage=UsageRecorder(settings.usage_db) if settings.usage_db else None,
        )

    @property
    def upstream_host(self) -> str:
        return urlsplit(self.settings.upstream).hostname or ""

    @property
    def upstream_port(self) -> int:
        return urlsplit(self.settings.upstream).port or 80

    async def aclose(self) -> None:
        await self.faults.aclose()
        await self.upstream.aclose()
        if self.usage is not None:
            self.usage.close()
        shutdown = getattr(self.tracer_provider, "shutdown", None)  # the no-op one has none
        if shutdown is not None:
            shutdown()  # flushes the batch span processor
