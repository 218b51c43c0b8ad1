"""Notebook 01's PromQL exercises: on the synthetic series, only a right answer passes.

Each table lists at least two different right queries and at least five wrong ones
(constants, a missing rate(), another window, a missing or extra `by`, a numerator alone,
another metric). They run through promtool on the fixture, with no live data at all.
"""

from __future__ import annotations

import pytest

from tests.unit.exercise_helpers import cases, needs_promtool, verdict_of

pytestmark = needs_promtool

R = "llm_requests_total"
TABLES = {
    "metrics.request_rate": cases(
        [f"sum(rate({R}[1m]))", f"sum by () (rate({R}[60s]))",
         f'sum(rate({R}{{status=~"success|error"}}[1m]))'],
        {"zero": "vector(0)", "one": "vector(1)", "no-rate": f"sum({R})",
         "increase": f"sum(increase({R}[1m]))", "window-5m": f"sum(rate({R}[5m]))",
         "window-30s": f"sum(rate({R}[30s]))", "irate": f"sum(irate({R}[1m]))",
         "no-sum": f"rate({R}[1m])", "successes-only": f'sum(rate({R}{{status="success"}}[1m]))',
         "by-model": f"sum by (model) (rate({R}[1m]))"}),
    "metrics.error_ratio": cases(
        [f'sum(rate({R}{{status="error"}}[1m])) / sum(rate({R}[1m]))',
         f'sum(rate({R}{{status!="success"}}[1m])) / sum(rate({R}[1m]))',
         f"sum(rate(llm_request_errors_total[1m])) / sum(rate({R}[1m]))",
         f'1 - sum(rate({R}{{status="success"}}[1m])) / sum(rate({R}[1m]))'],
        {"zero": "vector(0)", "one": "vector(1)",
         "numerator-only": f'sum(rate({R}{{status="error"}}[1m]))',
         "no-rate": f'sum({R}{{status="error"}}) / sum({R})',
         "window-5m": f'sum(rate({R}{{status="error"}}[5m])) / sum(rate({R}[5m]))',
         "no-sum": f'rate({R}{{status="error"}}[1m]) / ignoring(status) rate({R}[1m])',
         "success-ratio": f'sum(rate({R}{{status="success"}}[1m])) / sum(rate({R}[1m]))',
         "errors-over-successes":
             f'sum(rate({R}{{status="error"}}[1m])) / sum(rate({R}{{status="success"}}[1m]))'}),
    "metrics.top_error_type": cases(
        ["topk(1, sum by (error_type) (increase(llm_request_errors_total[10m])))",
         "topk(1, sum by (error_type) (increase(llm_request_errors_total[600s])))"],
        {"zero": "vector(0)", "all-types": "sum by (error_type) "
                                           "(increase(llm_request_errors_total[10m]))",
         "raw-totals": "topk(1, sum by (error_type) (llm_request_errors_total))",
         "window-1m": "topk(1, sum by (error_type) (increase(llm_request_errors_total[1m])))",
         "bottomk": "bottomk(1, sum by (error_type) (increase(llm_request_errors_total[10m])))",
         "max": "max(sum by (error_type) (increase(llm_request_errors_total[10m])))",
         "top-3": "topk(3, sum by (error_type) (increase(llm_request_errors_total[10m])))"}),
    "metrics.p95_latency": cases(
        ["histogram_quantile(0.95, sum by (le) (rate(llm_request_duration_seconds_bucket[1m])))",
         "histogram_quantile(0.95, sum without (model, endpoint, job, instance) "
         "(rate(llm_request_duration_seconds_bucket[60s])))"],
        {"zero": "vector(0)", "one": "vector(1)",
         "no-rate": "histogram_quantile(0.95, sum by (le) (llm_request_duration_seconds_bucket))",
         "no-sum": "histogram_quantile(0.95, rate(llm_request_duration_seconds_bucket[1m]))",
         "by-model": "histogram_quantile(0.95, sum by (le, model) "
                     "(rate(llm_request_duration_seconds_bucket[1m])))",
         "p99": "histogram_quantile(0.99, sum by (le) "
                "(rate(llm_request_duration_seconds_bucket[1m])))",
         "p50": "histogram_quantile(0.5, sum by (le) "
                "(rate(llm_request_duration_seconds_bucket[1m])))",
         "window-5m": "histogram_quantile(0.95, sum by (le) "
                      "(rate(llm_request_duration_seconds_bucket[5m])))",
         "mean": "sum(rate(llm_request_duration_seconds_sum[1m])) / "
                 "sum(rate(llm_request_duration_seconds_count[1m]))"}),
    "metrics.ttft_p50_by_model": cases(
        ["histogram_quantile(0.5, sum by (le, model) (rate(llm_token_latency_seconds_bucket[1m])))",
         "histogram_quantile(0.50, sum by (model, le) "
         "(rate(llm_token_latency_seconds_bucket[60s])))"],
        {"zero": "vector(0)",
         "no-model": "histogram_quantile(0.5, sum by (le) "
                     "(rate(llm_token_latency_seconds_bucket[1m])))",
         "no-rate": "histogram_quantile(0.5, sum by (le, model) "
                    "(llm_token_latency_seconds_bucket))",
         "p95": "histogram_quantile(0.95, sum by (le, model) "
                "(rate(llm_token_latency_seconds_bucket[1m])))",
         "duration-histogram": "histogram_quantile(0.5, sum by (le, model) "
                               "(rate(llm_request_duration_seconds_bucket[1m])))",
         "window-5m": "histogram_quantile(0.5, sum by (le, model) "
                      "(rate(llm_token_latency_seconds_bucket[5m])))"}),
    "metrics.llama_tokens_per_second": cases(
        ["sum(rate(llamacpp:tokens_predicted_total[1m]))",
         'sum(rate(llamacpp:tokens_predicted_total{job="llama-server"}[60s]))'],
        {"zero": "vector(0)", "one": "vector(1)",
         "no-rate": "sum(llamacpp:tokens_predicted_total)",
         "gateway-counter": "sum(rate(llm_tokens_generated_total[1m]))",
         "window-5m": "sum(rate(llamacpp:tokens_predicted_total[5m]))",
         "increase": "sum(increase(llamacpp:tokens_predicted_total[1m]))"}),
    "metrics.gateway_tokens_per_second": cases(
        ["sum(rate(llm_tokens_generated_total[1m]))",
         "sum(sum by (model) (rate(llm_tokens_generated_total[1m])))"],
        {"zero": "vector(0)", "one": "vector(1)",
         "no-rate": "sum(llm_tokens_generated_total)",
         "llama-counter": "sum(rate(llamacpp:tokens_predicted_total[1m]))",
         "prompt-tokens": "sum(rate(llm_prompt_tokens_total[1m]))",
         "no-sum": "rate(llm_tokens_generated_total[1m])",
         "window-2m": "sum(rate(llm_tokens_generated_total[2m]))"}),
    "metrics.in_flight": cases(
        ["sum(llm_active_requests) + sum(llm_queue_depth)",
         "sum(llm_queue_depth) + on() sum(llm_active_requests)",
         "sum(llm_active_requests) + scalar(llm_queue_depth)"],
        {"zero": "vector(0)", "one": "vector(1)", "active-only": "sum(llm_active_requests)",
         "queue-only": "sum(llm_queue_depth)",
         "average": "sum(avg_over_time(llm_active_requests[1m])) + sum(llm_queue_depth)",
         "max": "max(llm_active_requests) + sum(llm_queue_depth)",
         "rate": "sum(rate(llm_active_requests[1m])) + sum(llm_queue_depth)"}),
}


@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in TABLES.items() for p in params])
def test_only_right_answers_pass_on_the_fixture(exercise_id: str, answer: str,
                                                expected: str) -> None:
    """A right query passes on the synthetic series; each plausible wrong one fails."""
    verdict = verdict_of(exercise_id, answer)
    assert verdict.status == expected, verdict.detail
    assert verdict.evaluated_on["fixture"] == "gateway-10m-v1"


def test_every_metrics_exercise_has_a_table() -> None:
    """No exercise of notebook 01 goes without its right and wrong answers."""
    from labkit.exercises import all_exercises

    assert {e.id for e in all_exercises("metrics.")} == set(TABLES)
    for params in TABLES.values():
        assert sum(p.values[1] == "failed" for p in params) >= 5
        assert sum(p.values[1] == "passed" for p in params) >= 2


def test_a_syntax_error_fails_with_the_parser_message() -> None:
    """A query promtool cannot parse fails, saying why."""
    verdict = verdict_of("metrics.request_rate", "sum(rate(llm_requests_total[1m])")
    assert verdict.status == "failed"
    assert "parse error" in verdict.detail
