"""Exercises of notebook 06 (SLOs and cost).

The SLI queries, the error budget remaining and the latency burn rate are PromQL, judged on
the synthetic gateway series at the exercise's own instants and live, like notebook 01's
(:mod:`labkit.exercises.promql_check`): a learner cannot pick a quiet instant whose budget
is untouched. The SLIs are accepted as a ratio or in percent.

The token costs are numbers answered as ``{"value": number, "at": unix_seconds}``, ``at``
being the end of the notebook's traffic: the check recomputes the number from the usage
database over the ``[5m]`` before ``at`` and requires that window to hold the notebook's
traffic, so an empty window fails; the usage database keeps it, so a re-check later gives
the same verdict.
"""

from __future__ import annotations

import math
import time
from typing import Any

from labkit.exercises.compare import close_to
from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.fixture_series import METRICS_FIXTURE
from labkit.exercises.promql_check import promql_check
from labkit.exercises.references import reference

WINDOW = "5m"  # the lab's SLO window; production: 30d
WINDOW_S = 300.0
MODEL = "labkit-tiny"
FLEET = {"g5.xlarge": 2, "p3.2xlarge": 1}
MIN_REQUESTS = 20  # a window with fewer requests than this is not the notebook's traffic
def _promql(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return promql_check(lab, answer, reference(exercise_id), METRICS_FIXTURE,
                            scales=(1.0, 100.0))
    return check


def _timed(answer: Any) -> tuple[Any, float]:
    """Split ``{"value": v, "at": t}`` (or ``[v, t]``) into the value and the instant."""
    if isinstance(answer, dict) and {"value", "at"} <= set(answer):
        value, at = answer["value"], answer["at"]
    elif isinstance(answer, list | tuple) and len(answer) == 2:
        value, at = answer
    else:
        raise CheckFailed('answer with {"value": your_number, "at": AT}, AT being the instant '
                          "(unix seconds) you computed it at")
    try:
        return value, float(at)
    except (TypeError, ValueError):
        raise CheckFailed(f'"at" must be unix seconds (time.time()), got {at!r}') from None


def _tracker(lab: Any) -> Any:
    from labkit.cost import CostTracker, usage_db_url

    return CostTracker(usage_db_url(lab.config))


def _live_number(value: Any, expected: float, what: str, evidence: dict[str, Any], *,
                 rel: float, abs_tol: float = 0.0) -> Outcome:
    if math.isnan(expected):
        raise CheckFailed(f"there is no {what} at that instant: was there traffic in the window?",
                          evidence)
    outcome = close_to(value, expected, rel=rel, abs_tol=abs_tol)
    return Outcome(outcome.passed, outcome.detail, evidence)


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


def _usage_window(lab: Any, at: float) -> tuple[Any, dict[str, Any]]:
    """The tracker, after checking that ``[at - 5m, at)`` holds the notebook's requests."""
    if at > time.time():
        raise CheckFailed(f'"at" is in the future ({at:.0f}): use AT, the end of the traffic')
    tracker = _tracker(lab)
    rows = len(tracker.store.rows(since=at - WINDOW_S, until=at))
    evidence = {"usage": {"since": at - WINDOW_S, "until": at, "rows": rows}}
    if rows < MIN_REQUESTS:
        raise CheckFailed(f"the usage database has {rows} requests in the {WINDOW} before "
                          f"{at:.0f}: the exercise is about the window ending at AT, just after "
                          "this notebook's traffic", evidence)
    return tracker, evidence


@exercise("slo.cost_per_1k_tokens",
          title=f"Token cost per 1K tokens of {MODEL}, over the {WINDOW} before AT",
          hint=f"Sum prompt_tokens and completion_tokens of its rows logged in the {WINDOW} "
               "before AT, price each with the price table, divide by total_tokens / 1000. "
               'Answer {"value": cost, "at": AT}')
def _cost_per_1k_tokens(answer: Any, lab: Any) -> Outcome:
    value, at = _timed(answer)
    tracker, evidence = _usage_window(lab, at)
    expected = tracker.usage_cost_per_1k_tokens(MODEL, since=at - WINDOW_S, until=at)
    return _live_number(value, expected, f"{MODEL} usage", evidence, rel=0.01)


@exercise("slo.top_user_cost", title=f"The user whose requests cost the most, over the {WINDOW} "
          "before AT",
          hint="Group the usage rows of the window by user_id, price their tokens, take the "
               'largest. Answer {"value": user_id, "at": AT}')
def _top_user_cost(answer: Any, lab: Any) -> Outcome:
    user, at = _timed(answer)
    if not isinstance(user, str):
        raise CheckFailed(f"answer with the user id as a string, got {user!r}")
    tracker, evidence = _usage_window(lab, at)
    costs = tracker.costs("user_id", since=at - WINDOW_S, until=at)["usage_cost"].drop(
        "(none)", errors="ignore")
    if costs.empty:
        raise CheckFailed("no request in the window came from a user", evidence)
    top = costs.max()
    if user not in costs.index:
        return Outcome(False, f"no usage by {user!r} in the window; users: "
                              f"{', '.join(sorted(costs.index))}", evidence)
    if math.isclose(costs[user], top, rel_tol=1e-9):
        return Outcome(True, f"{user}: {costs[user]:.6f} in token cost", evidence)
    return Outcome(False, f"{user} cost {costs[user]:.6f}; another user cost {top:.6f}", evidence)


@exercise("slo.fleet_monthly_cost",
          title=f"Monthly infrastructure cost of a fleet of {FLEET}",
          hint="Hourly prices from the price table times the instance counts, times 730 "
               "hours a month")
def _fleet_monthly_cost(answer: Any, lab: Any) -> Outcome:
    from labkit.cost import HOURS_PER_MONTH, PriceTable

    expected = PriceTable.default().hourly(FLEET) * HOURS_PER_MONTH
    outcome = close_to(answer, expected, rel=0.001, unit=" USD")
    return Outcome(outcome.passed, outcome.detail, {"price_table": "default", "fleet": FLEET})
