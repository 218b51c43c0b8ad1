"""Exercises of notebook 02 (logs). Each judges the learner's LogQL against the reference on
fixed log streams and on the live Loki (see :mod:`labkit.exercises.logql_check`): log
queries by the lines they return, metric queries by their series and values."""

from __future__ import annotations

import math
import re
from typing import Any

from labkit.exercises.compare import fmt_key
from labkit.exercises.compare_logql import SELECTOR, entries
from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.logql_check import (
    EVAL_AT,
    judge,
    lines_check,
    metric_check,
    ranked_check,
)
from labkit.exercises.logql_fixture import fixture_lab
from labkit.exercises.references import reference

WINDOW = "1m"  # lab value for metric queries; production dashboards use [5m]
SLOW_MS = 200  # lab threshold for a slow request; the course text's production value is 5000
RETRY_ID = re.compile(r"req_retry_[0-9a-f]{12}")  # the notebook's retried request id
TOP_K = 3
SEEN_DAYS = 7  # how far back a retried request's lines are looked for
DONE = f'{SELECTOR} |= "Request completed"'  # one line per request
TOKENS_BY_USER = (f"sum by (user_id) (sum_over_time({DONE} | json | unwrap tokens "
                  f"[{WINDOW}]))")


def _metric(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return judge(lab, metric_check(answer, reference(exercise_id)), instants=EVAL_AT)
    return check


def _lines(exercise_id: str):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        return judge(lab, lines_check(answer, reference(exercise_id)))
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
    compare = ranked_check(answer, TOKENS_BY_USER,
                           lambda got, totals: top_k_outcome(got, totals, TOP_K))
    return judge(lab, compare, instants=EVAL_AT)


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
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")
    ids = set(RETRY_ID.findall(answer))
    if len(ids) != 1:
        raise CheckFailed("your query must name the retried request by its id (RETRIED_ID, "
                          "req_retry_ and 12 hex digits), once")
    target = ids.pop()
    if not _seen_live(lab, target):
        raise CheckFailed(f"Loki has no line of request {target} from the last {SEEN_DAYS} days: "
                          "name the request the notebook retried (RETRIED_ID)")
    want = reference("logs.request_lines").replace("{request_id}", target)
    outcome = judge(lab, lines_check(answer, want),
                    fixture=fixture_lab("request_id", target))
    return Outcome(outcome.passed, f"{target}: {outcome.detail}", outcome.evaluated_on)


def _seen_live(lab: Any, request_id: str) -> bool:
    """Whether the live Loki holds a line of ``request_id`` (so the id is not made up)."""
    import time

    now = time.time()
    found = entries(lab, f'{SELECTOR} |= "{request_id}"', start=now - SEEN_DAYS * 86400,
                    end=now + 1, who="the lookup of your request id")
    return bool(found)
