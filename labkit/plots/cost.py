"""Cost plots: infrastructure and usage cost per day, and cost per 1K tokens by model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_daily_costs"]


def plot_daily_costs(daily: pd.DataFrame, by_model: pd.DataFrame | None = None,
                     *, currency: str = "USD") -> Figure:
    """Stacked infrastructure and usage cost per day; with ``by_model``, cost per model."""
    panels = 2 if by_model is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels + 2, 3.5), squeeze=False)
    ax = axes[0][0]
    labels = [str(d)[5:] for d in daily.index]  # MM-DD
    ax.bar(labels, daily["infra_cost"], label="infrastructure", color="tab:gray")
    ax.bar(labels, daily["usage_cost"], bottom=daily["infra_cost"], label="usage (tokens)",
           color="tab:orange")
    ax.set_ylabel(f"{currency} per day")
    ax.set_title("daily cost")
    ax.legend(fontsize="small")
    if by_model is not None:
        ax = axes[0][1]
        names = [str(i) for i in by_model.index]
        per_1k = 1000 / by_model["total_tokens"].where(by_model["total_tokens"] > 0)
        infra, usage = by_model["infra_cost"] * per_1k, by_model["usage_cost"] * per_1k
        ax.barh(names, infra, label="infrastructure", color="tab:gray")
        ax.barh(names, usage, left=infra, label="usage (tokens)", color="tab:orange")
        ax.set_xlabel(f"{currency} per 1K tokens")
        ax.set_title("cost per 1K tokens, by model")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
