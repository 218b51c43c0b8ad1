"""Trace answers are functions, run on the fixed traces and on the notebook's live window.

A trace answer depends on the traces it was computed from, so the learner answers with the
*computation*: a function ``answer(jaeger, window)`` that searches Jaeger (service, tags,
limit, time window) and returns the value. :func:`on_traces` runs it in the learner's kernel
twice, on the fixture (:mod:`labkit.exercises.trace_fixture`) and on ``WINDOW`` of the live
Jaeger, and records both results as plain JSON::

    check("traces.slowest_trace", on_traces(slowest_trace, WINDOW))

:func:`judge` (the check, in the kernel or the grader's process) computes the reference on
its own copy of the fixture and on the live window, and passes the answer only if both
results match (the fixture always holds data; an empty live window is not compared).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from labkit.exercises.core import CheckFailed, Outcome, is_unanswered
from labkit.exercises.trace_fixture import FIXTURE_ID, fixture_traces

__all__ = ["FLUSH_S", "judge", "on_traces"]

FLUSH_S = 3.0  # the BatchSpanProcessor exports every second: wait this long past the window
USAGE = "answer with a function: check(id, on_traces(your_function, WINDOW))"

Reference = Callable[[Any, Mapping[str, float]], Any]  # (jaeger, window) -> value
Compare = Callable[[Any, Any], Outcome]  # (yours, reference) -> outcome


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a Python one, so the record is plain JSON."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _run(fn: Callable[..., Any], jaeger: Any, window: Mapping[str, float]) -> dict[str, Any]:
    try:
        return {"value": _plain(fn(jaeger, dict(window)))}
    except Exception as exc:  # the learner's code: report, never break the notebook
        return {"error": f"{type(exc).__name__}: {exc}"}


def on_traces(fn: Any, window: Mapping[str, float], lab: Any = None) -> dict[str, Any] | None:
    """Run ``fn(jaeger, window)`` on the fixed traces and on the live ``window``; the record
    a check judges. An unanswered exercise (``fn`` None) stays None."""
    if is_unanswered(fn):
        return None
    record: dict[str, Any] = {"fixture": FIXTURE_ID, "start": float(window["start"]),
                              "end": float(window["end"])}
    if not callable(fn):
        return record | {"not_a_function": repr(fn)[:200]}
    fixture = fixture_traces()
    record["on_fixture"] = _run(fn, fixture.jaeger, fixture.window)
    if lab is None:
        from labkit.lab import connect

        lab = connect()
    wait = record["end"] + FLUSH_S - time.time()
    if wait > 0:
        time.sleep(wait)  # spans of the window's last requests may still be in the exporter
    record["live"] = _run(fn, lab.jaeger, {"start": record["start"], "end": record["end"]})
    return record


def _unpack(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, Mapping) or not {"fixture", "start", "end"} <= set(answer):
        raise CheckFailed(USAGE)
    if "not_a_function" in answer:
        raise CheckFailed(f"{USAGE}; got {answer['not_a_function']}")
    if answer["fixture"] != FIXTURE_ID:
        raise CheckFailed(f"the answer was run on the fixture {answer['fixture']!r}, this check "
                          f"uses {FIXTURE_ID!r}: run the answer's cells again")
    if not {"on_fixture", "live"} <= set(answer):
        raise CheckFailed(USAGE)
    if not float(answer["start"]) < float(answer["end"]):
        raise CheckFailed(f"the window ends before it starts ({answer['start']} .. "
                          f"{answer['end']})")
    return dict(answer)


def _result(run: Any, where: str) -> Any:
    if not isinstance(run, Mapping) or not ({"value"} <= set(run) or {"error"} <= set(run)):
        raise CheckFailed(USAGE)
    if "error" in run:
        raise CheckFailed(f"{where}, your function raised {run['error']}")
    return run["value"]


def _live_reference(reference: Reference, lab: Any, start: float, end: float) -> Any:
    """The reference on the live window; None when it has nothing to say there."""
    try:
        want = reference(lab.jaeger, {"start": start, "end": end})
    except CheckFailed:  # e.g. no request span in the window
        return None
    return None if isinstance(want, float) and math.isnan(want) else want


def judge(answer: Any, lab: Any, reference: Reference, compare: Compare,
          live_traces: Callable[[Any, float, float], int]) -> Outcome:
    """The answer's fixture result against the reference on the fixture, then its live result
    against the reference on the live window (when that window holds any trace)."""
    record = _unpack(answer)
    start, end = float(record["start"]), float(record["end"])
    evidence: dict[str, Any] = {"fixture": FIXTURE_ID, "live": {"start": start, "end": end}}
    where = f"on the fixed traces ({FIXTURE_ID})"
    try:
        mine = _result(record["on_fixture"], where)
    except CheckFailed as exc:
        raise CheckFailed(str(exc), evidence) from None
    fixture = fixture_traces()
    hermetic = compare(mine, reference(fixture.jaeger, fixture.window))
    if not hermetic.passed:
        return Outcome(False, f"{where}: {hermetic.detail}", evidence)
    count = live_traces(lab, start, end)
    want = _live_reference(reference, lab, start, end) if count else None
    evidence["live"] |= {"traces": count, "compared": want is not None}
    if want is None:
        return Outcome(True, f"right {where}; the live window holds nothing to compare with",
                       evidence)
    try:
        live_value = _result(record["live"], "on the live window")
    except CheckFailed as exc:
        raise CheckFailed(str(exc), evidence) from None
    live = compare(live_value, want)
    if not live.passed:
        return Outcome(False, f"right {where}, but not on the live window: {live.detail}",
                       evidence)
    return Outcome(True, f"right {where}, and live: {live.detail}", evidence)
