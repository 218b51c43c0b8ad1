"""The seed's "LLM Inference Service" dashboard with every query fixed, and a RED overview.

What was wrong in the seed (``SEED_DASHBOARD``) and what replaces it:

* ``llama_requests_total``, ``llama_tokens_generated_total``, ``llama_slots_*`` and
  ``llama_request_errors_total`` do not exist: llama-server exports ``llamacpp:*`` (no
  request counters), and request-level metrics come from the gateway (``llm_*``);
* ``histogram_quantile`` over unaggregated buckets gives one quantile per series: the
  buckets must be summed ``by (le)`` first;
* the error *rate* (errors/s) grows with traffic: the error *ratio* (errors / requests)
  is what the 5 % alert compares against;
* available slots are the configured slot count (``--parallel``) minus
  ``llamacpp:requests_processing``;
* ``FB_USED / FB_FREE * 100`` is used per free (19 at 95 % full): the used fraction is
  ``FB_USED / (FB_USED + FB_FREE)``.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash

from labkit.dashboards.panels import (
    alert_threshold,
    gauge_panel,
    logql,
    promql,
    stat_panel,
    thresholds,
    time_series,
)

__all__ = ["SEED_DASHBOARD", "inference_service", "new_dashboard", "red_overview"]

RATE = "$__rate_interval"  # Grafana picks a window of at least 4 scrapes

SEED_DASHBOARD: dict[str, Any] = {  # the course text's dashboard, verbatim
    "title": "LLM Inference Service",
    "panels": [
        {"title": "Request Rate", "type": "graph",
         "targets": [{"expr": "rate(llama_requests_total[5m])"}]},
        {"title": "Request Duration (p50, p95, p99)", "targets": [
            {"expr": f"histogram_quantile({q}, rate(llm_request_duration_seconds_bucket[5m]))",
             "legendFormat": f"p{int(float(q) * 100)}"} for q in ("0.50", "0.95", "0.99")]},
        {"title": "Tokens per Second",
         "targets": [{"expr": "rate(llama_tokens_generated_total[5m])"}]},
        {"title": "Active Slots", "targets": [
            {"expr": "llama_slots_processing", "legendFormat": "Processing"},
            {"expr": "llama_slots_available", "legendFormat": "Available"}]},
        {"title": "Error Rate", "targets": [{"expr": "rate(llama_request_errors_total[5m])"}]},
        {"title": "GPU Utilization", "targets": [{"expr": "DCGM_FI_DEV_GPU_UTIL"}]},
        {"title": "GPU Memory Usage",
         "targets": [{"expr": "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE * 100"}]},
    ],
}


def new_dashboard(uid: str, title: str, description: str, *tags: str) -> dash.Dashboard:
    """A lab dashboard: last 30 minutes, refreshed every 10 s, tagged ``labkit``."""
    return (dash.Dashboard(title).uid(uid).description(description)
            .tags(["labkit", *tags]).time("now-30m", "now").refresh("10s")
            .timezone("browser").editable())


def slots_variable(slots: int = 4) -> dash.ConstantVariable:
    """The configured slot count (llama-server's ``--parallel``), which it does not export."""
    return (dash.ConstantVariable("slots").label("slots (--parallel)")
            .description("Slots configured with llama-server --parallel").value(str(slots)))


def _quantile(q: float, by: str = "le") -> str:
    return (f"histogram_quantile({q}, sum by ({by}) "
            f"(rate(llm_request_duration_seconds_bucket[{RATE}])))")


ERROR_RATIO = (f'sum(rate(llm_requests_total{{status="error"}}[{RATE}])) '
               f"/ sum(rate(llm_requests_total[{RATE}]))")
GPU_MEMORY_USED = ("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)")


def inference_service() -> dash.Dashboard:
    """The seed's dashboard, panel for panel, on metrics that exist."""
    return (
        new_dashboard("llm-inference-service", "LLM Inference Service",
                      "The course's dashboard with every query fixed (see labkit.dashboards."
                      "inference for what was wrong).", "seed")
        .with_variable(slots_variable())
        .with_panel(time_series(
            "Request Rate", "Requests per second through the gateway, by model "
            "(llm_requests_total; llama-server has no request counter).", "reqps",
            [promql(f"sum by (model) (rate(llm_requests_total[{RATE}]))", "{{model}}")]))
        .with_panel(time_series(
            "Request Duration (p50, p95, p99)", "End-to-end latency quantiles from the "
            "gateway's histogram, buckets summed by (le) first. Red: the HighLatency alert "
            "(p95 > 5 s).", "s",
            [promql(_quantile(q), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
            th=alert_threshold("HighLatency")))
        .with_panel(time_series(
            "Tokens per Second", "Generated tokens per second: llama-server's own counter "
            "and the gateway's count of tokens returned to clients.", "tps",
            [promql(f"sum(rate(llamacpp:tokens_predicted_total[{RATE}]))", "llama-server"),
             promql(f"sum(rate(llm_tokens_generated_total[{RATE}]))", "gateway")]))
        .with_panel(time_series(
            "Active Slots", "Busy slots (llamacpp:requests_processing) and free ones (the "
            "configured $slots minus busy). Red at 0 free: the NoAvailableSlots alert.",
            "short",
            [promql("sum(llamacpp:requests_processing)", "Processing"),
             promql("$slots - sum(llamacpp:requests_processing)", "Available")],
            th=thresholds((1, "green"), base="red"), lo=0))
        .with_panel(time_series(
            "Error Ratio", "Failed requests over all requests (not errors per second, "
            "which grows with traffic). Red: the HighErrorRate alert (> 5 %).",
            "percentunit", [promql(ERROR_RATIO, "error ratio")],
            th=alert_threshold("HighErrorRate", warn_at=0.01), lo=0))
        .with_panel(time_series(
            "GPU Utilization", "DCGM_FI_DEV_GPU_UTIL per GPU (percent of time a kernel ran). "
            "Without a GPU: the lab's synthetic series, source=\"synthetic\".", "percent",
            [promql("avg by (gpu, source) (DCGM_FI_DEV_GPU_UTIL)", "GPU {{gpu}} {{source}}")],
            lo=0, hi=100))
        .with_panel(time_series(
            "GPU Memory Usage", "Framebuffer used / (used + free) per GPU. Red: the "
            "GPUMemoryHigh alert (> 95 %).", "percentunit",
            [promql(f"max by (gpu, source) ({GPU_MEMORY_USED})", "GPU {{gpu}} {{source}}")],
            th=alert_threshold("GPUMemoryHigh", warn_at=0.85), lo=0, hi=1))
    )


def red_overview() -> dash.Dashboard:
    """Rate, errors and duration per model, KPIs on top, log volume from Loki."""
    return (
        new_dashboard("llm-red-overview", "LLM RED overview (per model)",
                      "Rate, Errors, Duration of the gateway, one series per model.", "red")
        .with_panel(stat_panel(
            "Requests/s", "All requests per second through the gateway.", "reqps",
            [promql(f"sum(rate(llm_requests_total[{RATE}]))")]))
        .with_panel(stat_panel(
            "Error ratio", "Failed over all requests. Red: HighErrorRate (> 5 %).",
            "percentunit", [promql(ERROR_RATIO)],
            th=alert_threshold("HighErrorRate", warn_at=0.01)))
        .with_panel(stat_panel(
            "p95 latency", "95th percentile request duration. Red: HighLatency (> 5 s).",
            "s", [promql(_quantile(0.95))], th=alert_threshold("HighLatency", warn_at=2)))
        .with_panel(gauge_panel(
            "Queue depth", "Requests waiting for a gateway slot (llm_queue_depth). Red: "
            "HighQueueDepth (> 100).", "short", [promql("sum(llm_queue_depth)")],
            th=alert_threshold("HighQueueDepth", warn_at=20), h=4, hi=150))
        .with_panel(time_series(
            "Rate by model", "Requests per second, by model and status.", "reqps",
            [promql(f"sum by (model, status) (rate(llm_requests_total[{RATE}]))",
                    "{{model}} {{status}}")], w=8))
        .with_panel(time_series(
            "Error ratio by model", "Failed over all requests of each model. Red: "
            "HighErrorRate (> 5 %).", "percentunit",
            [promql(f'sum by (model) (rate(llm_requests_total{{status="error"}}[{RATE}])) / '
                    f"sum by (model) (rate(llm_requests_total[{RATE}]))", "{{model}}")],
            th=alert_threshold("HighErrorRate"), w=8, lo=0))
        .with_panel(time_series(
            "p95 duration by model", "95th percentile request duration per model. Red: "
            "HighLatency (> 5 s).", "s",
            [promql(_quantile(0.95, "le, model"), "{{model}}")],
            th=alert_threshold("HighLatency"), w=8))
        .with_panel(time_series(
            "Time to first token (p50, p95)", "From request to first streamed token, from "
            "llm_token_latency_seconds.", "s",
            [promql(f"histogram_quantile({q}, sum by (le, model) "
                    f"(rate(llm_token_latency_seconds_bucket[{RATE}])))",
                    f"p{round(q * 100)} {{{{model}}}}") for q in (0.5, 0.95)]))
        .with_panel(time_series(
            "Gateway log lines", "Log lines per second the gateway wrote, from Loki "
            "(LogQL), by level.", "short",
            [logql('sum by (level) (rate({job="llm-api"} | json [1m]))', "{{level}}")]))
    )
