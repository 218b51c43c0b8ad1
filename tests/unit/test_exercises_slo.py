"""Notebook 06's checks: the SLI queries are judged on the synthetic series (promtool), the
numbers over the window the exercise fixes (the 5 minutes before AT), which must hold the
notebook's traffic and incident; on a stub Prometheus and a temporary usage database."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from labkit.config import LabConfig
from labkit.cost import PriceTable
from labkit.exercises import all_exercises, evaluate
from labkit.exercises.references import reference
from labkit.exercises.sets.slo import ALL_REQUESTS, BAD_EVENTS
from labkit.gateway.usage import USAGE_TABLE, make_engine
from labkit.slo import availability_query, latency_query
from tests.unit.exercise_helpers import cases, needs_promtool, verdict_of

AT = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()
R = "llm_requests_total"
B = "llm_request_duration_seconds"


class StubPrometheus:
    """Known values for known queries; one label set each unless told otherwise."""

    def __init__(self, values: dict[str, float | list[float]]) -> None:
        self.values = values

    def query(self, promql: str, *, time: Any = None) -> pd.DataFrame:
        value = self.values.get(promql, [])
        values = value if isinstance(value, list) else [value]
        return pd.DataFrame({"instance": [f"i{n}" for n in range(len(values))],
                             "timestamp": [pd.Timestamp(0, tz="UTC")] * len(values),
                             "value": values})

    def scalar(self, promql: str, *, time: Any = None, default: float = math.nan) -> float:
        frame = self.query(promql, time=time)
        return default if frame.empty else float(frame["value"].iloc[0])


def _rows() -> list[tuple[float, str, int, int]]:
    """(minutes before AT, user, prompt, completion): 24 rows in the window, others outside."""
    inside = [(0.1 + i * 0.2, f"user_{1 + i % 3}", 100 + 10 * i, 50 + 30 * (i % 3))
              for i in range(24)]
    return [*inside, (30, "user_3", 90000, 90000), (-5, "user_2", 50000, 50000)]


@pytest.fixture
def lab(tmp_path: Path) -> SimpleNamespace:
    config = LabConfig(run_dir=tmp_path)
    db = tmp_path / "data" / "gateway" / "usage.db"
    db.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{db}")
    USAGE_TABLE.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(USAGE_TABLE.insert(), [
            {"created_at": datetime(2026, 1, 1, 12) - pd.Timedelta(minutes=m),
             "request_id": f"r{i}", "user_id": u, "model": "labkit-tiny", "status": 200,
             "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
             "duration_ms": 5.0} for i, (m, u, p, c) in enumerate(_rows())])
    engine.dispose()
    prom = StubPrometheus({
        availability_query("5m"): 0.995, latency_query("5m"): 0.97,
        ALL_REQUESTS: 400.0, BAD_EVENTS["availability"]: 2.0, BAD_EVENTS["latency"]: 12.0,
    })
    return SimpleNamespace(config=config, prometheus=prom)


def _status(exercise_id: str, answer: Any, lab: Any) -> tuple[str, str]:
    verdict = evaluate(exercise_id, answer, lab)
    return verdict.status, verdict.detail


def test_notebook_has_at_least_five_exercises() -> None:
    """Notebook 06 checks at least five exercises."""
    assert len(all_exercises("slo.")) >= 5


@pytest.mark.parametrize("exercise_id", [e.id for e in all_exercises("slo.")])
def test_blank_answers_are_not_attempted(exercise_id: str, lab: SimpleNamespace) -> None:
    """None (the student copy's placeholder) is 'not attempted', never an error."""
    assert _status(exercise_id, None, lab)[0] == "not attempted"


# -- the SLI queries, on the synthetic series -------------------------------------------------

SLI_TABLES = {
    "slo.availability_query": cases(
        [f'sum(rate({R}{{status="success"}}[5m])) / sum(rate({R}[5m]))',
         f'100 * sum(rate({R}{{status="success"}}[5m])) / sum(rate({R}[5m]))',
         f'1 - sum(rate({R}{{status="error"}}[300s])) / sum(rate({R}[300s]))',
         f'sum(increase({R}{{status="success"}}[5m])) / sum(increase({R}[5m]))'],
        {"one": "vector(1)", "hundred": "vector(100)",
         "error-ratio": f'sum(rate({R}{{status="error"}}[5m])) / sum(rate({R}[5m]))',
         "window-1m": f'sum(rate({R}{{status="success"}}[1m])) / sum(rate({R}[1m]))',
         "no-rate": f'sum({R}{{status="success"}}) / sum({R})',
         "numerator-only": f'sum(rate({R}{{status="success"}}[5m]))',
         "no-sum": f'sum by (model) (rate({R}{{status="success"}}[5m])) / sum by (model) '
                   f'(rate({R}[5m]))'}),
    "slo.latency_sli_query": cases(
        [f'sum(rate({B}_bucket{{le="2.0"}}[5m])) / sum(rate({B}_count[5m]))',
         f'100 * sum(rate({B}_bucket{{le="2.0"}}[5m])) / sum(rate({B}_bucket{{le="+Inf"}}[5m]))'],
        {"one": "vector(1)",
         "le-2": f'sum(rate({B}_bucket{{le="2"}}[5m])) / sum(rate({B}_count[5m]))',
         "le-1": f'sum(rate({B}_bucket{{le="1.0"}}[5m])) / sum(rate({B}_count[5m]))',
         "le-5": f'sum(rate({B}_bucket{{le="5.0"}}[5m])) / sum(rate({B}_count[5m]))',
         "window-1m": f'sum(rate({B}_bucket{{le="2.0"}}[1m])) / sum(rate({B}_count[1m]))',
         "no-rate": f'sum({B}_bucket{{le="2.0"}}) / sum({B}_count)',
         "slow-fraction": f'1 - sum(rate({B}_bucket{{le="2.0"}}[5m])) / sum(rate({B}_count[5m]))',
         "p95-under-2s": f"histogram_quantile(0.95, sum by (le) (rate({B}_bucket[5m]))) < bool 2"}),
}


@needs_promtool
@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in SLI_TABLES.items() for p in params])
def test_sli_queries_on_the_fixture(exercise_id: str, answer: str, expected: str) -> None:
    """A right SLI (as a ratio or in percent) passes on the synthetic series; wrong ones fail."""
    verdict = verdict_of(exercise_id, answer)
    assert verdict.status == expected, verdict.detail


