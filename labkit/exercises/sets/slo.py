"""Exercises of notebook 06 (SLOs and cost).

PromQL answers are evaluated beside a reference at the same instant. Numbers that depend on
when they were computed (a budget, a burn rate, a cost) are answered as
``{"value": number, "at": unix_seconds}``: the check recomputes the reference from
Prometheus or the usage database *at that instant*, so a grader gets the same verdict later.
"""

from __future__ import annotations

import math
import time
from typing import Any

from labkit.errors import QueryError
from labkit.exercises.compare import close_to
from labkit.exercises.core import CheckFailed, Outcome, exercise

WINDOW = "5m"  # the lab's SLO window; production: 30d
AVAILABILITY_TARGET = 99.9
LATENCY_TARGET = 95.0
MODEL = "labkit-tiny"
FLEET = {"g5.xlarge": 2, "p3.2xlarge": 1}

REFERENCE = {
    "slo.availability_query": (f'sum(rate(llm_requests_total{{status="success"}}[{WINDOW}]))'
                               f" / sum(rate(llm_requests_total[{WINDOW}]))"),
    "slo.latency_sli_query": (f'sum(rate(llm_request_duration_seconds_bucket{{le="2.0"}}'
                              f"[{WINDOW}])) / sum(rate(llm_request_duration_seconds_count"
                              f"[{WINDOW}]))"),
}


def _one_value(lab: Any, query: str, at: float, who: str) -> float:
    try:
        frame = lab.prometheus.query(query, time=at)
    except QueryError as exc:
        raise CheckFailed(f"Prometheus rejected {who}: {exc}") from None
    if len(frame) > 1:
        raise CheckFailed(f"{who} returned {len(frame)} series; the SLI is one number: "
                          "sum(...) both sides of the division")
    return math.nan if frame.empty else float(frame["value"].iloc[0])


