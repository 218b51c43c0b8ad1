"""The LogQL checks: the answer must match the reference on the fixed streams, and live.

The fixture (:mod:`labkit.exercises.logql_fixture`) decides: log queries must return the
reference's lines over its ten minutes, metric queries the reference's series and values at
several instants (before, during and after its errors). The live Loki, at its settled end
(see :mod:`labkit.exercises.compare_logql`), must agree too when the reference finds
something there; when it finds nothing (no traffic in the last hour), the fixture alone
decides. Verdicts record the fixture's id and the live instant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from labkit.exercises.compare import Samples, compare_samples
from labkit.exercises.compare_logql import SELECTOR, entries, line_preview, samples
from labkit.exercises.core import CheckFailed, Outcome
from labkit.exercises.logql_fixture import END, FIXTURE_ID, START, fixture_lab

__all__ = ["EVAL_AT", "LINES_WINDOW_S", "judge", "judge_lines_on_fixture", "lines_check",
           "live_end", "metric_check", "ranked_check"]

EVAL_AT = (START + 330.0, START + 450.0, END)  # errors begin at 5m, peak at 7m, end at 10m
LINES_WINDOW_S = 600.0
LOOKBACK_S = 3600.0

Compare = Callable[[Any, float], tuple[bool | None, str]]  # (lab, end) -> (passed|None, detail)


def live_end(lab: Any) -> float | None:
    """Just after the newest gateway line in the live Loki's last hour; None if there is none."""
    now = time.time()
    payload = lab.loki.fetch("/loki/api/v1/query_range", {
        "query": SELECTOR, "start": str(int((now - LOOKBACK_S) * 1e9)),
        "end": str(int(now * 1e9)), "limit": 1, "direction": "backward"})
    newest = [int(v[0]) for s in payload["data"]["result"] for v in s["values"]]
    return (max(newest) + 1_000_000) / 1e9 if newest else None


def _when(at: float) -> str:
    return f"{datetime.fromtimestamp(at, UTC):%H:%M:%S}"


def judge(lab: Any, compare: Compare, *, fixture: Any = None, instants: tuple[float, ...] = (END,)
          ) -> Outcome:
    """Run ``compare`` on the fixture at each instant, then live at the settled end."""
    fixture = fixture if fixture is not None else fixture_lab()
    evidence: dict[str, Any] = {"fixture": FIXTURE_ID,
                                "instants": [f"+{at - START:g}s" for at in instants]}
    for at in instants:
        passed, detail = compare(fixture, at)
        if passed is None:
            raise CheckFailed(f"the reference has no data on the fixture at {_when(at)}: the "
                              "fixture is broken (report this)", evidence)
        if not passed:
            return Outcome(False, f"on the fixed log streams ({FIXTURE_ID}, at +{at - START:g}s): "
                                  f"{detail}", evidence)
    end = live_end(lab)
    live_passed, live_detail = compare(lab, end) if end is not None else (None, "")
    evidence["live"] = {"end": end, "compared": live_passed is not None}
    if live_passed is None:
        return Outcome(True, f"right on the fixed log streams ({FIXTURE_ID}); nothing live to "
                             "compare with yet", evidence)
    if not live_passed:
        return Outcome(False, f"right on the fixed log streams, but not on the live logs: "
                              f"{live_detail}", evidence)
    return Outcome(True, f"right on the fixed log streams ({FIXTURE_ID}), and live: {live_detail}",
                   evidence)


def metric_check(answer: Any, reference: str, *, rel: float = 1e-6) -> Compare:
    """Compare: same series and values at the instant."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")

    def compare(lab: Any, at: float) -> tuple[bool | None, str]:
        want = samples(lab, reference, at=at, who="the reference")
        if not want:
            return None, ""
        outcome = compare_samples(samples(lab, answer, at=at, who="your query"), want, rel=rel)
        return outcome.passed, outcome.detail
    return compare


def ranked_check(answer: Any, totals_query: str,
                 judge_top: Callable[[Samples, Samples], Outcome]) -> Compare:
    """Compare: ``judge_top(answer's samples, the totals)`` at the instant."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")

    def compare(lab: Any, at: float) -> tuple[bool | None, str]:
        totals = samples(lab, totals_query, at=at, who="the reference")
        if not totals:
            return None, ""
        outcome = judge_top(samples(lab, answer, at=at, who="your query"), totals)
        return outcome.passed, outcome.detail
    return compare


def lines_check(answer: Any, reference: str, *, window_s: float = LINES_WINDOW_S) -> Compare:
    """Compare: the same (time, line) entries over ``[end - window_s, end)``."""
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a LogQL string, got {type(answer).__name__}")

    def compare(lab: Any, end: float) -> tuple[bool | None, str]:
        want = entries(lab, reference, start=end - window_s, end=end, who="the reference")
        if not want:
            return None, ""
        got = entries(lab, answer, start=end - window_s, end=end, who="your query")
        if got == want:
            return True, f"the same {len(want)} line(s) as the reference"
        missing, extra = want - got, got - want
        parts = [f"your query returned {len(got)} line(s), the answer has {len(want)}"]
        if missing:
            parts.append(f"missing e.g. {line_preview(min(missing)[1])}")
        if extra:
            parts.append(f"unexpected e.g. {line_preview(min(extra)[1])}")
        return False, "; ".join(parts)
    return compare


def judge_lines_on_fixture(answer: Any, reference: str, field: str, value: str) -> Outcome:
    """A log query on the fixture holding one request's lines (``field`` = ``value``)."""
    fixture = fixture_lab(field, value)
    passed, detail = lines_check(answer, reference)(fixture, END)
    evidence = {"fixture": FIXTURE_ID, "instants": [f"+{END - START:g}s"]}
    if passed is None:
        raise CheckFailed("the reference has no data on the fixture (report this)", evidence)
    where = f"on the fixed log streams ({FIXTURE_ID})"
    return Outcome(passed, f"{where}: {detail}", evidence)
