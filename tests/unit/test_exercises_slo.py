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
from labkit.cost import CostTracker, PriceTable
from labkit.exercises import all_exercises, evaluate
from labkit.exercises.references import reference
from labkit.exercises.usage_fixture import on_usage
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


# -- the budget and the burn rate: PromQL around the SLIs, on the synthetic series --------------

OK = f'sum(rate({R}{{status="success"}}[5m])) / sum(rate({R}[5m]))'
FAST = f'sum(rate({B}_bucket{{le="2.0"}}[5m])) / sum(rate({B}_count[5m]))'
NUMBER_TABLES = {
    "slo.error_budget_remaining": cases(
        [f"1 - (1 - {OK}) / (1 - 0.999)",
         f"(100 * {OK} - 99.9) / (100 - 99.9)",  # the seed's formula, in percent: the same
         f'1 - (sum(rate({R}{{status="error"}}[300s])) / sum(rate({R}[300s]))) / 0.001'],
        {"one": "vector(1)", "zero": "vector(0)", "the-sli": OK,
         "error-ratio": f"1 - {OK}", "burn-rate": f"(1 - {OK}) / (1 - 0.999)",
         "target-99": f"1 - (1 - {OK}) / (1 - 0.99)",
         "window-1m": f"1 - (1 - {OK.replace('[5m]', '[1m]')}) / (1 - 0.999)",
         "no-rate": f'1 - (1 - sum({R}{{status="success"}}) / sum({R})) / (1 - 0.999)'}),
    "slo.latency_burn_rate": cases(
        [f"(1 - {FAST}) / (1 - 0.95)",
         f'(sum(rate({B}_count[5m])) - sum(rate({B}_bucket{{le="2.0"}}[5m])))'
         f" / sum(rate({B}_count[5m])) / 0.05"],
        {"one": "vector(1)", "zero": "vector(0)", "the-sli": FAST,
         "slow-fraction": f"1 - {FAST}", "over-target": f"(1 - {FAST}) / 0.95",
         "availability-burn": f"(1 - {OK}) / (1 - 0.999)",
         "le-1": f"(1 - {FAST.replace('2.0', '1.0')}) / (1 - 0.95)",
         "window-1m": f"(1 - {FAST.replace('[5m]', '[1m]')}) / (1 - 0.95)",
         "budget-left": f"1 - (1 - {FAST}) / (1 - 0.95)"}),
}


@needs_promtool
@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in NUMBER_TABLES.items() for p in params])
def test_budget_and_burn_rate_on_the_fixture(exercise_id: str, answer: str,
                                              expected: str) -> None:
    """The budget and the burn rate are judged on the synthetic series at the exercise's own
    instants (errors and slow requests in every window), never at an instant the learner
    picks: right forms pass, the SLI, its complement, another target or window fail."""
    verdict = verdict_of(exercise_id, answer)
    assert verdict.status == expected, verdict.detail
    assert verdict.evaluated_on["fixture"] == "gateway-10m-v1"


def test_a_number_is_not_an_answer_any_more(lab: SimpleNamespace) -> None:
    """A number computed at a chosen instant is refused with what to write instead."""
    status, detail = _status("slo.error_budget_remaining", {"value": -4.0, "at": AT}, lab)
    assert status == "failed" and "PromQL" in detail


# -- token costs: functions over the usage rows, on the fixed rows and live -------------------

TINY = PriceTable.default().token_price("labkit-tiny")
WIN = {"start": AT - 300, "end": AT}  # the live rows of the lab fixture above


def _tiny_rows(s: Any, w: dict[str, float], **kw: Any) -> pd.DataFrame:
    return s.rows(since=w["start"], until=w["end"], model="labkit-tiny", **kw)


def _per_1k(rows: pd.DataFrame) -> float:
    cost = rows.prompt_tokens.sum() * TINY.prompt + rows.completion_tokens.sum() * TINY.completion
    return float(cost / rows.total_tokens.sum())


def _user_costs(s: Any, w: dict[str, float]) -> pd.DataFrame:
    return CostTracker(s).costs("user_id", since=w["start"], until=w["end"]).drop(
        "(none)", errors="ignore")


