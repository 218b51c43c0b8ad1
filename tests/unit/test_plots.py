"""Plot helpers, drawn with Agg from a fake Prometheus (httpx transport) and fake load results."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import matplotlib

matplotlib.use("Agg")  # the backend must be chosen before pyplot is imported

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from labkit.load import COLUMNS, LoadResult
from labkit.plots import (
    plot_latency_percentiles,
    plot_load_result,
    plot_red,
    plot_series,
)
from labkit.query.prometheus import Prometheus


def matrix(series: list[tuple[dict[str, str], float]], start: float, end: float,
           step: float) -> dict[str, Any]:
    times = np.arange(start, end + 1e-9, step)
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[float(t), str(value)] for t in times]}
        for labels, value in series]}}


class FakeRangeProm:
    """Answers query_range: histogram_quantile(q, ...) gives q/10 seconds, others fixed series."""

    def __init__(self, *, empty: bool = False) -> None:
        self.queries: list[str] = []
        self.empty = empty
        transport = httpx.MockTransport(self._handle)
        self.prom = Prometheus("http://prometheus.test", transport=transport)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        query = params["query"]
        self.queries.append(query)
        span = (float(params["start"]), float(params["end"]), 5.0)
        if self.empty:
            series: list[tuple[dict[str, str], float]] = []
        elif m := re.match(r"histogram_quantile\(([\d.]+)", query):
            series = [({}, float(m.group(1)) / 10)]
        elif query.startswith("sum by (status)"):
            series = [({"status": "success"}, 4.0), ({"status": "error"}, 1.0)]
        else:
            series = [({}, 0.2)]
        return httpx.Response(200, json=matrix(series, *span))

    def close(self) -> None:
        self.prom.close()


@pytest.fixture
def fake() -> Iterator[FakeRangeProm]:
    server = FakeRangeProm()
    yield server
    server.close()
    plt.close("all")


def legend_texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_latency_percentiles_draw_one_line_per_quantile_in_ms(fake: FakeRangeProm) -> None:
    """p50/p95/p99 each get a line, labelled, with sub-second values shown in ms."""
    ax = plot_latency_percentiles(fake.prom, window="30s")
    assert legend_texts(ax) == ["p50", "p95", "p99"]
    assert ax.get_ylabel() == "latency (ms)"
    assert "llm_request_duration_seconds" in ax.get_title()
    p99 = ax.get_lines()[2].get_ydata()
    assert np.allclose(p99, 99.0)  # 0.099 s
    assert fake.queries[2] == ("histogram_quantile(0.99, sum by (le) "
                               "(rate(llm_request_duration_seconds_bucket[30s])))")


def test_latency_percentiles_keep_by_labels_in_the_query(fake: FakeRangeProm) -> None:
    """`by` adds labels to the sum and `selector` adds matchers; a _bucket suffix is accepted."""
    plot_latency_percentiles(fake.prom, "llm_token_latency_seconds_bucket", quantiles=(0.9,),
                             by="model", selector='job="llm-api"')
    assert fake.queries == ['histogram_quantile(0.9, sum by (le, model) '
                            '(rate(llm_token_latency_seconds_bucket{job="llm-api"}[1m])))']


def test_bad_quantile_is_refused(fake: FakeRangeProm) -> None:
    """A percentile given as 99 instead of 0.99 gets a clear error."""
    with pytest.raises(ValueError, match=r"0\.99 for p99"):
        plot_latency_percentiles(fake.prom, quantiles=(99,))


def test_red_has_rate_errors_and_duration_panels(fake: FakeRangeProm) -> None:
    """The RED figure has three titled panels built from the gateway's metrics."""
    fig = plot_red(fake.prom, job="llm-api")
    rate_ax, err_ax, dur_ax = fig.axes
    assert [a.get_title() for a in fig.axes] == ["Rate", "Errors", "Duration"]
    assert sorted(legend_texts(rate_ax)) == ["error", "success"]
    assert np.allclose(err_ax.get_lines()[0].get_ydata(), 20.0)  # 0.2 ratio shown as %
    assert len(dur_ax.get_lines()) == 3
    assert any('status="error"' in q and "or vector(0)" in q for q in fake.queries)
    assert all('job="llm-api"' in q for q in fake.queries)


