"""The SLO dashboard, from the recording rules of ``stack/prometheus/rules/slo.yml.j2``.

Two SLOs (availability 99.9 %, latency: 95 % within 2 s), their SLIs, the error budget
left and the burn rates the multi-window alerts compare (14.4x over 1h and 5m, 6x over
6h and 30m). Rule names carry the production windows; in lab mode the same names are
computed over windows five times shorter.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from labkit.dashboards.inference import new_dashboard
from labkit.dashboards.panels import alert_threshold, promql, stat_panel, thresholds, time_series

__all__ = ["SLOS", "slo"]

SLOS = {  # name: (recording rule prefix, error budget, objective)
    "availability": ("slo:llm_availability_errors:ratio_rate", 0.001, "99.9 % succeed"),
    "latency": ("slo:llm_latency_slow:ratio_rate", 0.05, "95 % within 2 s"),
}


def slo() -> dash.Dashboard:
    """SLIs, error budget remaining and burn rates, one row of panels per SLO."""
    d = new_dashboard("llm-slo", "LLM SLOs", "SLIs, error budgets and burn rates from the "
                      "slo:* recording rules.", "slo")
    for name, (rule, budget, objective) in SLOS.items():
        d = (d.with_panel(stat_panel(
                f"{name.title()} SLI (5m)", f"Good over all requests ({objective}), from "
                f"1 - {rule}5m.", "percentunit", [promql(f"1 - max({rule}5m)")],
                th=thresholds((1 - budget, "green"), base="red"), w=6))
             .with_panel(stat_panel(
                f"{name.title()} error budget left (6h)", f"1 - bad ratio / budget "
                f"({budget:g}) over the longest window the rules record (6h; lab: 72m). "
                "Red when it is spent.", "percentunit",
                [promql(f"1 - max({rule}6h) / {budget:g}")],
                th=thresholds((0, "orange"), (0.25, "green"), base="red"), w=6))
             .with_panel(time_series(
                f"{name.title()} burn rate", "Bad ratio / error budget per window: 1 spends "
                "the budget in exactly 30 days. Red: SLOBurnRateHigh fires when both 1h and "
                "5m burn above 14.4 (or 6h and 30m above 6).", "short",
                [promql(f"max({rule}{w}) / {budget:g}", w) for w in ("5m", "30m", "1h", "6h")],
                th=alert_threshold("SLOBurnRateHigh", warn_at=6), w=12)))
    return d
