"""Trace answers: functions ``answer(jaeger, window)``, run on the fixed traces and live.

A trace answer depends on the traces it was computed from, so the learner answers with the
computation: a function that searches Jaeger (service, tags, limit, time window) and
returns the value. :func:`on_traces` runs it in the learner's kernel on the fixture
(:mod:`labkit.exercises.trace_fixture`) and on ``WINDOW`` of the live Jaeger::

    check("traces.slowest_trace", on_traces(slowest_trace, WINDOW))

and :func:`judge` compares both results with the reference computed on the same traces
(see :mod:`labkit.exercises.function_answers`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from labkit.exercises import function_answers
from labkit.exercises.core import Outcome
from labkit.exercises.trace_fixture import FIXTURE_ID, fixture_traces

__all__ = ["FLUSH_S", "judge", "on_traces"]

FLUSH_S = 3.0  # the BatchSpanProcessor exports every second: wait this long past the window
USAGE = "answer with a function: check(id, on_traces(your_function, WINDOW))"


def _flushed(end: float) -> None:
    wait = end + FLUSH_S - time.time()
    if wait > 0:
        time.sleep(wait)  # spans of the window's last requests may still be in the exporter


def on_traces(fn: Any, window: Mapping[str, float], lab: Any = None) -> dict[str, Any] | None:
    """Run ``fn(jaeger, window)`` on the fixed traces and on the live ``window``; the record
    a check judges. An unanswered exercise (``fn`` None) stays None."""
    made: list[Any] = []  # a connection made here is closed once the answer is recorded

    def live() -> Any:
        nonlocal lab
        if lab is None:
            from labkit.lab import connect

            lab = connect()
            made.append(lab)
        _flushed(float(window["end"]))
        return lab.jaeger

    try:
        return function_answers.record_answer(fn, FIXTURE_ID, fixture_traces, live, window)
    finally:
        for connection in made:
            connection.close()


def judge(answer: Any, lab: Any, reference: function_answers.Reference,
          compare: function_answers.Compare, service: str, limit: int) -> Outcome:
    """Judge a recorded trace answer (see :func:`labkit.exercises.function_answers.judge`)."""
    def live_count(start: float, end: float) -> int:
        _flushed(end)
        found = lab.jaeger.fetch_traces(service, start=start, end=end, limit=limit)
        return len(found.get("data") or [])

    return function_answers.judge(answer, fixture_traces(), lab.jaeger, reference, compare,
                                  live_count, what="traces", usage=USAGE)
