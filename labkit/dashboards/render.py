"""Preview a Grafana dashboard with matplotlib: the same grid, panel types, units and thresholds.

    >>> fig = render("llm-inference-service", lab, start="-15m")      # doctest: +SKIP
    >>> fig.savefig("inference.png")                                  # doctest: +SKIP

Panels keep their ``gridPos`` (24 columns), their type (time series, stat, gauge, bar
gauge, table), unit, legend and thresholds. A panel whose query fails or returns nothing
shows the error text in red: a preview is never silently blank.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Wedge
from matplotlib.ticker import FuncFormatter

from labkit.dashboards.build import load
from labkit.dashboards.queries import (
    Clients,
    PanelData,
    TimeRange,
    run_panel,
    scrape_seconds,
    variables,
)
from labkit.dashboards.units import format_value
from labkit.plots.axes import time_axis

__all__ = ["draw", "render"]

ROW_INCHES = 0.42  # one grid row
WIDTH_INCHES = 18.0
COLOURS = {"green": "#56a64b", "red": "#e02f44", "orange": "#ff9830", "yellow": "#fade2a",
           "blue": "#3274d9"}


def _colour(name: str) -> str:
    return COLOURS.get(name, name)


def _defaults(panel: dict[str, Any]) -> dict[str, Any]:
    return dict((panel.get("fieldConfig") or {}).get("defaults") or {})


def _steps(panel: dict[str, Any]) -> list[tuple[float, str]]:
    steps = (_defaults(panel).get("thresholds") or {}).get("steps") or []
    return [(-math.inf if s.get("value") is None else float(s["value"]), _colour(s["color"]))
            for s in steps]


def _colour_of(value: float, steps: list[tuple[float, str]]) -> str:
    colour = COLOURS["green"]
    for at, c in steps:
        if not math.isnan(value) and value >= at:
            colour = c
    return colour


def _last(data: PanelData) -> list[tuple[str, float]]:
    out = []
    for s in data.series:
        vals = s.values.dropna()
        out.append((s.legend, float(vals.iloc[-1]) if len(vals) else math.nan))
    return out


def _errors(ax: Any, data: PanelData) -> None:
    text = "\n".join(e[:160] for e in data.errors[:4])
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=7,
            color=COLOURS["red"], transform=ax.transAxes)


def _time_series(ax: Any, panel: dict[str, Any], data: PanelData, unit: str) -> None:
    for s in data.series:
        ax.plot(s.times, s.values, linewidth=1.2, label=s.legend)
    for at, colour in _steps(panel):
        if math.isfinite(at):
            ax.axhline(at, color=colour, linestyle="--", linewidth=0.9)
    d = _defaults(panel)
    if "min" in d:
        ax.set_ylim(bottom=d["min"])
    if "max" in d:
        ax.set_ylim(top=d["max"])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    time_axis(ax, xlabel=None)  # Grafana's panels have no axis title
    ax.tick_params(labelsize=7)
    show = ((panel.get("options") or {}).get("legend") or {}).get("showLegend", True)
    if show and any(s.legend and not s.legend.startswith("_") for s in data.series):
        ax.legend(fontsize=6, loc="upper left", ncol=2, frameon=False)


def _stat(ax: Any, panel: dict[str, Any], data: PanelData, unit: str) -> None:
    values = _last(data)
    steps = _steps(panel)
    ax.set_axis_off()
    for i, (legend, value) in enumerate(values[:4]):
        x = (i + 0.5) / min(len(values), 4)
        ax.text(x, 0.45, format_value(value, unit), ha="center", va="center", fontsize=18,
                weight="bold", color=_colour_of(value, steps), transform=ax.transAxes)
        if len(values) > 1:
            ax.text(x, 0.1, legend, ha="center", fontsize=7, transform=ax.transAxes)


def _gauge(ax: Any, panel: dict[str, Any], data: PanelData, unit: str) -> None:
    d = _defaults(panel)
    lo, hi = float(d.get("min", 0.0)), float(d.get("max", 1.0))
    _, value = _last(data)[0]
    frac = 0.0 if math.isnan(value) else min(max((value - lo) / ((hi - lo) or 1), 0.0), 1.0)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-0.3, 1.2)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.add_patch(Wedge((0, 0), 1, 0, 180, width=0.25, color="#d8d9da"))
    ax.add_patch(Wedge((0, 0), 1, 180 - 180 * frac, 180, width=0.25,
                       color=_colour_of(value, _steps(panel))))
    for at, colour in _steps(panel):
        if math.isfinite(at) and lo <= at <= hi:
            angle = 180 - 180 * (at - lo) / ((hi - lo) or 1)
            ax.add_patch(Wedge((0, 0), 1.08, angle - 1, angle + 1, width=0.08, color=colour))
    ax.text(0, 0.15, format_value(value, unit), ha="center", fontsize=14, weight="bold")


def _bar_gauge(ax: Any, panel: dict[str, Any], data: PanelData, unit: str) -> None:
    values = _last(data)
    steps = _steps(panel)
    names = [v[0] for v in values]
    nums = [0.0 if math.isnan(v[1]) else v[1] for v in values]
    ax.barh(names, nums, color=[_colour_of(v, steps) for v in nums])
    d = _defaults(panel)
    if "max" in d:
        ax.set_xlim(d.get("min", 0), d["max"])
    for y, v in enumerate(nums):
        ax.text(v, y, " " + format_value(v, unit), va="center", fontsize=7)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit)))
    ax.tick_params(labelsize=7)
    ax.invert_yaxis()


def _table(ax: Any, panel: dict[str, Any], data: PanelData, unit: str) -> None:
    ax.set_axis_off()
    labels = sorted({k for s in data.series for k in s.labels})
    rows = [[s.labels.get(k, "") for k in labels] + [format_value(v, unit)]
            for s, (_, v) in zip(data.series, _last(data), strict=True)]
    table = ax.table(cellText=rows[:12], colLabels=[*labels, "value"], loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)


DRAW = {"timeseries": _time_series, "stat": _stat, "gauge": _gauge, "bargauge": _bar_gauge,
        "table": _table}


def draw(model: dict[str, Any], panels: list[tuple[dict[str, Any], PanelData]],
         title: str = "") -> Figure:
    """Lay out already-fetched panel data on the dashboard's 24-column grid."""
    bottom = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p, _ in panels), default=1)
    fig = Figure(figsize=(WIDTH_INCHES, bottom * ROW_INCHES + 0.6))
    fig.suptitle(title or model.get("title", ""), fontsize=13, weight="bold", x=0.01,
                 ha="left")
    top = 1 - 0.6 / (bottom * ROW_INCHES + 0.6)
    for panel, data in panels:
        g = panel["gridPos"]
        pad = 0.035 if panel.get("type", "timeseries") in ("timeseries", "bargauge") else 0.01
        box = (g["x"] / 24 + pad, top - (g["y"] + g["h"]) / bottom * top + 0.035,
               g["w"] / 24 - pad - 0.008, g["h"] / bottom * top - 0.075)
        ax = fig.add_axes(box)
        unit = str(_defaults(panel).get("unit", ""))
        ax.set_title(f"{panel.get('title', '')}" + (f"  [{unit}]" if unit else ""),
                     fontsize=9, loc="left")
        kind = panel.get("type", "timeseries")
        if not data.series:
            ax.set_axis_off()
            _errors(ax, data)
            continue
        DRAW.get(kind, _time_series)(ax, panel, data, unit)
        if data.errors:  # some queries of the panel failed: say so under the panel
            ax.annotate("; ".join(data.errors)[:140], (0, -0.22), xycoords="axes fraction",
                        fontsize=6, color=COLOURS["red"])
    return fig


def render(dashboard: str | Path | dict[str, Any], lab: Any = None, start: Any = "-30m",
           end: Any = None, *, path: str | Path | None = None,
           variables_: dict[str, str] | None = None) -> Figure:
    """Run every panel's queries against ``lab`` over ``[start, end]`` and draw the grid.

    ``dashboard`` is a uid (``"llm-inference-service"``), a JSON file or a model dict;
    ``lab`` defaults to :func:`labkit.connect`. With ``path`` the PNG is written there too.
    """
    if lab is None:
        from labkit.lab import connect

        lab = connect()
    model = load(dashboard)
    tr = TimeRange.of(start, end)
    values = variables(model, tr, scrape_seconds(lab), variables_)
    with Clients(lab) as clients:
        panels = [(p, run_panel(p, clients, tr, values)) for p in model.get("panels", [])
                  if p.get("type") != "row"]
    fig = draw(model, panels)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80)
    return fig
