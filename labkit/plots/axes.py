"""What every plot shares: an Axes when none is given, the "no data yet" panel, units, the
time axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["naive_utc", "new_axes", "no_data", "seconds_unit", "series_label", "time_axis"]


def new_axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=(8, 3.5))[1]


def no_data(ax: Axes, hint: str) -> Axes:
    # An empty panel with a reason beats an exception mid-notebook: traffic may just be late.
    ax.text(0.5, 0.5, f"no data yet — {hint}", ha="center", va="center",
            transform=ax.transAxes, color="gray")
    return ax


def seconds_unit(values: pd.Series) -> tuple[float, str]:
    """Milliseconds when every value is under a second, else seconds."""
    finite = values[np.isfinite(values)]
    return (1000.0, "ms") if len(finite) and finite.abs().max() < 1 else (1.0, "s")


def series_label(key: Any, names: Sequence[str]) -> str:
    values = key if isinstance(key, tuple) else (key,)
    if len(names) == 1:
        return str(values[0])
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=False))


def time_axis(ax: Axes, *, xlabel: str | None = "time (UTC)") -> None:
    """Concise date ticks (22:14, 22:15, then the day when it changes); a tick between
    minutes reads 22:14:30, not a bare "30"."""
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator, formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"])
    ax.xaxis.set_major_formatter(formatter)
    if xlabel:
        ax.set_xlabel(xlabel)


def naive_utc(value: object) -> pd.Timestamp:
    """Unix seconds or a datetime as a naive UTC timestamp, the x axis of the plots."""
    stamp = (pd.to_datetime(value, unit="s") if isinstance(value, int | float)
             else pd.Timestamp(value))  # type: ignore[arg-type]
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