def _same_ratio(answer: Any, lab: Any, reference: str, *, empty_hint: str = "") -> Outcome:
    """One-number queries: same value at the same instant, as a ratio or in percent."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a PromQL string, got {type(answer).__name__}")
    at = time.time() - 1.0  # a moment ago: the last scrape has landed
    want = _one_value(lab, reference, at, "the reference")
    if math.isnan(want):
        raise CheckFailed("the reference has no data yet: run the traffic cell, then check again")
    got = _one_value(lab, answer, at, "your query")
    if math.isnan(got):
        return Outcome(False, "your query returned no data" + (f"; {empty_hint}" if empty_hint
                                                               else ""))
    for scale, unit in ((1.0, ""), (100.0, " (in percent)")):
        if math.isclose(got, scale * want, rel_tol=1e-6, abs_tol=1e-9):
            return Outcome(True, f"{got:.6g}{unit}, the same as the reference")
    return Outcome(False, f"your value {got:.6g}, expected {want:.6g} (a fraction 0..1, or "
                          "percent)")


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


def _monitor(lab: Any) -> Any:
    from labkit.slo import ServiceHealthMonitor

    return ServiceHealthMonitor(lab.prometheus, window=WINDOW,
                                availability_target=AVAILABILITY_TARGET,
                                latency_target=LATENCY_TARGET)


def _tracker(lab: Any) -> Any:
    from labkit.cost import CostTracker, usage_db_url

    return CostTracker(usage_db_url(lab.config))


def _live_number(value: Any, expected: float, what: str, *, rel: float,
                 abs_tol: float = 0.0) -> Outcome:
    if math.isnan(expected):
        raise CheckFailed(f"there is no {what} at that instant: was there traffic in the window?")
    return close_to(value, expected, rel=rel, abs_tol=abs_tol)


@exercise("slo.availability_query", title=f"Availability SLI over [{WINDOW}] (PromQL)",
          hint=f'Successful requests over all requests: the rate of llm_requests_total{{status='
               f'"success"}} over [{WINDOW}], divided by the rate of all of them, both summed')
def _availability_query(answer: Any, lab: Any) -> Outcome:
    return _same_ratio(answer, lab, REFERENCE["slo.availability_query"])


@exercise("slo.latency_sli_query", title=f"Latency SLI: fraction of requests under 2 s over "
          f"[{WINDOW}] (PromQL)",
          hint="The le=\"2.0\" bucket of llm_request_duration_seconds counts requests that took "
               "at most 2 s; divide its rate by the rate of _count, both summed")
def _latency_sli_query(answer: Any, lab: Any) -> Outcome:
    return _same_ratio(answer, lab, REFERENCE["slo.latency_sli_query"],
                       empty_hint='this Prometheus writes the bucket as le="2.0", not le="2"')


@exercise("slo.error_budget_remaining",
          title=f"Availability error budget remaining over [{WINDOW}], at an instant",
          hint="remaining = 1 - (1 - availability) / (1 - 0.999): 1 untouched, 0 spent, "
               'negative overspent. Answer {"value": remaining, "at": AT}')
def _error_budget_remaining(answer: Any, lab: Any) -> Outcome:
    value, at = _timed(answer)
    expected = _monitor(lab).error_budget_remaining("availability", at=at)
    return _live_number(value, expected, "availability", rel=0.02, abs_tol=0.01)


@exercise("slo.latency_burn_rate", title=f"Burn rate of the latency SLO over [{WINDOW}]",
          hint="burn rate = (fraction of requests slower than 2 s) / (1 - 0.95). "
               'Answer {"value": burn_rate, "at": AT}')
def _latency_burn_rate(answer: Any, lab: Any) -> Outcome:
    value, at = _timed(answer)
    expected = _monitor(lab).burn_rate("latency", at=at)
    return _live_number(value, expected, "latency SLI", rel=0.02, abs_tol=0.01)


@exercise("slo.cost_per_1k_tokens",
          title=f"Token cost per 1K tokens of {MODEL}, from the usage database",
          hint="Sum prompt_tokens and completion_tokens of its rows logged before AT, price "
               "each with the price table, divide by total_tokens / 1000. "
               'Answer {"value": cost, "at": AT}')
def _cost_per_1k_tokens(answer: Any, lab: Any) -> Outcome:
    value, at = _timed(answer)
    expected = _tracker(lab).usage_cost_per_1k_tokens(MODEL, until=at)
    return _live_number(value, expected, f"{MODEL} usage", rel=0.01)


@exercise("slo.top_user_cost", title="The user whose requests cost the most",
          hint="Group the usage rows by user_id, price their tokens, take the largest. "
               'Answer with the user id, or {"value": user_id, "at": AT}')
def _top_user_cost(answer: Any, lab: Any) -> Outcome:
    user, at = _timed(answer) if isinstance(answer, dict | list | tuple) else (answer, None)
    if not isinstance(user, str):
        raise CheckFailed(f"answer with the user id as a string, got {user!r}")
    costs = _tracker(lab).costs("user_id", until=at)["usage_cost"].drop("(none)",
                                                                         errors="ignore")
    if costs.empty:
        raise CheckFailed("the usage table has no user yet: run the traffic cell first")
    top = costs.max()
    if user not in costs.index:
        return Outcome(False, f"no usage by {user!r}; users: {', '.join(sorted(costs.index))}")
    if math.isclose(costs[user], top, rel_tol=1e-9):
        return Outcome(True, f"{user}: {costs[user]:.6f} in token cost")
    return Outcome(False, f"{user} cost {costs[user]:.6f}; another user cost {top:.6f}")


@exercise("slo.fleet_monthly_cost",
          title=f"Monthly infrastructure cost of a fleet of {FLEET}",
          hint="Hourly prices from the price table times the instance counts, times 730 "
               "hours a month")
def _fleet_monthly_cost(answer: Any, lab: Any) -> Outcome:
    from labkit.cost import HOURS_PER_MONTH, PriceTable

    expected = PriceTable.default().hourly(FLEET) * HOURS_PER_MONTH
    return close_to(answer, expected, rel=0.001, unit=" USD")