@needs_promtool
def test_latency_query_hints_at_the_bucket_spelling() -> None:
    """An empty latency answer points at le="2.0"."""
    verdict = verdict_of("slo.latency_sli_query",
                         f'sum(rate({B}_bucket{{le="2"}}[5m])) / sum(rate({B}_count[5m]))')
    assert 'le="2.0"' in verdict.detail


@needs_promtool
def test_a_right_query_must_also_match_live(lab: SimpleNamespace) -> None:
    """Right on the fixture but different live (a stub here) fails, and says so."""
    answer = f'1 - sum(rate({R}{{status="error"}}[300s])) / sum(rate({R}[300s]))'
    lab.prometheus.values |= {reference("slo.availability_query"): 0.99, answer: 0.9}
    status, detail = _status("slo.availability_query", answer, lab)
    assert status == "failed" and "live" in detail
    lab.prometheus.values[answer] = 0.99
    assert _status("slo.availability_query", answer, lab)[0] == "passed"


# -- numbers over the window the exercise fixes ------------------------------------------------

@pytest.mark.parametrize(("answer", "status"), [
    ({"value": -4.0, "at": AT}, "passed"),  # 1 - 0.005 / 0.001
    ([-4.0, AT], "passed"),
    ({"value": -3.95, "at": AT}, "passed"),  # within 2 %
    ({"value": 0.995, "at": AT}, "failed"),  # the SLI, not the budget
    ({"value": 1.0, "at": AT}, "failed"),  # untouched
    ({"value": 0.0, "at": AT}, "failed"),
    ({"value": 5.0, "at": AT}, "failed"),  # the burn rate
    ({"value": -400.0, "at": AT}, "failed"),  # in percent
    (-4.0, "failed"),  # no instant
    ({"value": -4.0, "at": "noon"}, "failed"),
    ({"value": "a lot", "at": AT}, "failed"),
], ids=["dict", "pair", "close", "sli-not-budget", "one", "zero", "burn-rate", "percent",
        "bare-number", "bad-at", "not-a-number"])
def test_error_budget_remaining(answer: Any, status: str, lab: SimpleNamespace) -> None:
    """The budget is recomputed over the 5 minutes before the answer's instant."""
    assert _status("slo.error_budget_remaining", answer, lab)[0] == status


@pytest.mark.parametrize(("change", "says"), [
    ({ALL_REQUESTS: 3.0}, "holds 3 requests"),
    ({BAD_EVENTS["availability"]: 0.0}, "no availability failure"),
], ids=["no-traffic", "no-failure"])
def test_budget_window_must_hold_the_incident(change: dict[str, float], says: str,
                                              lab: SimpleNamespace) -> None:
    """A window picked to make the answer trivial (no traffic, no failure) fails."""
    lab.prometheus.values |= change
    lab.prometheus.values[availability_query("5m")] = 1.0
    status, detail = _status("slo.error_budget_remaining", {"value": 1.0, "at": AT}, lab)
    assert status == "failed" and says in detail