def test_empty_results_draw_a_hint_instead_of_failing() -> None:
    """With no traffic yet the panel says so instead of raising."""
    server = FakeRangeProm(empty=True)
    try:
        ax = plot_latency_percentiles(server.prom)
    finally:
        server.close()
    assert any("no data yet" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_plot_series_labels_lines_by_the_chosen_labels() -> None:
    """Any tidy frame plots one line per label set, named by label_by."""
    times = pd.to_datetime([0, 5, 10], unit="s", utc=True)
    frame = pd.DataFrame({"job": ["a"] * 3 + ["b"] * 3, "instance": ["x"] * 6,
                          "timestamp": list(times) * 2, "value": [1, 2, 3, 4, 5, 6.0]})
    ax = plot_series(frame, label_by="job", title="demo")
    assert legend_texts(ax) == ["a", "b"]
    assert list(ax.get_lines()[1].get_ydata()) == [4, 5, 6]
    with pytest.raises(ValueError, match="not columns of the frame"):
        plot_series(frame, label_by="pod")
    with pytest.raises(ValueError, match="query_range"):
        plot_series(pd.DataFrame({"x": [1]}))
    plt.close("all")


def test_two_measures_share_one_time_axis_when_one_has_gaps() -> None:
    """CPU with a gap and a regular token rate draw on twin axes over the same minutes.

    pandas' ``frame.plot(x="timestamp", secondary_y=True)`` hung on exactly this pair (notebook
    04 timed out in CI): it put period ordinals and dates on one axis.
    """
    start = pd.Timestamp("2026-12-02 06:00", tz="UTC")
    regular = pd.date_range(start, periods=60, freq="5s")
    cpu = pd.DataFrame({"timestamp": regular.delete([5, 6, 40]), "value": 0.5})
    tokens = pd.DataFrame({"timestamp": regular, "value": 12.0})
    ax = plot_series(cpu, ylabel="CPU (cores)")
    twin = plot_series(tokens, ax=ax.twinx(), ylabel="tokens/s", color="C1")
    assert len(ax.get_lines()[0].get_xdata()) == 57
    assert twin.get_lines()[0].get_color() == "C1"
    assert twin.yaxis.label.get_color() == "C1"
    left, right = (mdates.num2date(x) for x in ax.get_xlim())
    assert left <= start and right >= regular[-1]
    assert (right - left) < pd.Timedelta(minutes=10)  # dates, not period ordinals
    plt.close("all")


def load_result(ok: bool = True) -> LoadResult:
    n = 20
    rows = {c: [None] * n for c in COLUMNS}
    rows.update(ttft_s=np.linspace(0.01, 0.2, n), e2e_s=np.linspace(0.1, 0.9, n),
                queued_s=[0.0] * n, itl_s=[0.01] * n, completion_tokens=[8] * n,
                status=[200 if ok else 500] * n, error=[None if ok else "boom"] * n)
    return LoadResult(frame=pd.DataFrame(rows, columns=COLUMNS), duration_s=4.0,
                      settings={"rate": 5.0})


def test_load_result_plot_shows_ttft_and_e2e_distributions() -> None:
    """The load plot has a histogram and a CDF of TTFT and e2e, in ms for fast runs."""
    fig = plot_load_result(load_result())
    hist_ax, cdf_ax = fig.axes
    assert legend_texts(hist_ax) == ["TTFT", "e2e"]
    assert cdf_ax.get_xlabel() == "latency (ms)"
    ttft_line = cdf_ax.get_lines()[0]
    assert ttft_line.get_xdata()[-1] == pytest.approx(200.0)
    assert ttft_line.get_ydata()[-1] == 1.0
    plt.close("all")


def test_load_result_plot_of_failed_run_explains() -> None:
    """If every request failed, the figure says so and points at the error column."""
    fig = plot_load_result(load_result(ok=False))
    assert any("all 20 requests failed" in t.get_text() for t in fig.axes[0].texts)
    plt.close("all")


@pytest.mark.parametrize("minutes", [2, 3, 30, 180])
def test_time_labels_are_distinct_on_short_and_long_windows(minutes: int) -> None:
    """The same time axis as the dashboard previews: no tick reads a bare "30" or repeats."""
    times = pd.date_range("2026-12-02 06:00", periods=61, freq=f"{minutes}s", tz="UTC")
    ax = plot_series(pd.DataFrame({"timestamp": times, "value": 1.0}))
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert all(":" in label for label in labels[1:]), labels
    assert ax.get_xlabel() == "time (UTC)"
    plt.close("all")
