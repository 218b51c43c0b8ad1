"""SLO arithmetic, the scorecard, and the SLI queries evaluated by promtool on synthetic series."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
import pytest
import yaml

from labkit.plots import plot_error_budget
from labkit.slo import (
    SLO,
    ServiceHealthMonitor,
    availability_query,
    budget_remaining,
    burn_rate,
    error_ratio_query,
    latency_query,
    throughput_query,
    time_to_exhaustion,
)

matplotlib.use("Agg")


# -- arithmetic ------------------------------------------------------------------------------

@pytest.mark.parametrize(("actual", "target", "remaining"), [
    (100.0, 99.9, 1.0),
    (99.95, 99.9, 0.5),
    (99.9, 99.9, 0.0),
    (99.0, 99.9, -9.0),
    (97.5, 95.0, 0.5),
    (90.0, 95.0, -1.0),
], ids=["untouched", "half", "spent", "overspent-9x", "latency-half", "latency-overspent"])
def test_budget_remaining(actual: float, target: float, remaining: float) -> None:
    """Remaining budget is 1 - (100 - actual) / (100 - target)."""
    assert budget_remaining(actual, target) == pytest.approx(remaining)


@pytest.mark.parametrize("actual", [100.0, 99.97, 99.9, 99.5, 80.0])
def test_seed_formula_is_the_same_number_for_a_ratio_sli(actual: float) -> None:
    """The seed's (actual - target) / (100 - target) equals 1 - spent when both are percent."""
    assert budget_remaining(actual, 99.9) == pytest.approx((actual - 99.9) / (100 - 99.9))


@pytest.mark.parametrize(("ratio", "target", "rate"), [
    (0.0, 99.9, 0.0), (0.001, 99.9, 1.0), (0.0144, 99.9, 14.4), (0.006, 99.9, 6.0),
    (0.05, 95.0, 1.0), (0.025, 95.0, 0.5),
], ids=["none", "sustainable", "fast-page", "slow-page", "latency-1x", "latency-half"])
def test_burn_rate(ratio: float, target: float, rate: float) -> None:
    """Burn rate is the bad-event ratio over the allowed ratio."""
    assert burn_rate(ratio, target) == pytest.approx(rate)


@pytest.mark.parametrize("target", [100, 0, 120, -1])
def test_target_without_budget_is_refused(target: float) -> None:
    """A target of 100 % (the seed's throughput 'SLO') has no budget: a clear error, not 1/0."""
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        burn_rate(0.01, target)


@pytest.mark.parametrize(("rate", "period", "hours"), [
    (14.4, "30d", 50.0), (6, "30d", 120.0), (1, "30d", 720.0), (0, "30d", math.inf),
    (2, "7d", 84.0),
])
def test_time_to_exhaustion(rate: float, period: str, hours: float) -> None:
    """At burn rate r a period's budget lasts period / r."""
    assert time_to_exhaustion(rate, period) == pytest.approx(hours)


def test_slo_dataclass() -> None:
    """A ratio SLO has a budget; a req/s objective and a window without traffic do not."""
    met = SLO("Availability", 99.9, 99.95)
    assert met.is_met and met.error_budget_remaining == pytest.approx(0.5)
    assert met.burn_rate == pytest.approx(0.5)
    missed = SLO("Latency < 2s", 95.0, 90.0)
    assert not missed.is_met and missed.error_budget_remaining == pytest.approx(-1.0)
    throughput = SLO("Throughput > 100 req/s", 100.0, 120.0, unit="req/s")
    assert throughput.is_met and math.isnan(throughput.error_budget_remaining)
    idle = SLO("Availability", 99.9, math.nan)
    assert not idle.is_met and math.isnan(idle.error_budget_remaining)


# -- query text ------------------------------------------------------------------------------

def test_queries_use_the_gateway_metrics() -> None:
    """The SLIs read llm_requests_total and the duration histogram, never llama_*."""
    for query in (availability_query("5m"), latency_query("5m"), throughput_query("1m")):
        assert "llama_" not in query
    assert 'llm_requests_total{status="error"}[5m]' in availability_query("5m")
    assert "or vector(0)" in availability_query("5m")
    assert 'le=~"2|2\\\\.0"' in latency_query("5m")
    assert 'le=~"0\\\\.5"' in latency_query("5m", 0.5)
    assert 'job="llm-api"' in throughput_query("1m", job="llm-api")


def test_unknown_slo_is_refused() -> None:
    """Only availability and latency have error ratios."""
    with pytest.raises(ValueError, match="unknown SLO 'throughput'"):
        error_ratio_query("throughput", "5m")


# -- the monitor, on a stub client -----------------------------------------------------------

class StubPrometheus:
    """Answers the queries it was given values for; nothing else (empty)."""

    def __init__(self, values: dict[str, float]) -> None:
        self.values = values
        self.times: list[Any] = []

    def query(self, promql: str, *, time: Any = None) -> pd.DataFrame:
        self.times.append(time)
        if promql not in self.values:
            return pd.DataFrame(columns=["timestamp", "value"])
        return pd.DataFrame({"timestamp": [pd.Timestamp(0, tz="UTC")],
                             "value": [self.values[promql]]})

    def scalar(self, promql: str, *, time: Any = None, default: float = math.nan) -> float:
        frame = self.query(promql, time=time)
        return default if frame.empty else float(frame["value"].iloc[0])

    def query_range(self, promql: str, **_: Any) -> pd.DataFrame:
        times = pd.date_range("2026-01-01", periods=3, freq="5s", tz="UTC")
        value = self.values.get(promql, math.nan)
        return pd.DataFrame({"timestamp": times, "value": [0.0, value / 2, value]})