def test_an_instant_in_the_future_fails(lab: SimpleNamespace) -> None:
    """AT cannot be later than now: that window has not happened yet."""
    status, detail = _status("slo.error_budget_remaining", {"value": -4.0, "at": 4e9}, lab)
    assert status == "failed" and "future" in detail


def test_timed_answer_explains_its_shape(lab: SimpleNamespace) -> None:
    """A bare number tells the learner how to pass the instant."""
    detail = _status("slo.latency_burn_rate", 0.6, lab)[1]
    assert '{"value": your_number, "at": AT}' in detail


@pytest.mark.parametrize(("value", "status"), [
    (0.6, "passed"), (0.61, "passed"), (0.03, "failed"), (0.97, "failed"), (0.4, "failed"),
    (60.0, "failed"), (0.0, "failed"), (1.0, "failed")],
    ids=["right", "close", "slow-fraction", "sli", "budget-left", "percent", "zero", "one"])
def test_latency_burn_rate(value: float, status: str, lab: SimpleNamespace) -> None:
    """(1 - 0.97) / (1 - 0.95) = 0.6; the fraction, the SLI or the budget left are not."""
    assert _status("slo.latency_burn_rate", {"value": value, "at": AT}, lab)[0] == status


def test_verdict_records_the_window(lab: SimpleNamespace) -> None:
    """The verdict says which window it was computed over, for a re-check to agree."""
    verdict = evaluate("slo.latency_burn_rate", {"value": 0.6, "at": AT}, lab)
    assert verdict.evaluated_on["live"] == {"at": AT, "window": "5m", "requests": 400.0,
                                            "bad_events": 12.0}


def _cost(rows: list[tuple[float, str, int, int]]) -> float:
    price = PriceTable.default().token_price("labkit-tiny")
    prompt, completion = sum(r[2] for r in rows), sum(r[3] for r in rows)
    return 1000 * (prompt * price.prompt + completion * price.completion) / 1000 / (
        prompt + completion)


def test_cost_per_1k_tokens_counts_only_the_window(lab: SimpleNamespace) -> None:
    """The 24 rows of the 5 minutes before AT; not older rows, not rows after AT."""
    inside = [r for r in _rows() if 0 <= r[0] < 5]
    price = PriceTable.default().token_price("labkit-tiny")
    assert _status("slo.cost_per_1k_tokens", {"value": _cost(inside), "at": AT},
                   lab)[0] == "passed"
    wrong = {"all-history": _cost([r for r in _rows() if r[0] >= 0]),
             "with-later-rows": _cost(_rows()), "completion-price": price.completion,
             "prompt-price": price.prompt, "zero": 0.0, "per-token": _cost(inside) / 1000}
    for name, value in wrong.items():
        status = _status("slo.cost_per_1k_tokens", {"value": value, "at": AT}, lab)[0]
        assert status == "failed", name


def test_cost_window_must_hold_the_traffic(lab: SimpleNamespace) -> None:
    """An AT with (almost) nothing before it fails: it is not the notebook's window."""
    status, detail = _status("slo.cost_per_1k_tokens", {"value": 1.0, "at": AT - 3600}, lab)
    assert status == "failed" and "usage database has" in detail


@pytest.mark.parametrize(("answer", "status", "detail"), [
    ({"value": "user_3", "at": AT}, "passed", "user_3"),
    ([("user_3"), AT], "passed", "user_3"),
    ({"value": "user_1", "at": AT}, "failed", "another user"),
    ({"value": "user_2", "at": AT}, "failed", "another user"),
    ({"value": "user_9", "at": AT}, "failed", "no usage by 'user_9'"),
    ({"value": 1, "at": AT}, "failed", "as a string"),
    ("user_3", "failed", '"at": AT'),
], ids=["top", "top-pair", "second", "after-at-top", "unknown", "not-a-string", "no-instant"])
def test_top_user_cost(answer: Any, status: str, detail: str, lab: SimpleNamespace) -> None:
    """In the window user_3 costs most (the 90K-token row of user_3 is older, user_2's 100K
    row is after AT)."""
    got_status, got_detail = _status("slo.top_user_cost", answer, lab)
    assert got_status == status and detail in got_detail, got_detail


def test_fleet_monthly_cost(lab: SimpleNamespace) -> None:
    """(2 x 1.006 + 3.06) x 730 hours; a day, an hour, a wrong count fail."""
    assert _status("slo.fleet_monthly_cost", 3702.56, lab)[0] == "passed"
    assert _status("slo.fleet_monthly_cost", "3702.56", lab)[0] == "passed"
    for wrong in [(2 * 1.006 + 3.06) * 24, 2 * 1.006 + 3.06, (1.006 + 3.06) * 730,
                  (2 * 1.006 + 2 * 3.06) * 730, 0, "lots"]:
        assert _status("slo.fleet_monthly_cost", wrong, lab)[0] == "failed", wrong
