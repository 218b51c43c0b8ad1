"""Trace plots: a waterfall (Gantt chart) of one trace from a span DataFrame."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from labkit.query.traces import trace_tree

__all__ = ["plot_waterfall"]


def plot_waterfall(
    frame: pd.DataFrame, trace_id: str | None = None, ax: Axes | None = None
) -> Axes:
    """A Gantt chart of one trace: a bar per span, indented by depth, error spans in red."""
    nodes = [n for root in trace_tree(frame, trace_id) for n in root.walk()]
    t0 = min(n.start for n in nodes)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.4 * len(nodes) + 1.2))
    total = max((n.end - t0) / pd.Timedelta(milliseconds=1) for n in nodes) or 1.0
    for i, n in enumerate(nodes):
        left = (n.start - t0) / pd.Timedelta(milliseconds=1)
        color = "tab:red" if n.status == "error" else "tab:blue"
        # A minimum width keeps sub-pixel spans visible.
        ax.barh(i, max(n.duration_ms, total / 500), left=left, color=color, height=0.6)
        ax.text(
            left + n.duration_ms + total / 100,
            i,
            f"{n.duration_ms:.1f} ms",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(nodes)))
    ax.set_yticklabels(
        ["    " * n.depth + f"{n.service}: {n.operation}" for n in nodes],
        fontfamily="monospace",
        fontsize=8,
    )
    ax.set_ylim(len(nodes) - 0.5, -0.5)  # first span at the top
    ax.set_xlabel("milliseconds since the trace started")
    shown = trace_id if trace_id is not None else frame["trace_id"].iloc[0]
    ax.set_title(f"trace {shown}")
    return ax
