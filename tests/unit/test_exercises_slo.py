"""Notebook 06's checks: right answers pass, wrong ones fail with a reason, blanks are not
attempted; on a stub Prometheus and a temporary usage database."""

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
from labkit.errors import QueryParseError
from labkit.exercises import all_exercises, evaluate
from labkit.exercises.sets.slo import REFERENCE
from labkit.gateway.usage import USAGE_TABLE, make_engine
from labkit.slo import availability_query, latency_query

AT = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()


class StubPrometheus:
    """Known values for known queries; one label set each unless told otherwise."""

    def __init__(self, values: dict[str, float | list[float]]) -> None:
        self.values = values

    def query(self, promql: str, *, time: Any = None) -> pd.DataFrame:
        if "(" in promql and promql.count("(") != promql.count(")"):
            raise QueryParseError("parse error: unclosed left parenthesis")
        value = self.values.get(promql, [])
        values = value if isinstance(value, list) else [value]
        return pd.DataFrame({"instance": [f"i{n}" for n in range(len(values))],
                             "timestamp": [pd.Timestamp(0, tz="UTC")] * len(values),
                             "value": values})

    def scalar(self, promql: str, *, time: Any = None, default: float = math.nan) -> float:
        frame = self.query(promql, time=time)
        return default if frame.empty else float(frame["value"].iloc[0])