def _stub() -> StubPrometheus:
    return StubPrometheus({
        availability_query("5m"): 0.995,
        latency_query("5m"): 0.97,
        throughput_query("1m"): 4.0,
        error_ratio_query("availability", "5m"): 0.005,
        error_ratio_query("latency", "5m"): 0.03,
    })


def test_scorecard() -> None:
    """The scorecard holds the three objectives with budgets and burn rates, at one instant."""
    prom = _stub()
    card = ServiceHealthMonitor(prom, window="5m").scorecard(at=1234.0)  # type: ignore[arg-type]
    assert list(card.index) == ["Availability", "Latency < 2s", "Throughput > 1 req/s"]
    assert card.loc["Availability", "actual"] == pytest.approx(99.5)
    assert card.loc["Availability", "burn_rate"] == pytest.approx(5.0)
    assert card.loc["Availability", "error_budget_remaining"] == pytest.approx(-4.0)
    assert not card.loc["Availability", "met"]
    assert card.loc["Latency < 2s", "error_budget_remaining"] == pytest.approx(0.4)
    assert card.loc["Throughput > 1 req/s", "actual"] == 4.0
    assert card.loc["Throughput > 1 req/s", "met"]
    assert set(prom.times) == {1234.0}


def test_monitor_without_traffic_reports_nan_not_an_error() -> None:
    """An empty window gives NaN SLIs and zero throughput."""
    monitor = ServiceHealthMonitor(StubPrometheus({}))  # type: ignore[arg-type]
    assert math.isnan(monitor.availability())
    assert math.isnan(monitor.error_budget_remaining("latency"))
    assert monitor.throughput() == 0.0


def test_monitor_validates_settings() -> None:
    """A bad window or a 100 % target fails at construction."""
    with pytest.raises(ValueError, match="not a duration"):
        ServiceHealthMonitor(_stub(), window="5 minutes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strictly between"):
        ServiceHealthMonitor(_stub(), availability_target=100)  # type: ignore[arg-type]
    prod = ServiceHealthMonitor.production(_stub())  # type: ignore[arg-type]
    assert (prod.window, prod.rate_window, prod.throughput_target) == ("30d", "5m", 100.0)


def test_budget_history_and_plot() -> None:
    """The history has both SLOs' burn rate and budget per timestamp, and plots."""
    history = ServiceHealthMonitor(_stub()).budget_history()  # type: ignore[arg-type]
    assert list(history.columns) == ["timestamp", "slo", "error_ratio", "burn_rate",
                                     "budget_remaining"]
    last = history.groupby("slo").last()
    assert last.loc["availability", "burn_rate"] == pytest.approx(5.0)
    assert last.loc["latency", "budget_remaining"] == pytest.approx(0.4)
    fig = plot_error_budget(history, shade=[(1767225600.0, 1767225605.0, "fault")])
    assert len(fig.axes) == 3


# -- the SLI queries, evaluated by promtool --------------------------------------------------

def _promtool_case(expr: str, value: float) -> dict[str, Any]:
    # promtool compares exactly; `< bool` turns "within 1e-9" into a 1 it can compare.
    return {"expr": f"abs(({expr}) - {value!r}) < bool 1e-9", "eval_time": "10m",
            "exp_samples": [{"labels": "{}", "value": 1}]}


def test_sli_queries_evaluate_to_the_expected_ratios(tmp_path: Path) -> None:
    """On synthetic series promtool computes the SLIs, burn rates and the no-error case."""
    from labkit.alerting.tools import test_rules
    from labkit.errors import BinaryNotFound

    series = [
        # 99 successes and 1 failure a minute; 96 of 100 requests within 2 s.
        {"series": 'llm_requests_total{job="llm-api",status="success"}', "values": "0+99x15"},
        {"series": 'llm_requests_total{job="llm-api",status="error"}', "values": "0+1x15"},
        {"series": 'llm_request_duration_seconds_bucket{job="llm-api",le="2.0"}',
         "values": "0+96x15"},
        {"series": 'llm_request_duration_seconds_bucket{job="llm-api",le="+Inf"}',
         "values": "0+100x15"},
        {"series": 'llm_request_duration_seconds_count{job="llm-api"}', "values": "0+100x15"},
        # A second service without any failure: its error series does not exist.
        {"series": 'llm_requests_total{job="clean",status="success"}', "values": "0+60x15"},
    ]
    cases = [
        _promtool_case(availability_query("5m", job="llm-api"), 0.99),
        _promtool_case(latency_query("5m", job="llm-api"), 0.96),
        _promtool_case(f"({error_ratio_query('availability', '5m', job='llm-api')}) / 0.001",
                       10.0),
        _promtool_case(f"({error_ratio_query('latency', '5m', job='llm-api')}) / 0.05", 0.8),
        _promtool_case(throughput_query("5m", job="llm-api"), 100 / 60),
        _promtool_case(availability_query("5m", job="clean"), 1.0),
        _promtool_case(error_ratio_query("availability", "5m", job="clean"), 0.0),
    ]
    spec = {"rule_files": [], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}]}
    path = tmp_path / "sli_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    try:
        result = test_rules([path])
    except BinaryNotFound:
        pytest.fail("promtool is not installed (labkit install, or apt install prometheus)")
    assert result.ok, result.output
