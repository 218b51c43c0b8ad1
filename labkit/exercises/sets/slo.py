"""Exercises of notebook 06 (SLOs and cost).

The SLI queries, the error budget remaining and the latency burn rate are PromQL, judged on
the synthetic gateway series at the exercise's own instants and live, like notebook 01's
(:mod:`labkit.exercises.promql_check`): a learner cannot pick a quiet instant whose budget
is untouched. The SLIs are accepted as a ratio or in percent.

The token costs are functions ``answer(store, window)`` over the usage rows, run on fixed
rows and on the notebook's live window (:mod:`labkit.exercises.usage_fixture`): the
fixture, whose window the exercise fixes, decides; the live window must agree when it
holds any request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit.exercises.compare import close_to
from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.fixture_series import METRICS_FIXTURE
from labkit.exercises.function_answers import near
from labkit.exercises.promql_check import promql_check
from labkit.exercises.references import reference
from labkit.exercises.usage_fixture import judge as usage_judge

WINDOW = "5m"  # the lab's SLO window; production: 30d
WINDOW_S = 300.0
MODEL = "labkit-tiny"
FLEET = {"g5.xlarge": 2, "p3.2xlarge": 1}


def _promql(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return promql_check(lab, answer, reference(exercise_id), METRICS_FIXTURE,
                            scales=(1.0, 100.0))
    return check


@exercise("slo.availability_query", title=f"Availability SLI over [{WINDOW}] (PromQL)",
          hint=f'Successful requests over all requests: the rate of llm_requests_total{{status='
               f'"success"}} over [{WINDOW}], divided by the rate of all of them, both summed')
def _availability_query(answer: Any, lab: Any) -> Outcome:
    return _promql("slo.availability_query")(answer, lab)


@exercise("slo.latency_sli_query", title=f"Latency SLI: fraction of requests under 2 s over "
          f"[{WINDOW}] (PromQL)",
          hint="The le=\"2.0\" bucket of llm_request_duration_seconds counts requests that took "
               "at most 2 s; divide its rate by the rate of _count, both summed")
def _latency_sli_query(answer: Any, lab: Any) -> Outcome:
    outcome = _promql("slo.latency_sli_query")(answer, lab)
    if not outcome.passed and "returned 0 series" in outcome.detail:
        return Outcome(False, outcome.detail + '; this Prometheus writes the bucket as le="2.0", '
                       'not le="2"', outcome.evaluated_on)
    return outcome


@exercise("slo.error_budget_remaining",
          title=f"Availability error budget remaining over [{WINDOW}] (PromQL)",
          hint="remaining = 1 - (1 - availability) / (1 - 0.999): 1 untouched, 0 spent, "
               "negative overspent. Write it as one PromQL expression around the availability "
               "SLI")
def _error_budget_remaining(answer: Any, lab: Any) -> Outcome:
    return promql_check(lab, answer, reference("slo.error_budget_remaining"), METRICS_FIXTURE)


@exercise("slo.latency_burn_rate", title=f"Burn rate of the latency SLO over [{WINDOW}] (PromQL)",
          hint="burn rate = (fraction of requests slower than 2 s) / (1 - 0.95): one PromQL "
               "expression around the latency SLI")
def _latency_burn_rate(answer: Any, lab: Any) -> Outcome:
    return promql_check(lab, answer, reference("slo.latency_burn_rate"), METRICS_FIXTURE)


def _tracker_on(store: Any) -> Any:
    from labkit.cost import CostTracker

    return CostTracker(store)


def _cost_per_1k(store: Any, window: Mapping[str, float]) -> float:
    return float(_tracker_on(store).usage_cost_per_1k_tokens(
        MODEL, since=window["start"], until=window["end"]))


def _top_user(store: Any, window: Mapping[str, float]) -> str:
    costs = _tracker_on(store).costs("user_id", since=window["start"], until=window["end"])
    costs = costs["usage_cost"].drop("(none)", errors="ignore")
    if costs.empty:
        raise CheckFailed("no request in the window came from a user")
    return str(costs.idxmax())


def _same_user(mine: Any, want: str) -> Outcome:
    if mine == want:
        return Outcome(True, f"{want}")
    return Outcome(False, f"your function returned {mine!r}, not the user whose requests cost "
                          "the most")


_SIGNATURE = (' Answer with a function answer(store, window) reading the usage rows of '
              '[window["start"], window["end"]): on_usage(answer, WINDOW)')


@exercise("slo.cost_per_1k_tokens",
          title=f"Token cost per 1K tokens of {MODEL}, over a window",
          hint="Sum prompt_tokens and completion_tokens of its rows in the window, price each "
               "with the price table, divide by total_tokens / 1000." + _SIGNATURE)
def _cost_per_1k_tokens(answer: Any, lab: Any) -> Outcome:
    return usage_judge(answer, lab, _cost_per_1k, near(0.01, 0.0))


@exercise("slo.top_user_cost", title="The user whose requests cost the most, over a window",
          hint="Group the usage rows of the window by user_id, price their tokens (usage "
               "cost), take the largest." + _SIGNATURE)
def _top_user_cost(answer: Any, lab: Any) -> Outcome:
    return usage_judge(answer, lab, _top_user, _same_user)


@exercise("slo.fleet_monthly_cost",
          title=f"Monthly infrastructure cost of a fleet of {FLEET}",
          hint="Hourly prices from the price table times the instance counts, times 730 "
               "hours a month")
def _fleet_monthly_cost(answer: Any, lab: Any) -> Outcome:
    from labkit.cost import HOURS_PER_MONTH, PriceTable

    expected = PriceTable.default().hourly(FLEET) * HOURS_PER_MONTH
    outcome = close_to(answer, expected, rel=0.001, unit=" USD")
    return Outcome(outcome.passed, outcome.detail, {"price_table": "default", "fleet": FLEET})
