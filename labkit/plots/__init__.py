"""Every plot labkit draws, with matplotlib, for the notebooks.

Each function returns its Axes or Figure and never calls ``plt.show()``: Jupyter shows
the figure, and tests and graders can inspect it. The query layer (:mod:`labkit.query`),
the SLO maths (:mod:`labkit.slo`) and cost reports (:mod:`labkit.cost`) return data only;
these turn that data into pictures:

=============================  ======================================================
plot_series                    any range frame (``Prometheus.query_range``)
plot_latency_percentiles       ``histogram_quantile`` lines for p50/p95/p99
plot_red                       Rate, Errors and Duration in three panels
plot_load_result               a load run's TTFT and end-to-end latency
plot_alert_timeline            an alert's watched value, states and notifications
plot_error_budget              error budget remaining and burn rates per SLO
plot_waterfall                 one trace as a Gantt chart (``Jaeger.trace``)
plot_daily_costs               cost per day, and per 1K tokens by model
=============================  ======================================================
"""

from __future__ import annotations

from labkit.plots.alerting import plot_alert_timeline, plot_error_budget
from labkit.plots.cost import plot_daily_costs
from labkit.plots.metrics import plot_latency_percentiles, plot_load_result, plot_red, plot_series
from labkit.plots.traces import plot_waterfall

__all__ = [
    "plot_alert_timeline",
    "plot_daily_costs",
    "plot_error_budget",
    "plot_latency_percentiles",
    "plot_load_result",
    "plot_red",
    "plot_series",
    "plot_waterfall",
]
