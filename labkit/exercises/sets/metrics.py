"""Exercises of notebook 01 (metrics). Each compares the learner's PromQL with a reference
by evaluating both against the live Prometheus at the same instant."""

from __future__ import annotations

from typing import Any

from labkit.exercises.compare import same_promql
from labkit.exercises.core import CheckFailed, Outcome, exercise

WINDOW = "1m"  # lab value; production dashboards use [5m]

REFERENCE = {
    "metrics.request_rate": f"sum(rate(llm_requests_total[{WINDOW}]))",
    "metrics.error_ratio": (f'sum(rate(llm_requests_total{{status="error"}}[{WINDOW}]))'
                            f" / sum(rate(llm_requests_total[{WINDOW}]))"),
    "metrics.p95_latency": ("histogram_quantile(0.95, sum by (le) "
                            f"(rate(llm_request_duration_seconds_bucket[{WINDOW}])))"),
    "metrics.ttft_p50_by_model": ("histogram_quantile(0.5, sum by (le, model) "
                                  f"(rate(llm_token_latency_seconds_bucket[{WINDOW}])))"),
    "metrics.llama_tokens_per_second": f"sum(rate(llamacpp:tokens_predicted_total[{WINDOW}]))",
    "metrics.gateway_tokens_per_second": f"sum(rate(llm_tokens_generated_total[{WINDOW}]))",
    "metrics.in_flight": "sum(llm_active_requests) + sum(llm_queue_depth)",
}


def _promql(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return same_promql(lab, answer, REFERENCE[exercise_id])
    return check


exercise("metrics.request_rate", title="Request rate through the gateway (req/s)",
         hint=f"rate() of the counter llm_requests_total over [{WINDOW}], summed over all "
              "series")(_promql("metrics.request_rate"))
exercise("metrics.error_ratio", title="Fraction of requests that failed",
         hint='Divide the rate of llm_requests_total{status="error"} by the rate of all '
              "requests; sum both sides so the labels match")(_promql("metrics.error_ratio"))
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


@exercise("metrics.top_error_type", title="The most frequent error type so far",
          hint="Look at llm_request_errors_total by error_type; answer with the label value, "
               'e.g. "invalid_json"')
def _top_error_type(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed("answer with the error_type label value, as a string")
    frame = lab.prometheus.query("sum by (error_type) (llm_request_errors_total)")
    if frame.empty:
        raise CheckFailed("no errors have been counted yet: run the cell that sends bad requests")
    top = frame.sort_values("value", ascending=False).iloc[0]
    counts = dict(zip(frame["error_type"], frame["value"], strict=True))
    if answer not in counts:
        return Outcome(False, f"no error_type {answer!r} has been counted; seen: "
                              f"{', '.join(sorted(counts))}")
    if counts[answer] == top["value"]:
        return Outcome(True, f"{answer} with {counts[answer]:g} errors")
    return Outcome(False, f"{answer} has {counts[answer]:g} errors, but another type has "
                          f"{top['value']:g}")
