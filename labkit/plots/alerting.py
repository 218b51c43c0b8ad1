"""Alerting plots: an alert's story on one time axis, and error budgets with their burn rates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from labkit.plots.axes import naive_utc, time_axis

if TYPE_CHECKING:
    from labkit.query.prometheus import Prometheus

__all__ = ["plot_alert_timeline", "plot_error_budget"]


def _runs(stamps: pd.Series, gap_s: float = 3.0) -> list[list[pd.Timestamp]]:
    """Consecutive timestamps (at most ``gap_s`` apart) merged into [first, last] runs."""
    out: list[list[pd.Timestamp]] = []
    for ts in sorted(stamps):
        if out and (ts - out[-1][1]).total_seconds() <= gap_s:
            out[-1][1] = ts
        else:
            out.append([ts, ts])
    return out


def plot_alert_timeline(prom: Prometheus, expr: str, *, start: pd.Timestamp, end: pd.Timestamp,
                        alertname: str = "HighErrorRate", threshold: float | None = None,
                        events: Sequence[tuple[str, pd.Timestamp]] = (),
                        shaded: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]] = (),
                        notifications: pd.DataFrame | None = None) -> Figure:
    """An alert's story on one time axis: the value it watches (``expr``), its pending and
    firing spells from Prometheus's own ``ALERTS`` series, marked ``events`` (label, time),
    hatched ``shaded`` spans (label, start, end) such as a silence, and the notifications a
    receiver got (a frame from :func:`labkit.query.alerts.notifications`).
    """
    span = {"start": start.timestamp(), "end": end.timestamp(), "step": "1s"}
    ratio = prom.query_range(expr, **span)
    states = prom.query_range(f'ALERTS{{alertname="{alertname}"}}', **span)
    fig, ax = plt.subplots(figsize=(11, 4))
    if not ratio.empty:
        ax.plot(ratio["timestamp"], ratio["value"], color="black", lw=1.5, label="watched value")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    for state, colour in {"pending": "#f0ad4e", "firing": "#d9534f"}.items():
        stamps = states.loc[states.get("alertstate", pd.Series(dtype=str)) == state, "timestamp"]
        for i, (a, b) in enumerate(_runs(stamps)):
            ax.axvspan(a, b, color=colour, alpha=0.25, label=state if i == 0 else None)
    for label, a, b in shaded:
        ax.axvspan(a, b, facecolor="none", hatch="///", edgecolor="grey", lw=0, label=label)
    for label, when in events:
        ax.axvline(when, color="tab:blue", ls=":", lw=1.5)
        ax.annotate(label, (when, 0.97), xycoords=("data", "axes fraction"), fontsize=8,
                    ha="right", rotation=90, va="top")
    top = max(float(ratio["value"].max()) if not ratio.empty else 0.0, 0.1)
    marks = notifications if notifications is not None else pd.DataFrame()
    if not marks.empty:
        for (receiver, status), group in marks.groupby(["receiver", "status"]):
            ax.scatter(group["received_at"], [(0.9 if receiver == "pager" else 0.8) * top]
                       * len(group), marker="^" if status == "firing" else "v", s=70, zorder=5,
                       color={"pager": "#c9302c", "email": "#31708f"}.get(receiver, "#555555"),
                       label=f"{receiver}: {status}")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.set_xlabel("time (UTC)")
    ax.set_title(f"{alertname}: the watched value, its states and its notifications")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    return fig


def plot_error_budget(history: pd.DataFrame, *, thresholds: tuple[float, ...] = (14.4, 6.0),
                      shade: list[tuple[object, object, str]] | None = None) -> Figure:
    """Budget remaining, one panel per SLO, and burn rates (symlog) from ``budget_history``.

    Each SLO gets its own panel because their scales differ by orders of magnitude: a
    99.9 % budget is overspent a hundredfold by a burst a 95 % budget barely notices.
    ``thresholds`` draws the burn rates SLOBurnRateHigh pages at; ``shade`` marks
    ``(start, end, label)`` spans such as injected faults (unix seconds or datetimes).
    """
    names = list(dict.fromkeys(history["slo"]))
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(9, 2.2 * (len(names) + 1) + 0.5),
                             sharex=True, squeeze=False)
    panels, bottom = [a[0] for a in axes[:-1]], axes[-1][0]
    for i, (name, ax) in enumerate(zip(names, panels, strict=True)):
        part = history[history["slo"] == name]
        times = part["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
        colour = f"C{i}"
        ax.plot(times, 100 * part["budget_remaining"], color=colour)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel("remaining (%)")
        ax.set_title(f"{name}: error budget of the rolling SLO window", fontsize="medium")
        bottom.plot(times, part["burn_rate"], color=colour, label=str(name))
    for value in thresholds:
        bottom.axhline(value, color="tab:red", ls="--", lw=0.8)
        bottom.annotate(f"{value:g}x", (1.0, value), xycoords=("axes fraction", "data"),
                        color="tab:red", fontsize="small", ha="left", va="center")
    bottom.axhline(1, color="gray", ls=":", lw=0.8)
    bottom.set_yscale("symlog", linthresh=1)
    bottom.set_ylim(bottom=0)  # a burn rate is never negative
    bottom.set_ylabel("burn rate (x budget)")
    bottom.set_title("burn rate (dashed: alert thresholds)", fontsize="medium")
    for start, end, label in shade or []:
        for ax in (*panels, bottom):
            ax.axvspan(naive_utc(start), naive_utc(end), color="orange", alpha=0.15,
                       label=label if ax is bottom else None)
    bottom.legend(loc="upper left", fontsize="small")
    time_axis(bottom)
    fig.tight_layout()
    return fig
