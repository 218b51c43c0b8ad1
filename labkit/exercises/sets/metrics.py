"""Exercises of notebook 01 (metrics). Each judges the learner's PromQL against the reference
on synthetic gateway series (``fixture_series.METRICS_FIXTURE``) and on the live Prometheus
(see :mod:`labkit.exercises.promql_check`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.exercises.compare import Samples
from labkit.exercises.core import Outcome, exercise
from labkit.exercises.fixture_series import METRICS_FIXTURE
from labkit.exercises.promql_check import promql_check
from labkit.exercises.references import reference

WINDOW = "1m"  # lab value; production dashboards use [5m]
ERRORS_WINDOW = "10m"  # the top error type is judged over the last 10 minutes


def _promql(exercise_id: str, live_when: Callable[[Samples], bool] | None = None
            ) -> Callable[[Any, Any], Outcome]:
    def check(answer: Any, lab: Any) -> Outcome:
        return promql_check(lab, answer, reference(exercise_id), METRICS_FIXTURE,
                            live_when=live_when)
    return check


def _clear_winner(samples: Samples) -> bool:
    """A top-1 worth comparing live: some errors, and no other type with as many (ties)."""
    return bool(samples) and all(v > 0 for v in samples.values())


exercise("metrics.request_rate", title="Request rate through the gateway (req/s)",
         hint=f"rate() of the counter llm_requests_total over [{WINDOW}], summed over all "
              "series")(_promql("metrics.request_rate"))
exercise("metrics.error_ratio", title="Fraction of requests that failed",
         hint='Divide the rate of llm_requests_total{status="error"} by the rate of all '
              "requests; sum both sides so the labels match")(_promql("metrics.error_ratio"))
exercise("metrics.top_error_type",
         title=f"The error type counted most often over the last {ERRORS_WINDOW}",
         hint=f"increase(llm_request_errors_total[{ERRORS_WINDOW}]) counts each type's errors in "
              "the window; sum by (error_type), then topk(1, ...)")(
    _promql("metrics.top_error_type", live_when=_clear_winner))
exercise("metrics.p95_latency", title="p95 request latency (seconds)",
         hint="histogram_quantile(0.95, ...) over the rate of llm_request_duration_seconds_bucket,"
              " summed by (le) so every model and endpoint count")(_promql("metrics.p95_latency"))
exercise("metrics.ttft_p50_by_model", title="Median time to first token, per model",
         hint="The TTFT histogram is llm_token_latency_seconds; keep both le and model in the "
              "sum by (...)")(_promql("metrics.ttft_p50_by_model"))
exercise("metrics.llama_tokens_per_second",
         title="Generated tokens per second, from llama-server's own counter",
         hint="llama-server exposes llamacpp:tokens_predicted_total (the seed's "
              "llama_tokens_generated_total does not exist)")(
    _promql("metrics.llama_tokens_per_second"))
exercise("metrics.gateway_tokens_per_second",
         title="Generated tokens per second, as the gateway counts them",
         hint="The gateway's counter is llm_tokens_generated_total{model}")(
    _promql("metrics.gateway_tokens_per_second"))
exercise("metrics.in_flight", title="Requests in flight: running plus waiting in the queue",
         hint="Add the gauges llm_active_requests (summed over models) and llm_queue_depth")(
    _promql("metrics.in_flight"))
