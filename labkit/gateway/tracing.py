"""OpenTelemetry for the gateway: a tracer provider exporting over OTLP/HTTP.

The seed's ``JaegerExporter`` (thrift, agent port 6831) was removed from
OpenTelemetry Python in 1.22 (2023); Jaeger v2 takes OTLP natively, so spans
go to ``<otlp_endpoint>/v1/traces``. With no endpoint the provider still
makes spans (their ids appear in logs and exemplars) but exports none.
"""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

__all__ = ["SERVICE_NAME", "make_tracer_provider"]

SERVICE_NAME = "llm-api"


def make_tracer_provider(otlp_endpoint: str | None, *, version: str,
                         environment: str, sample_ratio: float = 1.0) -> TracerProvider:
    """A provider with the lab's resource attributes and a batch processor when exporting.

    Spans are sampled parent-based: a request that arrives with a sampled (or unsampled)
    ``traceparent`` keeps that decision; a new trace is sampled with ``sample_ratio``
    (1.0 in the lab, where every trace is looked at; lower in production to save work).
    """
    resource = Resource.create({
        "service.name": SERVICE_NAME,
        "service.version": version,
        "deployment.environment": environment,
        "deployment.environment.name": environment,  # the attribute's current name
    })
    sampler = ParentBased(TraceIdRatioBased(sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    if otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces",
                                    timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    return provider