COST_TABLES = {
    "slo.cost_per_1k_tokens": cases(
        [lambda s, w: CostTracker(s).usage_cost_per_1k_tokens("labkit-tiny", since=w["start"],
                                                               until=w["end"]),
         lambda s, w: _per_1k(_tiny_rows(s, w))],
        {"every-model": lambda s, w: _per_1k(s.rows(since=w["start"], until=w["end"])),
         "all-history": lambda s, w: _per_1k(s.rows(model="labkit-tiny")),
         "end-included": lambda s, w: _per_1k(_tiny_rows(s, {**w, "end": w["end"] + 1})),
         "completion-price": lambda s, w: TINY.completion,
         "prompt-price": lambda s, w: TINY.prompt,
         "mean-of-rows": lambda s, w: float((_tiny_rows(s, w).eval(
             f"(prompt_tokens * {TINY.prompt} + completion_tokens * {TINY.completion})"
             " / total_tokens")).mean()),
         "per-token": lambda s, w: _per_1k(_tiny_rows(s, w)) / 1000}),
    "slo.top_user_cost": cases(
        [lambda s, w: _user_costs(s, w).usage_cost.idxmax(),
         lambda s, w: s.rows(since=w["start"], until=w["end"]).assign(cost=lambda r: [
             PriceTable.default().usage_cost(m, prompt_tokens=p, completion_tokens=c)
             for m, p, c in zip(r.model, r.prompt_tokens, r.completion_tokens, strict=True)])
         .groupby("user_id").cost.sum().idxmax()],
        {"most-requests": lambda s, w: _user_costs(s, w).requests.idxmax(),
         "most-tokens": lambda s, w: _user_costs(s, w).total_tokens.idxmax(),
         "with-infrastructure": lambda s, w: _user_costs(s, w).total_cost.idxmax(),
         "all-history": lambda s, w: CostTracker(s).costs("user_id").usage_cost.idxmax(),
         "cheapest": lambda s, w: _user_costs(s, w).usage_cost.idxmin(),
         "a-constant": lambda s, w: "user_1"}),
}


@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in COST_TABLES.items() for p in params])
def test_cost_functions_on_the_fixed_rows(exercise_id: str, answer: Any, expected: str,
                                          lab: SimpleNamespace) -> None:
    """On the fixed usage rows (the live window an hour earlier holds nothing), right
    functions pass and wrong ones fail; the verdict names the fixture."""
    empty = {"start": AT - 7200, "end": AT - 3600}
    verdict = evaluate(exercise_id, on_usage(answer, empty, lab), lab)
    assert verdict.status == expected, verdict.detail
    assert verdict.evaluated_on["fixture"] == "usage-rows-v1"


def test_a_cost_function_must_be_right_live_too(lab: SimpleNamespace) -> None:
    """With live rows in the window, the function's live result is compared as well."""
    right = lambda s, w: _user_costs(s, w).usage_cost.idxmax()  # noqa: E731
    verdict = evaluate("slo.top_user_cost", on_usage(right, WIN, lab), lab)
    assert verdict.passed and verdict.evaluated_on["live"]["compared"], verdict.detail
    record = on_usage(right, WIN, lab)
    record["live"] = {"value": "user_1"}
    verdict = evaluate("slo.top_user_cost", record, lab)
    assert verdict.status == "failed" and "live window" in verdict.detail


def test_a_number_is_not_a_cost_answer(lab: SimpleNamespace) -> None:
    """A number at a chosen instant is refused, saying how to answer."""
    status, detail = _status("slo.cost_per_1k_tokens", {"value": 1.0, "at": AT}, lab)
    assert status == "failed" and "on_usage(" in detail
    assert _status("slo.cost_per_1k_tokens", on_usage(None, WIN, lab), lab)[0] == \
        "not attempted"


def test_fleet_monthly_cost(lab: SimpleNamespace) -> None:
    """(2 x 1.006 + 3.06) x 730 hours; a day, an hour, a wrong count fail."""
    assert _status("slo.fleet_monthly_cost", 3702.56, lab)[0] == "passed"
    assert _status("slo.fleet_monthly_cost", "3702.56", lab)[0] == "passed"
    for wrong in [(2 * 1.006 + 3.06) * 24, 2 * 1.006 + 3.06, (1.006 + 3.06) * 730,
                  (2 * 1.006 + 2 * 3.06) * 730, 0, "lots"]:
        assert _status("slo.fleet_monthly_cost", wrong, lab)[0] == "failed", wrong
