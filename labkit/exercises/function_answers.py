"""Answers that are functions, run on a fixture and on the notebook's live window.

A number read off live data is right only for the data it was read from, and a learner who
picks the window picks the answer. So some exercises take the *computation*: a function
``answer(source, window)`` (``source`` being a Jaeger client, a usage store...). In the
learner's kernel, :func:`record_answer` runs it on the exercise's fixture (fixed data, built
so that the usual mistakes give another result) and on the live window, and records both
results as plain JSON. :func:`judge` (the check, in the kernel or in the grader's process)
computes the reference on its own copy of the fixture and on the live window: the answer
passes only if both match (the fixture always holds data; an empty live window is not
compared). The grader never runs the learner's code: it judges the recorded results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from labkit.exercises.core import CheckFailed, Outcome, is_unanswered

__all__ = ["AnswerFixture", "judge", "near", "record_answer"]

Reference = Callable[[Any, Mapping[str, float]], Any]  # (source, window) -> value
Compare = Callable[[Any, Any], Outcome]  # (yours, reference) -> outcome


@dataclass(frozen=True)
class AnswerFixture:
    """Fixed data for function answers: what the function reads, and the window to read."""

    id: str
    source: Any
    window: dict[str, float]


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a Python one, so the record is plain JSON."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _run(fn: Callable[..., Any], source: Any, window: Mapping[str, float]) -> dict[str, Any]:
    try:
        return {"value": _plain(fn(source, dict(window)))}
    except Exception as exc:  # the learner's code: report, never break the notebook
        return {"error": f"{type(exc).__name__}: {exc}"}


def record_answer(fn: Any, fixture_id: str, fixture: Callable[[], AnswerFixture],
                  live: Callable[[], Any], window: Mapping[str, float]
                  ) -> dict[str, Any] | None:
    """Run ``fn`` on ``fixture()`` and on ``live()``'s ``window``; None while unanswered."""
    if is_unanswered(fn):
        return None
    record: dict[str, Any] = {"fixture": fixture_id, "start": float(window["start"]),
                              "end": float(window["end"])}
    if not callable(fn):
        return record | {"not_a_function": repr(fn)[:200]}
    fixed = fixture()
    record["on_fixture"] = _run(fn, fixed.source, fixed.window)
    record["live"] = _run(fn, live(), {"start": record["start"], "end": record["end"]})
    return record


def _unpack(answer: Any, fixture_id: str, usage: str) -> dict[str, Any]:
    if not isinstance(answer, Mapping) or not {"fixture", "start", "end"} <= set(answer):
        raise CheckFailed(usage)
    if "not_a_function" in answer:
        raise CheckFailed(f"{usage}; got {answer['not_a_function']}")
    if answer["fixture"] != fixture_id:
        raise CheckFailed(f"the answer was run on the fixture {answer['fixture']!r}, this check "
                          f"uses {fixture_id!r}: run the answer's cells again")
    if not {"on_fixture", "live"} <= set(answer):
        raise CheckFailed(usage)
    if not float(answer["start"]) < float(answer["end"]):
        raise CheckFailed(f"the window ends before it starts ({answer['start']} .. "
                          f"{answer['end']})")
    return dict(answer)


def _result(run: Any, where: str, usage: str) -> Any:
    if not isinstance(run, Mapping) or not ({"value"} <= set(run) or {"error"} <= set(run)):
        raise CheckFailed(usage)
    if "error" in run:
        raise CheckFailed(f"{where}, your function raised {run['error']}")
    return run["value"]


def _live_reference(reference: Reference, source: Any, start: float, end: float) -> Any:
    """The reference on the live window; None when it has nothing to say there."""
    try:
        want = reference(source, {"start": start, "end": end})
    except CheckFailed:  # e.g. no request in the window
        return None
    return None if isinstance(want, float) and math.isnan(want) else want


def judge(answer: Any, fixture: AnswerFixture, live: Any, reference: Reference,
          compare: Compare, live_count: Callable[[float, float], int], *, what: str,
          usage: str) -> Outcome:
    """The answer's fixture result against the reference on the fixture, then its live result
    against the reference on ``live`` (when ``live_count`` finds data in the window)."""
    record = _unpack(answer, fixture.id, usage)
    start, end = float(record["start"]), float(record["end"])
    evidence: dict[str, Any] = {"fixture": fixture.id, "live": {"start": start, "end": end}}
    where = f"on the fixed {what} ({fixture.id})"
    try:
        mine = _result(record["on_fixture"], where, usage)
    except CheckFailed as exc:
        raise CheckFailed(str(exc), evidence) from None
    hermetic = compare(mine, reference(fixture.source, fixture.window))
    if not hermetic.passed:
        return Outcome(False, f"{where}: {hermetic.detail}", evidence)
    count = live_count(start, end)
    want = _live_reference(reference, live, start, end) if count else None
    evidence["live"] |= {"found": count, "compared": want is not None}
    if want is None:
        return Outcome(True, f"right {where}; the live window holds nothing to compare with",
                       evidence)
    try:
        live_value = _result(record["live"], "on the live window", usage)
    except CheckFailed as exc:
        raise CheckFailed(str(exc), evidence) from None
    outcome = compare(live_value, want)
    if not outcome.passed:
        return Outcome(False, f"right {where}, but not on the live window: {outcome.detail}",
                       evidence)
    return Outcome(True, f"right {where}, and live: {outcome.detail}", evidence)


def near(rel: float, abs_tol: float, unit: str = "") -> Compare:
    """Compare: a number within ``rel`` (relative) or ``abs_tol`` of the reference."""
    def compare(mine: Any, want: float) -> Outcome:
        if isinstance(mine, bool) or not isinstance(mine, int | float):
            return Outcome(False, f"your function returned {mine!r}, not a number")
        if abs(mine - want) <= max(rel * abs(want), abs_tol):
            return Outcome(True, f"{mine:.4g}{unit}")
        return Outcome(False, f"your function returned {mine:.4g}{unit}, expected "
                              f"{want:.4g}{unit}")
    return compare
