"""Small builders on top of Grafana's ``grafana-foundation-sdk``: the lab's panels, one call each.

Every panel gets a title, a description, a unit and its queries; a panel that watches
something an alert fires on also gets that alert's threshold (:data:`ALERT_THRESHOLDS`), so
the colour on the dashboard turns where the page does. Datasources are referenced by the
uids that ``stack/grafana/provisioning/datasources`` gives them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    gauge,
    loki,
    prometheus,
    stat,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

__all__ = ["ALERT_THRESHOLDS", "LOKI", "PROMETHEUS", "bar_gauge", "gauge_panel", "logql",
           "panel_dict",
           "promql", "stat_panel", "table_panel", "thresholds", "time_series"]

PROMETHEUS = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
LOKI = dm.DataSourceRef(type_val="loki", uid="loki")

# The alert each threshold mirrors, with the value its rule compares against
# (stack/prometheus/rules/*.yml.j2; a unit test keeps the two in step).
ALERT_THRESHOLDS: dict[str, float] = {
    "HighErrorRate": 0.05,      # error ratio > 5 %
    "HighLatency": 5.0,         # p95 > 5 s
    "GPUMemoryHigh": 0.95,      # framebuffer used fraction > 95 %
    "HighQueueDepth": 100.0,    # llm_queue_depth > 100
    "SLOBurnRateHigh": 14.4,    # fast burn (1h and 5m windows)
}

Target = Any  # a prometheus.Dataquery or loki.Dataquery builder


def promql(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    """A Prometheus query of a panel."""
    q = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def logql(expr: str, legend: str = "") -> loki.Dataquery:
    """A Loki (metric) query of a panel."""
    q = loki.Dataquery().expr(expr).datasource(LOKI).range(True)
    return q.legend_format(legend) if legend else q


def thresholds(*steps: tuple[float, str], base: str = "green") -> dash.ThresholdsConfig:
    """Absolute thresholds: ``base`` below the first step, each step's colour from its value."""
    return (dash.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=None, color=base)]
                   + [dm.Threshold(value=v, color=c) for v, c in steps]))


def alert_threshold(alert: str, *, warn_at: float | None = None) -> dash.ThresholdsConfig:
    """Red from the value the alert ``alert`` fires at (orange from ``warn_at``)."""
    steps = [(warn_at, "orange")] if warn_at is not None else []
    return thresholds(*steps, (ALERT_THRESHOLDS[alert], "red"))


def _common(panel: Any, title: str, description: str, unit: str,
            targets: Sequence[Target], w: int, h: int, th: dash.ThresholdsConfig | None,
            lo: float | None, hi: float | None) -> Any:
    if not description or not unit:
        raise ValueError(f"panel {title!r} needs a description and a unit")
    panel = (panel.title(title).description(description).unit(unit).span(w).height(h)
             .datasource(LOKI if isinstance(targets[0], loki.Dataquery) else PROMETHEUS))
    for ref, target in zip("ABCDEFGH", targets, strict=False):
        panel = panel.with_target(target.ref_id(ref))
    if th is not None:
        panel = panel.thresholds(th)
    if lo is not None:
        panel = panel.min(lo)
    if hi is not None:
        panel = panel.max(hi)
    return panel


def _legend() -> common.VizLegendOptions:
    return (common.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM).calcs([]))


def _last() -> common.ReduceDataOptions:
    return common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def time_series(title: str, description: str, unit: str, targets: Sequence[Target], *,
                w: int = 12, h: int = 8, th: dash.ThresholdsConfig | None = None,
                lo: float | None = None, hi: float | None = None) -> timeseries.Panel:
    """A time series panel; thresholds, when given, are drawn as dashed lines."""
    panel = _common(timeseries.Panel(), title, description, unit, targets, w, h, th, lo, hi)
    panel = panel.legend(_legend()).line_width(1).fill_opacity(10)
    if th is not None:
        panel = panel.thresholds_style(
            common.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
    return panel


def stat_panel(title: str, description: str, unit: str, targets: Sequence[Target], *,
               w: int = 6, h: int = 4, th: dash.ThresholdsConfig | None = None,
               lo: float | None = None, hi: float | None = None) -> stat.Panel:
    """A single big number (the last value), coloured by its thresholds."""
    panel = _common(stat.Panel(), title, description, unit, targets, w, h, th, lo, hi)
    return (panel.reduce_options(_last()).graph_mode(cm.BigValueGraphMode.AREA)
            .color_mode(cm.BigValueColorMode.VALUE))


def gauge_panel(title: str, description: str, unit: str, targets: Sequence[Target], *,
                w: int = 6, h: int = 6, th: dash.ThresholdsConfig | None = None,
                lo: float = 0.0, hi: float = 1.0) -> gauge.Panel:
    """A dial from ``lo`` to ``hi`` showing the last value."""
    panel = _common(gauge.Panel(), title, description, unit, targets, w, h, th, lo, hi)
    return panel.reduce_options(_last()).show_threshold_markers(True)


def bar_gauge(title: str, description: str, unit: str, targets: Sequence[Target], *,
              w: int = 12, h: int = 6, th: dash.ThresholdsConfig | None = None,
              lo: float = 0.0, hi: float | None = None) -> bargauge.Panel:
    """One horizontal bar per series (last value)."""
    panel = _common(bargauge.Panel(), title, description, unit, targets, w, h, th, lo, hi)
    return (panel.reduce_options(_last()).display_mode(cm.BarGaugeDisplayMode.GRADIENT)
            .orientation(cm.VizOrientation.HORIZONTAL))


def table_panel(title: str, description: str, unit: str, targets: Sequence[Target], *,
                w: int = 12, h: int = 6, th: dash.ThresholdsConfig | None = None) -> table.Panel:
    """A table of instant values, one row per series."""
    panel = _common(table.Panel(), title, description, unit, targets, w, h, th, None, None)
    return panel.show_header(True)


def panel_dict(panel: Any) -> dict[str, Any]:
    """A panel as Grafana's JSON model: from a foundation-SDK builder, a model, or a dict."""
    if isinstance(panel, dict):
        return panel
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    built = panel.build() if hasattr(panel, "build") else panel
    data: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return data
