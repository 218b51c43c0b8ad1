"""Exercises of notebook 03 (traces). Each check recomputes the answer from the live Jaeger
(and Loki) over a fixed time window, never trusting the notebook's numbers.

Traces keep arriving while a learner works, so every answer travels with the window the
notebook searched: ``check("traces.x", windowed(answer, WINDOW))`` where ``WINDOW`` is
``{"start": unix_s, "end": unix_s}``. The grader reads the same dict back and reruns the check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from labkit.errors import QueryError
from labkit.exercises.compare import close_to
from labkit.exercises.core import CheckFailed, Outcome, exercise, windowed
from labkit.exercises.logql_check import judge_lines_on_fixture
from labkit.exercises.references import reference as logs_reference

__all__ = [
    "error_span_count",
    "first_token_ms",
    "inference_fraction",
    "self_time_ms",
    "slowest_trace",
    "top_self_time_operation",
    "windowed",  # re-exported from core for older imports
]

SERVICE = "llm-api"
ROOT = "POST /v1/chat/completions"
MAX_TRACES = 5000  # a lab window holds a few hundred; more means the window is too wide
MIN_TRACES = 20  # fewer and the window is not the notebook's traffic (its phases send ~150)
FLUSH_S = 3.0  # the BatchSpanProcessor exports every second: wait this long past the window


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


def _window_spans(lab: Any, start: float, end: float) -> pd.DataFrame:
    from labkit.query.jaeger import traces_to_frame

    return traces_to_frame(_window_traces(lab, start, end))


# -- the reference computations (pure, unit-tested on frames) ---------------------------------

def slowest_trace(spans: pd.DataFrame) -> str:
    """The trace id whose server span (the whole request) lasted longest."""
    roots = spans[(spans["operation"] == ROOT) & spans["parent_id"].isna()]
    if roots.empty:
        raise CheckFailed(f"no {ROOT!r} root span in the window")
    return str(roots.loc[roots["duration_ms"].idxmax(), "trace_id"])


def self_time_ms(spans: pd.DataFrame) -> pd.Series:
    """Each span's duration minus its children's (the gateway's children never overlap)."""
    children = spans.groupby(["trace_id", "parent_id"])["duration_ms"].sum()
    keys = pd.MultiIndex.from_arrays([spans["trace_id"], spans["span_id"]])
    covered = children.reindex(keys).fillna(0.0).to_numpy()
    return pd.Series(spans["duration_ms"].to_numpy() - covered, index=spans.index,
                     name="self_ms")


def top_self_time_operation(spans: pd.DataFrame, q: float = 0.95) -> pd.Series:
    """The q-quantile of self time per operation, highest first."""
    frame = spans.assign(self_ms=self_time_ms(spans))
    return frame.groupby("operation")["self_ms"].quantile(q).sort_values(ascending=False)


def inference_fraction(spans: pd.DataFrame) -> float:
    """Time in inference spans over the time of whole requests (server spans), all traces."""
    total = spans.loc[(spans["operation"] == ROOT) & spans["parent_id"].isna(), "duration_ms"]
    if total.sum() <= 0:
        raise CheckFailed("no request time in the window")
    return float(spans.loc[spans["operation"] == "inference", "duration_ms"].sum() / total.sum())


def error_span_count(spans: pd.DataFrame) -> int:
    """Spans whose status is ERROR."""
    return int((spans["status"] == "error").sum())


def first_token_ms(payload: Mapping[str, Any]) -> pd.Series:
    """Time to first token (ms) of each streaming request, from its gen_ai.first_token event."""
    out: dict[str, float] = {}
    for trace in payload.get("data") or []:
        for span in trace.get("spans") or []:
            for log in span.get("logs") or []:
                fields = {f["key"]: f["value"] for f in log.get("fields") or []}
                if fields.get("event") == "gen_ai.first_token":
                    out[span["traceID"]] = float(fields["gen_ai.server.time_to_first_token"]) * 1e3
    return pd.Series(out, name="ttft_ms", dtype="float64")


# -- the checks ------------------------------------------------------------------------------

@exercise("traces.slowest_trace", title="The trace id of the slowest request in the window",
          hint=f"Take the {ROOT!r} spans (one per request) and the trace_id of the one with "
               "the largest duration_ms")
@_recorded
def _slowest(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    if not isinstance(value, str):
        raise CheckFailed("answer with the trace id, a string of 32 hex digits")
    spans = _window_spans(lab, start, end)
    want = slowest_trace(spans)
    ms = spans.loc[(spans["trace_id"] == want) & (spans["operation"] == ROOT), "duration_ms"]
    if value.strip().lower().rjust(32, "0") == want:
        return Outcome(True, f"trace {want} took {ms.iloc[0]:.1f} ms")
    mine = spans.loc[(spans["trace_id"] == value) & (spans["operation"] == ROOT), "duration_ms"]
    if mine.empty:
        return Outcome(False, f"{value!r} is not an llm-api trace in the window")
    return Outcome(False, f"that trace took {mine.iloc[0]:.1f} ms; another took "
                          f"{ms.iloc[0]:.1f} ms")


@exercise("traces.top_self_time_operation",
          title="The operation with the highest p95 self time",
          hint="Self time = a span's duration minus the durations of its children (group by "
               "trace_id and parent_id); then the 0.95 quantile per operation")
@_recorded
def _top_self(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    if not isinstance(value, str):
        raise CheckFailed("answer with the operation name, a string such as 'tokenize'")
    ranking = top_self_time_operation(_window_spans(lab, start, end))
    top = str(ranking.index[0])
    if value == top:
        return Outcome(True, f"{top}: p95 self time {ranking.iloc[0]:.1f} ms "
                             f"(next: {ranking.index[1]} {ranking.iloc[1]:.1f} ms)")
    if value not in ranking.index:
        return Outcome(False, f"no operation {value!r}; seen: {', '.join(sorted(ranking.index))}")
    return Outcome(False, f"{value} has a p95 self time of {ranking[value]:.1f} ms; another "
                          f"operation has {ranking.iloc[0]:.1f} ms")


@exercise("traces.inference_fraction",
          title="The fraction of request time spent in inference",
          hint=f"Sum the durations of the 'inference' spans and divide by the sum of the "
               f"{ROOT!r} durations, over every trace in the window")
@_recorded
def _inference_fraction(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    return close_to(value, inference_fraction(_window_spans(lab, start, end)), rel=0.02,
                    abs_tol=0.005)


@exercise("traces.error_spans", title="The number of error spans in the window",
          hint="The span frame's status column says 'error' for spans with status ERROR")
@_recorded
def _error_spans(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise CheckFailed(f"answer with a whole number, got {value!r}")
    want = error_span_count(_window_spans(lab, start, end))
    if want == 0:
        raise CheckFailed("no error span in the window: run the fault-injection cell")
    if int(value) == want:
        return Outcome(True, f"{want} error spans")
    return Outcome(False, f"{int(value)} error spans, but the window holds {want}")


@exercise("traces.ttft_p50_ms",
          title="Median time to first token (ms), from the span events",
          hint="Streaming inference spans carry a 'gen_ai.first_token' event (a Jaeger log) with "
               "the field gen_ai.server.time_to_first_token, in seconds")
@_recorded
def _ttft(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    ttft = first_token_ms(_window_traces(lab, start, end))
    if ttft.empty:
        raise CheckFailed("no streaming request in the window had a first token")
    return close_to(value, float(ttft.median()), rel=0.02, abs_tol=0.05, unit=" ms")


@exercise("traces.trace_logs", title="A LogQL query for the log lines of the slowest trace",
          hint='Parse the lines with | json and keep trace_id="<the id>", or filter the raw '
               'line with |= "<the id>"')
@_recorded
def _trace_logs(answer: Any, lab: Any) -> Outcome:
    value, start, end = _unpack(answer)
    if not isinstance(value, str):
        raise CheckFailed("answer with a LogQL query string")
    trace_id = slowest_trace(_window_spans(lab, start, end))
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

