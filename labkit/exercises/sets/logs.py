"""Exercises of notebook 02 (logs). Each evaluates the learner's LogQL and a reference
against the live Loki at one settled instant (see :mod:`labkit.exercises.compare_logql`)
and compares lines (log queries) or series and values (metric queries)."""

from __future__ import annotations

import math
from typing import Any

from labkit.exercises.compare import fmt_key
from labkit.exercises.compare_logql import (
    SELECTOR,
    entries,
    request_ids,
    same_logql_lines,
    same_logql_metric,
    samples,
    settled_end,
)
from labkit.exercises.core import CheckFailed, Outcome, exercise

WINDOW = "1m"  # lab value for metric queries; production dashboards use [5m]
LOG_WINDOW_S = 600.0  # log queries are checked over the 10 minutes up to the newest line
SLOW_MS = 200  # lab threshold for a slow request; the course text's production value is 5000
RETRY_PREFIX = "req_retry_"  # the notebook's retried request ids start with this
TOP_K = 3
DONE = f'{SELECTOR} |= "Request completed"'  # one line per request

REFERENCE = {
    "logs.volume_by_level": f"sum by (level) (count_over_time({SELECTOR}[{WINDOW}]))",
    "logs.line_filter": '{job="llm-api", level="ERROR"} | json | error_type != "injected_fault"',
    "logs.slow_user": f'{SELECTOR} | json | user_id="user_1" | duration_ms > {SLOW_MS}',
    "logs.p95_duration": (f"quantile_over_time(0.95, {DONE} | json | unwrap duration_ms "
                          f"[{WINDOW}]) by (model)"),
    "logs.error_ratio": (f"sum(count_over_time({DONE} | json | status >= 500 [{WINDOW}]))"
                         f" / sum(count_over_time({DONE} [{WINDOW}]))"),
}
TOKENS_BY_USER = (f"sum by (user_id) (sum_over_time({DONE} | json | unwrap tokens "
                  f"[{WINDOW}]))")


def _metric(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return same_logql_metric(lab, answer, REFERENCE[exercise_id])
    return check


def _lines(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return same_logql_lines(lab, answer, REFERENCE[exercise_id], window_s=LOG_WINDOW_S)
    return check


exercise("logs.volume_by_level", title="Log lines per level over the last minute",
         hint=f"count_over_time({SELECTOR}[{WINDOW}]) counts lines per stream; level is a "
              "stream label, so sum by (level)")(_metric("logs.volume_by_level"))
exercise("logs.line_filter", title="Error lines that are not injected faults",
         hint='Chain two line filters: |= "ERROR" keeps lines containing ERROR, '
              '!= "injected_fault" then drops the injected ones')(_lines("logs.line_filter"))
exercise("logs.slow_user", title=f"user_1's requests slower than {SLOW_MS} ms",
         hint=f"| json turns the fields into labels; then filter them: duration_ms > {SLOW_MS} "
              'is a numeric filter, user_id="user_1" a string one')(_lines("logs.slow_user"))
exercise("logs.p95_duration", title="p95 of duration_ms over the last minute, per model",
         hint=f'Keep only "Request completed" lines (others have no duration_ms), | json, '
              f"| unwrap duration_ms, then quantile_over_time(0.95, ... [{WINDOW}]) by (model)")(
    _metric("logs.p95_duration"))
exercise("logs.error_ratio", title="Fraction of requests that failed with a 5xx, last minute",
         hint='Count "Request completed" lines with status >= 500 (or level ERROR) and divide '
              "by all of them; sum() both sides so their labels match")(
    _metric("logs.error_ratio"))


@exercise("logs.top_users_tokens", title=f"The top {TOP_K} users by tokens over the last minute",
          hint=f"sum_over_time(... | json | unwrap tokens [{WINDOW}]) adds a user's tokens; sum "
               f"by (user_id), then topk({TOP_K}, ...)")
def _top_users(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")
    at = settled_end(lab)
    totals = samples(lab, TOKENS_BY_USER, at=at, who="the reference")
    if not totals:
        raise CheckFailed("no tokens were logged in the last minute: run the traffic cells")
    got = samples(lab, answer, at=at, who="your query")
    return top_k_outcome(got, totals, TOP_K)


def top_k_outcome(got: dict[Any, float], totals: dict[Any, float], k: int) -> Outcome:
    """``got`` is a top-k of ``totals``: k series, each with its total, the k largest.

    Ties at the k-th place may be broken either way, so any top-k passes.
    """
    want = sorted(totals.values(), reverse=True)[:k]
    if len(got) != len(want):
        return Outcome(False, f"your query returned {len(got)} series, expected {len(want)} "
                              f"(the top {k} users)")
    for key, value in got.items():
        if key not in totals:
            return Outcome(False, f"unexpected series {fmt_key(key)}: group by user_id only")
        if not math.isclose(value, totals[key], rel_tol=1e-6):
            return Outcome(False, f"{fmt_key(key)}: your value {value:.6g}, but that user has "
                                  f"{totals[key]:.6g} tokens in the window")
    mine = sorted(got.values(), reverse=True)
    if not all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(mine, want, strict=True)):
        return Outcome(False, f"these are not the top {k}: the largest totals are "
                              f"{', '.join(f'{v:g}' for v in want)}")
    return Outcome(True, f"top {k}: " + ", ".join(
        f"{dict(key).get('user_id', '?')} {value:g}"
        for key, value in sorted(got.items(), key=lambda kv: -kv[1])))


@exercise("logs.request_lines", title="Every line of the retried request",
          hint='A request id is in every line of that request: |= "<id>" (a line filter) or '
               '| json | request_id="<id>" (a label filter) both find them')
def _request_lines(answer: Any, lab: Any) -> Outcome:
    end = settled_end(lab)
    target = retried_request(lab, end)
    outcome = same_logql_lines(lab, answer, f'{SELECTOR} | json | request_id="{target}"',
                               window_s=LOG_WINDOW_S, end=end)
    return Outcome(outcome.passed, f"{target}: {outcome.detail}")


def retried_request(lab: Any, end: float) -> str:
    """The id of the newest retried request (its id starts with ``RETRY_PREFIX``)."""
    tagged = entries(lab, f'{SELECTOR} |= "{RETRY_PREFIX}"', start=end - LOG_WINDOW_S, end=end,
                     who="the reference")
    for _, line in sorted(tagged, reverse=True):
        ids = [i for i in request_ids([line]) if i.startswith(RETRY_PREFIX)]
        if ids:
            return ids[0]
    raise CheckFailed("no retried request in the last 10 minutes: run the cell that retries a "
                      "request, then check again")
