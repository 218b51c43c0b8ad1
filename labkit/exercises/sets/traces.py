"""Exercises of notebook 03 (traces).

The learner answers with a function ``answer(jaeger, window)`` that searches Jaeger and
computes the value; ``on_traces`` runs it on the fixed traces (sent over OTLP to an
in-process Jaeger stand-in) and on the notebook's live window, and the checks here compare
both results with the reference computed on the same traces (see
:mod:`labkit.exercises.trace_answers`). The last exercise is a LogQL query for the slowest
live trace's lines, judged on the fixed log streams and live over the window it travels
with: ``check("traces.trace_logs", windowed(query, WINDOW))``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from labkit.errors import QueryError
from labkit.exercises.core import CheckFailed, Outcome, exercise, windowed
from labkit.exercises.function_answers import near
from labkit.exercises.logql_check import judge_lines_on_fixture
from labkit.exercises.references import reference as logs_reference
from labkit.exercises.trace_answers import FLUSH_S, judge, on_traces

__all__ = [
    "on_traces",
    "windowed",  # re-exported from core for older imports
]

SERVICE = "llm-api"
ROOT = "POST /v1/chat/completions"
MAX_TRACES = 5000  # a lab window holds a few hundred; more means the window is too wide
MIN_TRACES = 20  # fewer and the window is not the notebook's traffic (its phases send ~150)


def _unpack(answer: Any) -> tuple[Any, float, float]:
    if not isinstance(answer, Mapping) or not {"answer", "start", "end"} <= set(answer):
        raise CheckFailed("pass the answer with its window: check(id, windowed(answer, WINDOW))")
    start, end = float(answer["start"]), float(answer["end"])
    if not start < end:
        raise CheckFailed(f"the window ends before it starts ({start} .. {end})")
    return answer["answer"], start, end


def _window_traces(lab: Any, start: float, end: float) -> dict[str, Any]:
    """The raw /api/traces envelope of every llm-api trace with a span starting in the window."""
    wait = end + FLUSH_S - time.time()
    if wait > 0:
        time.sleep(wait)  # spans of the window's last requests may still be in the exporter
    payload: dict[str, Any] = lab.jaeger.fetch_traces(SERVICE, start=start, end=end,
                                                      limit=MAX_TRACES)
    traces = payload.get("data") or []
    evidence = {"live": {"start": start, "end": end, "traces": len(traces)}}
    if len(traces) < MIN_TRACES:
        raise CheckFailed(f"Jaeger holds {len(traces)} llm-api trace(s) in the window: the "
                          "exercise is about WINDOW, the span of this notebook's traffic (run the "
                          "traffic cells and compute WINDOW again)", evidence)
    if len(traces) >= MAX_TRACES:
        raise CheckFailed(f"the window holds {MAX_TRACES}+ traces: narrow it", evidence)
    return payload


def _recorded(check: Any) -> Any:
    """Record in the verdict the window the check recomputed its answer over."""
    def wrapped(answer: Any, lab: Any) -> Outcome:
        outcome: Outcome = check(answer, lab)
        if outcome.evaluated_on:
            return outcome
        _, start, end = _unpack(answer)
        return Outcome(outcome.passed, outcome.detail, {"live": {"start": start, "end": end}})
    wrapped.__doc__ = check.__doc__
    return wrapped


def _solved() -> Any:
    """The reference computations, imported only when a check runs (never in a graded kernel)."""
    from labkit.exercises import trace_solutions

    return trace_solutions


def _window_spans(lab: Any, start: float, end: float) -> pd.DataFrame:
    from labkit.query.jaeger import traces_to_frame

    return traces_to_frame(_window_traces(lab, start, end))


# -- the checks ------------------------------------------------------------------------------

def _frame(jaeger: Any, window: Mapping[str, float]) -> pd.DataFrame:
    from labkit.query.jaeger import traces_to_frame

    return traces_to_frame(jaeger.fetch_traces(SERVICE, start=window["start"],
                                               end=window["end"], limit=MAX_TRACES))


def _same_trace(mine: Any, want: str) -> Outcome:
    if not isinstance(mine, str):
        return Outcome(False, f"your function returned {mine!r}, not a trace id (32 hex digits)")
    if mine.strip().lower().rjust(32, "0") == want:
        return Outcome(True, f"trace {want}")
    return Outcome(False, f"your function returned {mine!r}, not the trace of the slowest "
                          "request")


def _same_name(mine: Any, want: str) -> Outcome:
    if mine == want:
        return Outcome(True, f"{want}")
    return Outcome(False, f"your function returned {mine!r}, not the operation with the "
                          "highest p95 self time")


def _same_count(mine: Any, want: int) -> Outcome:
    if isinstance(mine, bool) or not isinstance(mine, int | float) or mine != int(mine):
        return Outcome(False, f"your function returned {mine!r}, not a whole number")
    if int(mine) == want:
        return Outcome(True, f"{want} error spans")
    return Outcome(False, f"your function returned {int(mine)} error spans, expected {want}")


def _ttft(jaeger: Any, window: Mapping[str, float]) -> float:
    payload = jaeger.fetch_traces(SERVICE, start=window["start"], end=window["end"],
                                  limit=MAX_TRACES)
    ttft = _solved().first_token_ms(payload)
    return float(ttft.median()) if not ttft.empty else float("nan")


_SIGNATURE = " Answer with a function answer(jaeger, window) that searches the window itself."


@exercise("traces.slowest_trace", title="The trace id of the slowest request in a window",
          hint=f"Take the {ROOT!r} spans (one per request) of every llm-api trace in the window "
               "(mind find_traces' limit) and the trace_id of the largest duration_ms."
               + _SIGNATURE)
def _slowest(answer: Any, lab: Any) -> Outcome:
    return judge(answer, lab, lambda j, w: _solved().slowest_trace(_frame(j, w)), _same_trace,
                 SERVICE, MAX_TRACES)


@exercise("traces.top_self_time_operation",
          title="The operation with the highest p95 self time",
          hint="Self time = a span's duration minus the durations of its children (group by "
               "trace_id and parent_id); then the 0.95 quantile per operation." + _SIGNATURE)
def _top_self(answer: Any, lab: Any) -> Outcome:
    def top(jaeger: Any, window: Mapping[str, float]) -> str:
        return str(_solved().top_self_time_operation(_frame(jaeger, window)).index[0])

    return judge(answer, lab, top, _same_name, SERVICE, MAX_TRACES)


@exercise("traces.inference_fraction",
          title="The fraction of request time spent in inference",
          hint=f"Sum the durations of the 'inference' spans and divide by the sum of the "
               f"{ROOT!r} durations, over every trace in the window." + _SIGNATURE)
def _inference_fraction(answer: Any, lab: Any) -> Outcome:
    return judge(answer, lab, lambda j, w: _solved().inference_fraction(_frame(j, w)),
                 near(0.02, 0.005), SERVICE, MAX_TRACES)


@exercise("traces.error_spans", title="The number of error spans in a window",
          hint="The span frame's status column says 'error' for spans with status ERROR; "
               "count spans, not traces." + _SIGNATURE)
def _error_spans(answer: Any, lab: Any) -> Outcome:
    return judge(answer, lab, lambda j, w: _solved().error_span_count(_frame(j, w)), _same_count,
                 SERVICE, MAX_TRACES)


@exercise("traces.ttft_p50_ms",
          title="Median time to first token (ms), from the span events",
          hint="Streaming inference spans carry a 'gen_ai.first_token' event (a Jaeger log) with "
               "the field gen_ai.server.time_to_first_token, in seconds." + _SIGNATURE)
def _ttft_check(answer: Any, lab: Any) -> Outcome:
    return judge(answer, lab, _ttft, near(0.02, 0.05, " ms"), SERVICE, MAX_TRACES)


@exercise("traces.trace_logs", title="A LogQL query for the log lines of the slowest trace",
          hint='Parse the lines with | json and keep trace_id="<the id>", or filter the raw '
               'line with |= "<the id>"')
@_recorded
def _trace_logs(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    if not isinstance(value, str):
        raise CheckFailed("answer with a LogQL query string")
    trace_id = _solved().slowest_trace(_window_spans(lab, start, end))
    reference = logs_reference("traces.trace_logs").replace("{trace_id}", trace_id)
    hermetic = judge_lines_on_fixture(value, reference, "trace_id", trace_id)
    if not hermetic.passed:
        return Outcome(False, f"{hermetic.detail} (the slowest trace of the window is {trace_id})",
                       hermetic.evaluated_on)
    # Log lines are written when a request ends: a little after its spans start.
    around = {"start": start - 5, "end": end + 60, "limit": 5000}
    try:
        got = lab.loki.query_range(value, **around)
    except QueryError as exc:
        raise CheckFailed(f"Loki rejected your query: {exc}") from None
    want = lab.loki.query_range(reference, **around)
    if want.empty:
        raise CheckFailed(f"Loki has no line of trace {trace_id} yet: wait a moment and retry")
    if "line" not in got.columns:
        return Outcome(False, "your query returns numbers (a metric query); return the log lines")
    mine = set(zip(got["timestamp"], got["line"], strict=True))
    theirs = set(zip(want["timestamp"], want["line"], strict=True))
    if mine == theirs:
        return Outcome(True, f"the {len(theirs)} log line(s) of trace {trace_id}")
    return Outcome(False, f"your query returned {len(mine)} line(s), {len(mine & theirs)} of "
                          f"them of trace {trace_id}, which has {len(theirs)}")

