"""Metric plots: any range frame, latency percentiles, RED panels, a load run's latencies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.plots.axes import new_axes, no_data, seconds_unit, series_label, time_axis

if TYPE_CHECKING:
    from labkit.load import LoadResult
    from labkit.query.prometheus import Prometheus, TimeLike

__all__ = ["plot_latency_percentiles", "plot_load_result", "plot_red", "plot_series"]

_BASE = ("timestamp", "value")


def plot_series(frame: pd.DataFrame, *, ax: Axes | None = None,
                label_by: str | Sequence[str] | None = None, title: str | None = None,
                scale: float = 1.0, ylabel: str | None = None, color: str | None = None) -> Axes:
    """Plot a tidy range frame (``Prometheus.query_range``): one line per label set.

    Two measures on one time axis: ``plot_series(b, ax=plot_series(a).twinx(), color="C1")``.
    (pandas' own ``frame.plot(x="timestamp", secondary_y=True)`` can hang when one series has
    a gap and the other does not: it mixes period and date coordinates on one axis.)

    >>> plot_series(prom.query_range("rate(llm_requests_total[1m])"))  # doctest: +SKIP
    """
    missing = [c for c in _BASE if c not in frame.columns]
    if missing:
        raise ValueError(f"plot_series needs a tidy range frame with columns timestamp and value "
                         f"(from Prometheus.query_range); missing {missing}")
    ax = new_axes(ax)
    if title:
        ax.set_title(title)
    if ylabel:
        label = ax.set_ylabel(ylabel)
        if color:
            label.set_color(color)
    if frame.empty:
        return no_data(ax, "generate some traffic, then run this cell again")
    names = [label_by] if isinstance(label_by, str) else list(
        label_by if label_by is not None else [c for c in frame.columns if c not in _BASE])
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        raise ValueError(f"label_by names {unknown}, which are not columns of the frame; "
                         f"its label columns are {[c for c in frame.columns if c not in _BASE]}")
    groups = frame.groupby(names, dropna=False, sort=True) if names else [("value", frame)]
    for key, part in groups:
        part = part.sort_values("timestamp")
        times = part["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
        ax.plot(times, part["value"] * scale, label=series_label(key, names or ["value"]),
                color=color)
    if names:
        ax.legend(loc="best", fontsize="small")
    time_axis(ax)
    return ax


def _matchers(job: str | None, selector: str | None) -> str:
    parts = [f'job="{job}"'] if job else []
    if selector:
        parts.append(selector.strip("{}"))
    return "{" + ",".join(parts) + "}" if parts else ""


def plot_latency_percentiles(
    prom: Prometheus, metric: str = "llm_request_duration_seconds", *,
    quantiles: Sequence[float] = (0.5, 0.95, 0.99), window: str = "1m",
    start: TimeLike = "-5m", end: TimeLike | None = None, step: str = "5s",
    by: str | Sequence[str] | None = None, selector: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """``histogram_quantile`` over ``rate(<metric>_bucket[window])``: one line per quantile.

    ``by`` keeps labels apart (e.g. ``"model"``); ``selector`` adds matchers
    (e.g. ``'job="llm-api"'``).

    >>> plot_latency_percentiles(prom, "llm_token_latency_seconds")  # doctest: +SKIP
    """
    base = metric.removesuffix("_bucket")
    by_list = [by] if isinstance(by, str) else list(by or [])
    frames = []
    for q in quantiles:
        if not 0 <= q <= 1:
            raise ValueError(f"quantiles must be between 0 and 1 (0.99 for p99), got {q!r}")
        promql = (f"histogram_quantile({q:g}, sum by ({', '.join(['le', *by_list])}) "
                  f"(rate({base}_bucket{_matchers(None, selector)}[{window}])))")
        part = prom.query_range(promql, start=start, end=end, step=step)
        frames.append(part.assign(quantile=f"p{q * 100:g}"))
    frame = pd.concat(frames, ignore_index=True)
    factor, unit = seconds_unit(frame["value"]) if not frame.empty else (1.0, "s")
    # A `by` label that no series carries (e.g. a typo, or no traffic for it) is not a column.
    present = [b for b in by_list if b in frame.columns]
    ax = plot_series(frame, ax=ax, label_by=["quantile", *present], scale=factor,
                     title=f"{base} percentiles (rate over {window})", ylabel=f"latency ({unit})")
    return ax


def plot_red(prom: Prometheus, *, job: str = "llm-api", window: str = "1m",
             start: TimeLike = "-5m", end: TimeLike | None = None, step: str = "5s",
             metric: str = "llm_requests_total",
             duration_metric: str = "llm_request_duration_seconds") -> Figure:
    """Rate, Errors and Duration of the gateway in three panels.

    >>> fig = plot_red(prom, window="1m")  # doctest: +SKIP
    """
    sel = _matchers(job, None)
    err_sel = _matchers(job, 'status="error"')
    fig, (rate_ax, err_ax, dur_ax) = plt.subplots(1, 3, figsize=(15, 3.5))
    span: dict[str, Any] = {"start": start, "end": end, "step": step}
    plot_series(prom.query_range(f"sum by (status) (rate({metric}{sel}[{window}]))", **span),
                ax=rate_ax, label_by="status", title="Rate", ylabel="requests/s")
    # `or vector(0)`: with no errors at all the numerator is empty, and the ratio is 0, not gone.
    ratio = (f"(sum(rate({metric}{err_sel}[{window}])) or vector(0)) / "
             f"sum(rate({metric}{sel}[{window}]))")
    plot_series(prom.query_range(ratio, **span), ax=err_ax, label_by=[], scale=100,
                title="Errors", ylabel="error ratio (%)")
    plot_latency_percentiles(prom, duration_metric, window=window, selector=f'job="{job}"',
                             ax=dur_ax, **span)
    dur_ax.set_title("Duration")
    fig.suptitle(f'RED for job="{job}" (rates over {window})')
    fig.tight_layout()
    return fig


def plot_load_result(result: LoadResult) -> Figure:
    """Histogram and CDF of TTFT and end-to-end latency of a load run's successful requests.

    >>> fig = plot_load_result(generate_load(url, rate=5, duration=20))  # doctest: +SKIP
    """
    ok = result.ok
    fig, (hist_ax, cdf_ax) = plt.subplots(1, 2, figsize=(12, 3.5))
    series = {name: ok[col].dropna().astype(float)
              for name, col in (("TTFT", "ttft_s"), ("e2e", "e2e_s"))}
    factor, unit = seconds_unit(pd.concat(series.values())) if len(ok) else (1.0, "s")
    hist_ax.set(title="Latency distribution", xlabel=f"latency ({unit})", ylabel="requests")
    cdf_ax.set(title="Latency CDF", xlabel=f"latency ({unit})", ylabel="fraction of requests")
    if ok.empty:
        no_data(hist_ax, f"all {len(result.frame)} requests failed; see result.frame.error")
        no_data(cdf_ax, "no successful requests")
        return fig
    for name, values in series.items():
        scaled = np.sort(values.to_numpy() * factor)
        hist_ax.hist(scaled, bins=30, alpha=0.6, label=name)
        cdf_ax.plot(scaled, np.arange(1, len(scaled) + 1) / len(scaled), label=name)
    for q in (0.5, 0.99):
        cdf_ax.axhline(q, color="gray", linewidth=0.5, linestyle="--")
    hist_ax.legend()
    cdf_ax.legend(loc="lower right")
    fig.suptitle(f"Load run: {len(ok)} of {len(result.frame)} requests ok")
    fig.tight_layout()
    return fig
