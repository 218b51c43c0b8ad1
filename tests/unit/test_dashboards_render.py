"""Previews: Grafana's variables substituted, panels drawn by type, failures shown as text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labkit.dashboards import render
from labkit.dashboards.queries import TimeRange, panel_targets, run_panel, substitute, variables
from labkit.dashboards.units import format_value
from labkit.errors import LabError, QueryError

T0 = 1_700_000_000.0


class FakeClient:
    """Answers every query with two series (models a and b), or nothing for 'DCGM'."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def query_range(self, expr: str, start: float, end: float, step: str) -> pd.DataFrame:
        self.seen.append(expr)
        if "DCGM" in expr:
            return pd.DataFrame(columns=["timestamp", "value"])
        if "broken" in expr:
            raise QueryError("bad_data: parse error at char 3")
        ts = pd.to_datetime(np.arange(start, end, 30), unit="s", utc=True)
        return pd.DataFrame([{"model": m, "timestamp": t, "value": 0.02 * (i + 1)}
                             for i, m in enumerate("ab") for t in ts])

    def query(self, expr: str, time: float | None = None) -> pd.DataFrame:
        self.seen.append(expr)
        return pd.DataFrame([{"gpu": "0", "timestamp": pd.Timestamp(T0, unit="s", tz="UTC"),
                              "value": 41.0}])


class FakeLab:
    def __init__(self) -> None:
        self.prometheus = FakeClient()
        self.loki = FakeClient()


def test_grafana_interval_variables_follow_the_range_and_scrape_interval() -> None:
    """$__rate_interval is max($__interval + scrape, 4 x scrape), as Grafana computes it."""
    tr = TimeRange(T0, T0 + 1800)  # 120 points: a 15 s step
    values = variables({"templating": {"list": [{"type": "constant", "name": "slots",
                                                   "query": "4"}]}}, tr, scrape_s=2)
    assert values["__interval"] == "15s" and values["__rate_interval"] == "17s"
    assert values["slots"] == "4" and values["__range"] == "1800s"
    assert substitute("$slots - x[$__rate_interval] ${slots}", values) == "4 - x[17s] 4"


def test_an_unknown_variable_is_an_error_that_names_it() -> None:
    """A query using an undefined variable fails with its name, not a silent blank."""
    with pytest.raises(LabError, match=r"\$model"):
        substitute("sum(x{model=\"$model\"})", {"slots": "4"})


def test_every_query_of_a_dashboard_is_listed_with_variables_substituted() -> None:
    """panel_targets yields runnable PromQL for every target of the inference dashboard."""
    from labkit.dashboards import build_json

    model = build_json("llm-inference-service")
    values = variables(model, TimeRange(T0, T0 + 900))
    exprs = [expr for _, _, expr in panel_targets(model, values)]
    assert len(exprs) == sum(len(p["targets"]) for p in model["panels"])
    assert not any("$" in e for e in exprs)


def test_a_failed_or_empty_query_becomes_error_text() -> None:
    """Errors and empty results are reported per target, never dropped silently."""
    panel = {"type": "timeseries", "targets": [
        {"refId": "A", "expr": "broken("}, {"refId": "B", "expr": "DCGM_FI_DEV_GPU_UTIL"},
        {"refId": "C", "expr": "up", "legendFormat": "{{model}} up"}]}
    data = run_panel(panel, FakeLab(), TimeRange(T0, T0 + 600), {})
    assert [e[:2] for e in data.errors] == ["A:", "B:"]
    assert "parse error" in data.errors[0] and "no data" in data.errors[1]
    assert [s.legend for s in data.series] == ["a up", "b up"]


@pytest.mark.parametrize(("value", "unit", "text"), [
    (0.053, "percentunit", "5.3%"), (41.0, "percent", "41%"), (2.5 * 1024**3, "bytes", "2.5 GiB"),
    (40960.0, "mbytes", "40 GiB"), (0.25, "s", "250 ms"), (3.0, "s", "3 s"),
    (12.5, "reqps", "12.5 req/s"), (float("nan"), "short", "NaN")], ids=str)
def test_units_print_as_grafana_shows_them(value: float, unit: str, text: str) -> None:
    """Values carry their unit in the preview."""
    assert format_value(value, unit) == text


@pytest.mark.parametrize("uid", ["llm-inference-service", "llm-red-overview", "gpu-dcgm",
                                 "llm-slo", "host", "llamacpp-server"])
def test_every_dashboard_renders_to_a_png(uid: str, tmp_path: Path) -> None:
    """Each dashboard draws (with every panel type) and is saved as a PNG."""
    lab = FakeLab()
    fig = render(uid, lab, start=T0, end=T0 + 900, path=tmp_path / f"{uid}.png")
    assert (tmp_path / f"{uid}.png").read_bytes()[:4] == b"\x89PNG"
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    from labkit.dashboards import build_json

    assert len(titles) == len(build_json(uid)["panels"])
    assert lab.prometheus.seen


def test_rendering_leaves_the_labs_clients_open() -> None:
    """A notebook holding ``prom = lab.prometheus`` can still query after a preview."""
    lab = FakeLab()
    render("llm-inference-service", lab, start=T0, end=T0 + 900)
    assert lab.prometheus.seen and not lab.prometheus.closed and not lab.loki.closed


def test_a_panel_with_no_data_shows_the_reason(tmp_path: Path) -> None:
    """The GPU panels against a lab without GPU series show 'no data for ...' in the figure."""
    fig = render("gpu-dcgm", FakeLab(), start=T0, end=T0 + 900)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no data for" in t and "DCGM_FI_DEV_GPU_UTIL" in t for t in texts)


@pytest.mark.parametrize("minutes", [5, 30, 180])
def test_time_axis_labels_are_distinct_on_short_and_long_windows(minutes: int) -> None:
    """A 5-minute preview must not label its ticks 05:14, 05:14, 05:15, ..."""
    fig = render("llm-inference-service", FakeLab(), start=T0, end=T0 + 60 * minutes)
    fig.canvas.draw()
    ax = next(a for a in fig.axes if a.get_title(loc="left").startswith("Request Rate"))
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
