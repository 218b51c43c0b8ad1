"""The gateway's Prometheus metrics: the seed's names, labels and buckets, and more.

Seed metrics (names, labels and buckets kept as the course text has them):

    llm_requests_total{model,endpoint,status}      status is "success" or "error"
    llm_tokens_generated_total{model}
    llm_request_duration_seconds{model,endpoint}   buckets 0.1 .. 120 s
    llm_token_latency_seconds{model}               time to first token, buckets 0.01 .. 2 s
    llm_active_requests{model}
    llm_queue_depth

Added here:

    llm_prompt_tokens_total{model}
    llm_request_errors_total{error_type}
    gen_ai_server_time_to_first_token_seconds       OpenTelemetry GenAI semantic conventions,
    gen_ai_server_time_per_output_token_seconds     with the bucket boundaries the spec advises
    gen_ai_client_token_usage{gen_ai_token_type}

Each gateway owns its registry (no global state), so tests can build many.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["KNOWN_ERROR_TYPES", "GatewayMetrics", "Labels"]

SEED_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
SEED_TTFT_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
# From the OpenTelemetry GenAI metrics spec (gen_ai.server.* and gen_ai.client.token.usage).
GENAI_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                      1.0, 2.5, 5.0, 7.5, 10.0)
GENAI_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
GENAI_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                       4194304, 16777216, 67108864)

Labels = dict[str, str]

# Every error_type the gateway can count (labkit/gateway/*.py): created at zero at start-up.
KNOWN_ERROR_TYPES = (
    "client_closed", "context_length_exceeded", "injected_fault", "internal_error",
    "invalid_json", "invalid_request", "model_not_found", "payload_too_large", "queue_full",
    "upstream_error", "upstream_rejected", "upstream_timeout", "upstream_unavailable",
)


class GatewayMetrics:
    """Every metric the gateway exposes, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("llm_requests_total", "Total requests",
                                ["model", "endpoint", "status"], registry=r)
        self.tokens_generated = Counter("llm_tokens_generated_total", "Total tokens generated",
                                        ["model"], registry=r)
        self.prompt_tokens = Counter("llm_prompt_tokens_total", "Total prompt tokens processed",
                                     ["model"], registry=r)
        self.errors = Counter("llm_request_errors_total", "Failed requests by cause",
                              ["error_type"], registry=r)
        self.duration = Histogram("llm_request_duration_seconds", "Request duration",
                                  ["model", "endpoint"], buckets=SEED_DURATION_BUCKETS,
                                  registry=r)
        self.ttft = Histogram("llm_token_latency_seconds", "Time to first token", ["model"],
                              buckets=SEED_TTFT_BUCKETS, registry=r)
        self.active = Gauge("llm_active_requests", "Currently active requests", ["model"],
                            registry=r)
        self.queue_depth = Gauge("llm_queue_depth", "Requests waiting in queue", registry=r)
        self.genai_ttft = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to generate first token for successful responses",
            ["gen_ai_operation_name", "gen_ai_request_model"],
            buckets=GENAI_TTFT_BUCKETS, registry=r)
        self.genai_tpot = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token generated after the first token for successful responses",
            ["gen_ai_operation_name", "gen_ai_request_model"],
            buckets=GENAI_TPOT_BUCKETS, registry=r)
        self.genai_tokens = Histogram(
            "gen_ai_client_token_usage", "Number of input and output tokens used",
            ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type"],
            buckets=GENAI_TOKEN_BUCKETS, registry=r)

    def initialise(self, models: tuple[str, ...], endpoint: str,
                   error_types: tuple[str, ...] = KNOWN_ERROR_TYPES) -> None:
        """Create every series whose label values are known at start-up, at zero.

        As production instrumentation does: a counter series that first appears with
        its first increment has no earlier sample, so ``rate()`` and ``increase()`` cannot
        see that increment (the first errors would be invisible for a whole window), and an
        error ratio would read "no data" instead of 0 before the first error.
        """
        for model in models:
            for status in ("success", "error"):
                self.requests.labels(model, endpoint, status)
            self.tokens_generated.labels(model)
            self.prompt_tokens.labels(model)
            self.duration.labels(model, endpoint)
            self.ttft.labels(model)
            self.active.labels(model)
        for error_type in error_types:
            self.errors.labels(error_type)

    def observe_request(self, *, model: str, endpoint: str, ok: bool, duration_s: float,
                        error_type: str | None, trace_id: str | None) -> None:
        """Count one finished request and its duration (with the trace id as exemplar)."""
        self.requests.labels(model, endpoint, "success" if ok else "error").inc()
        if error_type:
            self.errors.labels(error_type).inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.duration.labels(model, endpoint).observe(duration_s, exemplar=exemplar)

    def observe_tokens(self, *, model: str, prompt: int, completion: int) -> None:
        self.prompt_tokens.labels(model).inc(prompt)
        self.tokens_generated.labels(model).inc(completion)
        self.genai_tokens.labels("chat", model, "input").observe(prompt)
        self.genai_tokens.labels("chat", model, "output").observe(completion)

    def observe_ttft(self, *, model: str, ttft_s: float, trace_id: str | None) -> None:
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.ttft.labels(model).observe(ttft_s, exemplar=exemplar)
        self.genai_ttft.labels("chat", model).observe(ttft_s)

    def observe_tpot(self, *, model: str, seconds_per_token: float) -> None:
        self.genai_tpot.labels("chat", model).observe(seconds_per_token)
