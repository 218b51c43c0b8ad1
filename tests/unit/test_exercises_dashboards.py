"""Notebook 04's checks: every right answer passes, every plausible wrong one fails."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.dashboards.panels import promql, stat_panel, time_series
from tests.unit.exercise_helpers import cases, needs_promtool, verdict_of

pytestmark = needs_promtool

TABLES: dict[str, tuple[list[str], dict[str, str]]] = {
    "dashboards.fix_request_rate": (
        ["sum by (model) (rate(llm_requests_total[1m]))",
         "sum(rate(llm_requests_total[1m])) by (model)",
         "sum without (job, instance, endpoint, status) (rate(llm_requests_total[1m]))"],
        {"seed": "rate(llama_requests_total[1m])",
         "no-by": "sum(rate(llm_requests_total[1m]))",
         "no-rate": "sum by (model) (llm_requests_total)",
         "window": "sum by (model) (rate(llm_requests_total[5m]))",
         "irate": "sum by (model) (irate(llm_requests_total[1m]))",
         "by-status": "sum by (model, status) (rate(llm_requests_total[1m]))",
         "constant": "vector(1)"}),
    "dashboards.kpi_success_ratio": (
        ['sum(rate(llm_requests_total{status="success"}[10m])) '
         "/ sum(rate(llm_requests_total[10m]))",
         'sum(increase(llm_requests_total{status="success"}[10m])) '
         "/ sum(increase(llm_requests_total[10m]))",
         '1 - sum(rate(llm_requests_total{status="error"}[10m])) '
         "/ sum(rate(llm_requests_total[10m]))"],
        {"error-ratio": 'sum(rate(llm_requests_total{status="error"}[10m])) '
                        "/ sum(rate(llm_requests_total[10m]))",
         "window": 'sum(rate(llm_requests_total{status="success"}[1m])) '
                   "/ sum(rate(llm_requests_total[1m]))",
         "percent": '100 * sum(rate(llm_requests_total{status="success"}[10m])) '
                    "/ sum(rate(llm_requests_total[10m]))",
         "per-model": 'sum by (model) (rate(llm_requests_total{status="success"}[10m])) '
                      "/ sum by (model) (rate(llm_requests_total[10m]))",
         "success-over-errors": 'sum(rate(llm_requests_total{status="success"}[10m])) '
                                '/ sum(rate(llm_requests_total{status="error"}[10m]))',
         "raw-counters": 'sum(llm_requests_total{status="success"}) / sum(llm_requests_total)',
         "constant": "vector(0.95)"}),
    "system.cpu_busy": (
        ['1 - avg(rate(node_cpu_seconds_total{mode="idle"}[1m]))',
         'avg(1 - rate(node_cpu_seconds_total{mode="idle"}[1m]))',
         'sum(rate(node_cpu_seconds_total{mode!="idle"}[1m])) '
         '/ count(node_cpu_seconds_total{mode="idle"})'],
        {"idle": 'avg(rate(node_cpu_seconds_total{mode="idle"}[1m]))',
         "no-rate": '1 - avg(node_cpu_seconds_total{mode="idle"})',
         "window": '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))',
         "user-only": 'avg(rate(node_cpu_seconds_total{mode="user"}[1m]))',
         "cores-summed": '1 - sum(rate(node_cpu_seconds_total{mode="idle"}[1m]))',
         "constant": "vector(0.5)"}),
    "system.memory_used": (
        ["1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)",
         "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
         "(node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) "
         "/ node_memory_MemTotal_bytes"],
        {"free": "1 - node_memory_MemFree_bytes / node_memory_MemTotal_bytes",
         "available": "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
         "bytes": "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes",
         "percent": "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
         "averaged": "1 - avg_over_time(node_memory_MemAvailable_bytes[5m]) "
                     "/ node_memory_MemTotal_bytes",
         "constant": "vector(0.4)"}),
    "gpu.memory_used_fraction": (
        ["DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
         "1 - DCGM_FI_DEV_FB_FREE / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
         "sum by (gpu) (DCGM_FI_DEV_FB_USED) / (sum by (gpu) (DCGM_FI_DEV_FB_USED) "
         "+ sum by (gpu) (DCGM_FI_DEV_FB_FREE))"],
        {"seed": "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE * 100",
         "used-per-free": "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE",
         "used-mib": "DCGM_FI_DEV_FB_USED",
         "free-fraction": "DCGM_FI_DEV_FB_FREE / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
         "all-gpus": "sum(DCGM_FI_DEV_FB_USED) / (sum(DCGM_FI_DEV_FB_USED) "
                     "+ sum(DCGM_FI_DEV_FB_FREE))",
         "percent": "100 * DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
         "constant": "vector(0.7)"}),
}


@pytest.mark.parametrize("exercise_id", list(TABLES))
def test_promql_answers(exercise_id: str) -> None:
    """Right answers pass and wrong ones fail, on the synthetic series alone."""
    right, wrong = TABLES[exercise_id]
    assert len(wrong) >= 5 and len(right) >= 2
    for param in cases(right, wrong):
        answer, expected = param.values
        verdict = verdict_of(exercise_id, answer)
        assert verdict.status == expected, (param.id, verdict)
    assert verdict_of(exercise_id, "").status == "not attempted"


def _panel(**change: Any) -> dict:
    from labkit.exercises.sets.dashboards import panel_dict

    args = {"title": "Decode throughput", "description": "tokens generated per second",
            "unit": "tps", "targets": [promql("sum(rate(llamacpp:tokens_predicted_total"
                                              "[$__rate_interval]))")]}
    args.update(change)
    return panel_dict(time_series(args["title"], args["description"] or "x", args["unit"],
                                  args["targets"]))


def _without_description() -> dict:
    panel = _panel()
    panel["description"] = ""
    return panel


@pytest.mark.parametrize(("answer", "expected"), [
    pytest.param(lambda: _panel(), "passed", id="right-rate-interval"),
    pytest.param(lambda: _panel(targets=[promql("sum(rate(llamacpp:tokens_predicted_total[1m]))")]),
                 "passed", id="right-1m"),
    pytest.param(lambda: time_series("t", "d", "tps", [promql(
        "sum by () (rate(llamacpp:tokens_predicted_total[1m]))")]), "passed", id="right-builder"),
    pytest.param(lambda: _panel(unit="short"), "failed", id="wrong-unit"),
    pytest.param(_without_description, "failed", id="wrong-no-description"),
    pytest.param(lambda: _panel(targets=[promql("sum(llamacpp:tokens_predicted_total)")]),
                 "failed", id="wrong-no-rate"),
    pytest.param(lambda: _panel(targets=[promql("sum(rate(llamacpp:prompt_tokens_total[1m]))")]),
                 "failed", id="wrong-prompt-tokens"),
    pytest.param(lambda: _panel(targets=[promql("sum(rate(llm_tokens_generated_total[1m]))")]),
                 "failed", id="wrong-gateway-counter"),
    pytest.param(lambda: stat_panel("t", "d", "tps", [promql(
        "sum(rate(llamacpp:tokens_predicted_total[1m]))")]), "failed", id="wrong-stat-panel"),
    pytest.param(lambda: _panel(targets=[promql("sum(rate(llamacpp:tokens_predicted_total[1m]))"),
                                         promql("vector(1)")]), "failed", id="wrong-two-queries"),
])
def test_add_panel(answer: Any, expected: str) -> None:
    """The panel must be a time series in tps, documented, with the decode-rate query."""
    verdict = verdict_of("dashboards.add_panel", answer())
    assert verdict.status == expected, verdict


@pytest.mark.parametrize(("answer", "expected"), [
    ({"unit": "percentunit", "threshold": 0.05}, "passed"),
    ({"unit": "percentunit", "threshold": "5%"}, "passed"),
    ({"unit": "percent", "threshold": 5}, "failed"),
    ({"unit": "percent", "threshold": 0.05}, "failed"),
    ({"unit": "percentunit", "threshold": 5}, "failed"),
    ({"unit": "short", "threshold": 0.05}, "failed"),
    ({"unit": "percentunit", "threshold": 0.01}, "failed"),
    ({"unit": "reqps", "threshold": 0.05}, "failed"),
], ids=lambda v: str(v))
def test_units_and_thresholds(answer: dict, expected: str) -> None:
    """percentunit, red from the HighErrorRate threshold (0.05), as read from the rules."""
    verdict = verdict_of("dashboards.units_thresholds", answer)
    assert verdict.status == expected, verdict
    assert verdict.evaluated_on["threshold"] == 0.05  # read from the HighErrorRate rule