@pytest.fixture
def lab(tmp_path: Path) -> SimpleNamespace:
    config = LabConfig(run_dir=tmp_path)
    db = tmp_path / "data" / "gateway" / "usage.db"
    db.parent.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{db}")
    USAGE_TABLE.metadata.create_all(engine)
    rows = [  # (minutes before AT, user, prompt, completion)
        (30, "user_1", 1000, 1000), (20, "user_2", 3000, 0), (10, "user_1", 0, 500),
        (-5, "user_2", 50000, 50000),  # after AT: no check may count it
    ]
    with engine.begin() as conn:
        conn.execute(USAGE_TABLE.insert(), [
            {"created_at": datetime(2026, 1, 1, 12) - pd.Timedelta(minutes=m),
             "request_id": f"r{i}", "user_id": u, "model": "labkit-tiny", "status": 200,
             "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
             "duration_ms": 5.0} for i, (m, u, p, c) in enumerate(rows)])
    engine.dispose()
    prom = StubPrometheus({
        REFERENCE["slo.availability_query"]: 0.995,
        REFERENCE["slo.latency_sli_query"]: 0.97,
        availability_query("5m"): 0.995,
        latency_query("5m"): 0.97,
        "my_availability": 0.995, "my_availability_percent": 99.5, "wrong": 0.5,
        "by_job": [0.99, 1.0], "my_latency": 0.97,
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


@pytest.mark.parametrize(("answer", "status", "detail"), [
    ("my_availability", "passed", "same as the reference"),
    ("my_availability_percent", "passed", "in percent"),
    ("wrong", "failed", "expected 0.995"),
    ("by_job", "failed", "returned 2 series"),
    ("nothing_here", "failed", "no data"),
    ("sum(rate(x[5m]", "failed", "Prometheus rejected your query"),
    (0.995, "failed", "expected a PromQL string"),
], ids=["ratio", "percent", "wrong", "two-series", "empty", "parse-error", "number"])
def test_availability_query(answer: Any, status: str, detail: str,
                            lab: SimpleNamespace) -> None:
    """The availability SLI query is compared by value at one instant."""
    got_status, got_detail = _status("slo.availability_query", answer, lab)
    assert got_status == status and detail in got_detail


def test_latency_query_hints_at_the_bucket_spelling(lab: SimpleNamespace) -> None:
    """An empty latency answer points at le="2.0"."""
    assert _status("slo.latency_sli_query", "my_latency", lab)[0] == "passed"
    status, detail = _status("slo.latency_sli_query", "no_such_bucket", lab)
    assert status == "failed" and 'le="2.0"' in detail


def test_reference_without_data_asks_for_traffic(lab: SimpleNamespace) -> None:
    """Before any traffic the check says what to do, rather than failing the answer."""
    lab.prometheus.values.pop(REFERENCE["slo.availability_query"])
    status, detail = _status("slo.availability_query", "my_availability", lab)
    assert status == "failed" and "run the traffic cell" in detail


@pytest.mark.parametrize(("answer", "status"), [
    ({"value": -4.0, "at": AT}, "passed"),  # 1 - 0.005 / 0.001
    ([-4.0, AT], "passed"),
    ({"value": -3.95, "at": AT}, "passed"),  # within 2 %
    ({"value": 0.995, "at": AT}, "failed"),
    (-4.0, "failed"),  # no instant
    ({"value": -4.0, "at": "noon"}, "failed"),
    ({"value": "a lot", "at": AT}, "failed"),
], ids=["dict", "pair", "close", "sli-not-budget", "bare-number", "bad-at", "not-a-number"])
def test_error_budget_remaining(answer: Any, status: str, lab: SimpleNamespace) -> None:
    """The budget is recomputed at the answer's instant."""
    assert _status("slo.error_budget_remaining", answer, lab)[0] == status


def test_timed_answer_explains_its_shape(lab: SimpleNamespace) -> None:
    """A bare number tells the learner how to pass the instant."""
    detail = _status("slo.latency_burn_rate", 0.6, lab)[1]
    assert '{"value": your_number, "at": AT}' in detail


def test_latency_burn_rate(lab: SimpleNamespace) -> None:
    """(1 - 0.97) / (1 - 0.95) = 0.6."""
    assert _status("slo.latency_burn_rate", {"value": 0.6, "at": AT}, lab)[0] == "passed"
    assert _status("slo.latency_burn_rate", {"value": 0.03, "at": AT}, lab)[0] == "failed"


def test_budget_without_traffic_at_that_instant(lab: SimpleNamespace) -> None:
    """An instant with no data fails with a reason, not a NaN comparison."""
    lab.prometheus.values.pop(availability_query("5m"))
    status, detail = _status("slo.error_budget_remaining", {"value": 1.0, "at": AT}, lab)
    assert status == "failed" and "was there traffic" in detail


def test_cost_per_1k_tokens_counts_only_rows_before_the_instant(lab: SimpleNamespace) -> None:
    """Rows before AT: 4K prompt and 1.5K completion tokens at the default prices."""
    price = PriceTable.default().token_price("labkit-tiny")
    expected = (4000 * price.prompt + 1500 * price.completion) / 5500
    answer = {"value": expected, "at": AT}
    assert _status("slo.cost_per_1k_tokens", answer, lab)[0] == "passed"
    every_row = (54000 * price.prompt + 51500 * price.completion) / 105500
    assert _status("slo.cost_per_1k_tokens", {"value": every_row, "at": AT}, lab)[0] == "failed"
    assert _status("slo.cost_per_1k_tokens", {"value": price.completion, "at": AT},
                   lab)[0] == "failed"


@pytest.mark.parametrize(("answer", "status", "detail"), [
    ({"value": "user_1", "at": AT}, "passed", "user_1"),
    ({"value": "user_2", "at": AT}, "failed", "another user"),
    ("user_2", "passed", "user_2"),  # without an instant the row after AT counts too
    ({"value": "user_9", "at": AT}, "failed", "no usage by 'user_9'"),
    ({"value": 1, "at": AT}, "failed", "as a string"),
], ids=["top-at", "second-at", "top-now", "unknown", "not-a-string"])
def test_top_user_cost(answer: Any, status: str, detail: str, lab: SimpleNamespace) -> None:
    """user_1 costs more than user_2 before AT (2.5K completion tokens against none)."""
    got_status, got_detail = _status("slo.top_user_cost", answer, lab)
    assert got_status == status and detail in got_detail


def test_fleet_monthly_cost(lab: SimpleNamespace) -> None:
    """(2 x 1.006 + 3.06) x 730 hours."""
    assert _status("slo.fleet_monthly_cost", 3702.56, lab)[0] == "passed"
    assert _status("slo.fleet_monthly_cost", (2 * 1.006 + 3.06) * 24, lab)[0] == "failed"
    assert _status("slo.fleet_monthly_cost", "lots", lab)[0] == "failed"
