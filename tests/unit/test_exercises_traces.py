"""The traces exercises (notebook 03) checked against stored Jaeger JSON and a fake lab."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from labkit.exercises.core import CheckFailed, evaluate
from labkit.exercises.sets import traces
from labkit.exercises.sets.traces import (
    error_span_count,
    first_token_ms,
    inference_fraction,
    self_time_ms,
    slowest_trace,
    top_self_time_operation,
    windowed,
)
from labkit.query.jaeger import traces_to_frame
from tests.unit.exercise_helpers import cases

WINDOW = {"start": 1_700_000_000.0, "end": 1_700_000_060.0}  # long past: no flush wait
T0 = int(WINDOW["start"] * 1e6) + 1_000_000
MS = 1000  # microseconds


def _span(trace: str, span: str, parent: str | None, op: str, start_ms: float, dur_ms: float,
          *, error: bool = False, logs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    tags = [{"key": "otel.status_code", "type": "string", "value": "ERROR"},
            {"key": "error", "type": "bool", "value": True}] if error else []
    refs = [{"refType": "CHILD_OF", "traceID": trace, "spanID": parent}] if parent else []
    return {"traceID": trace, "spanID": span, "operationName": op, "references": refs,
            "startTime": T0 + int(start_ms * MS), "duration": int(dur_ms * MS), "tags": tags,
            "logs": logs or [], "processID": "p1"}


def _request(n: int, *, delay: float = 0.0, infer: float = 20.0, error: bool = False,
             ttft: float | None = None) -> dict[str, Any]:
    """One gateway trace: server → chat_completion → tokenize, inference, post_process."""
    tid = f"{n:032x}"
    ids = [f"{n:04x}{i:012x}" for i in range(5)]
    at = 1000.0 * n
    if error:
        spans = [_span(tid, ids[0], None, traces.ROOT, at, 1.0, error=True),
                 _span(tid, ids[1], ids[0], "chat_completion", at + 0.1, 0.8, error=True)]
    else:
        total = delay + 2 + infer + 1
        logs = [] if ttft is None else [{"timestamp": T0, "fields": [
            {"key": "event", "type": "string", "value": "gen_ai.first_token"},
            {"key": "gen_ai.server.time_to_first_token", "type": "float64",
             "value": ttft / 1000}]}]
        spans = [
            _span(tid, ids[0], None, traces.ROOT, at, total + 1),
            _span(tid, ids[1], ids[0], "chat_completion", at + 0.5, total),
            _span(tid, ids[2], ids[1], "tokenize", at + 0.5 + delay, 2),
            _span(tid, ids[3], ids[1], "inference", at + 2.5 + delay, infer, logs=logs),
            _span(tid, ids[4], ids[1], "post_process", at + 2.5 + delay + infer, 0.5),
        ]
    return {"traceID": tid, "spans": spans,
            "processes": {"p1": {"serviceName": "llm-api", "tags": []}}}


def _payload() -> dict[str, Any]:
    data = [_request(1, infer=20, ttft=5), _request(2, infer=30, ttft=7),
            _request(3, infer=40, ttft=9), _request(4, delay=300, infer=20),
            _request(5, error=True), _request(6, error=True)]
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


def _window_payload() -> dict[str, Any]:
    """The six traces and 14 ordinary ones: a window of the notebook's size (20+ traces)."""
    payload = _payload()
    payload["data"] += [_request(n, delay=40, infer=25, ttft={7: 30, 8: 40}.get(n))
                        for n in range(7, 21)]
    return payload


class FakeJaeger:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload, self.calls = payload, []  # type: list[dict[str, Any]]

    def fetch_traces(self, service: str, **search: Any) -> dict[str, Any]:
        self.calls.append({"service": service, **search})
        return self.payload


class FakeLoki:
    """Answers LogQL by filtering stored lines on the text after ``|=`` or ``trace_id=``."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def query_range(self, logql: str, **_: Any) -> pd.DataFrame:
        if logql.startswith("sum"):
            return pd.DataFrame({"timestamp": [pd.Timestamp(0, tz="UTC")], "value": [1.0]})
        needle = logql.rsplit('"', 2)[-2]
        rows = [(pd.Timestamp(i, unit="s", tz="UTC"), line)
                for i, line in enumerate(self.lines) if needle in line]
        return pd.DataFrame(rows, columns=["timestamp", "line"])


class FakeLab:
    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.jaeger = FakeJaeger(payload or _window_payload())
        self.loki = FakeLoki([f'{{"trace_id": "{n:032x}"}}' for n in range(1, 7)])


@pytest.fixture
def spans() -> pd.DataFrame:
    return traces_to_frame(_payload())


def test_windowed_keeps_unanswered_answers_unanswered() -> None:
    """No answer stays None, so the student copy reports 'not attempted'."""
    assert windowed(None, WINDOW) is None
    assert windowed(..., WINDOW) is None
    assert windowed("  ", WINDOW) is None
    assert windowed(3, WINDOW) == {"answer": 3, **WINDOW}


def test_slowest_trace_is_the_longest_server_span(spans: pd.DataFrame) -> None:
    """The request with the injected delay is the slowest."""
    assert slowest_trace(spans) == f"{4:032x}"


def test_self_time_subtracts_children(spans: pd.DataFrame) -> None:
    """chat_completion's self time is its duration minus tokenize, inference and post_process."""
    frame = spans.assign(self_ms=self_time_ms(spans))
    delayed = frame[(frame.trace_id == f"{4:032x}")].set_index("operation")["self_ms"]
    assert delayed["chat_completion"] == pytest.approx(300.5, abs=0.01)
    assert delayed[traces.ROOT] == pytest.approx(1.0, abs=0.01)
    assert delayed["inference"] == pytest.approx(20.0, abs=0.01)


def test_top_self_time_operation_ranks_by_p95(spans: pd.DataFrame) -> None:
    """With one delayed request of four, the p95 self time of chat_completion wins."""
    ranking = top_self_time_operation(spans)
    assert ranking.index[0] == "chat_completion"
    assert ranking.is_monotonic_decreasing


def test_inference_fraction_over_all_requests(spans: pd.DataFrame) -> None:
    """Inference time over the server spans' time, failed requests included."""
    total = 24 + 34 + 44 + 324 + 1 + 1
    assert inference_fraction(spans) == pytest.approx((20 + 30 + 40 + 20) / total, rel=1e-3)


def test_error_span_count(spans: pd.DataFrame) -> None:
    """Two failed requests, two error spans each."""
    assert error_span_count(spans) == 4


def test_first_token_ms_reads_span_events() -> None:
    """One TTFT per streaming trace, in milliseconds."""
    ttft = first_token_ms(_payload())
    assert sorted(ttft.round(6)) == [5.0, 7.0, 9.0]


@pytest.mark.parametrize(
    ("exercise", "answer", "status"),
    [
        ("traces.slowest_trace", f"{4:032x}", "passed"),
        ("traces.slowest_trace", f"{1:032x}", "failed"),
        ("traces.slowest_trace", "4", "passed"),  # Jaeger accepts ids without leading zeros
        ("traces.top_self_time_operation", "chat_completion", "passed"),
        ("traces.top_self_time_operation", "inference", "failed"),
        ("traces.top_self_time_operation", "nope", "failed"),
        # inference 20+30+40+20 + 14*25 ms over requests 24+34+44+324+1+1 + 14*69 ms
        ("traces.inference_fraction", 460 / 1394, "passed"),
        ("traces.inference_fraction", 0.5, "failed"),
        ("traces.error_spans", 4, "passed"),
        ("traces.error_spans", 2, "failed"),
        ("traces.error_spans", "4", "failed"),
        ("traces.ttft_p50_ms", 9.0, "passed"),  # first tokens at 5, 7, 9, 30 and 40 ms
        ("traces.ttft_p50_ms", 7.0, "failed"),
        ("traces.trace_logs", f'{{job="llm-api"}} |= "{4:032x}"', "passed"),
        ("traces.trace_logs", f'{{job="llm-api"}} | json | trace_id="{4:032x}"', "passed"),
        ("traces.trace_logs", '{job="llm-api"} |= "trace_id"', "failed"),
        ("traces.trace_logs", 'sum(count_over_time({job="llm-api"}[1m]))', "failed"),
    ],
    ids=lambda v: str(v)[:24],
)
def test_checks_recompute_from_the_window(exercise: str, answer: Any, status: str) -> None:
    """Each check recomputes the reference from the traces of the answer's window."""
    verdict = evaluate(exercise, windowed(answer, WINDOW), FakeLab())
    assert verdict.status == status, verdict.detail


def test_checks_search_the_answers_window() -> None:
    """The check asks Jaeger for the window that came with the answer, not for 'now'."""
    lab = FakeLab()
    evaluate("traces.error_spans", windowed(4, WINDOW), lab)
    (call,) = lab.jaeger.calls
    assert (call["service"], call["start"], call["end"]) == ("llm-api", WINDOW["start"],
                                                              WINDOW["end"])


def test_answer_without_window_fails_with_a_hint() -> None:
    """A bare answer (no window) fails and says how to pass one."""
    verdict = evaluate("traces.error_spans", 4, FakeLab())
    assert verdict.status == "failed" and "windowed(" in verdict.detail


def test_a_window_with_a_few_traces_is_not_the_notebooks() -> None:
    """A window holding a handful of traces (chosen to make the answer easy) fails."""
    few = _window_payload()
    few["data"] = few["data"][:3]
    verdict = evaluate("traces.slowest_trace", windowed(f"{3:032x}", WINDOW), FakeLab(few))
    assert verdict.status == "failed" and "3 llm-api trace(s)" in verdict.detail


def test_verdicts_record_their_window() -> None:
    """Each verdict names the window it recomputed the answer over."""
    verdict = evaluate("traces.error_spans", windowed(4, WINDOW), FakeLab())
    assert verdict.evaluated_on == {"live": {"start": WINDOW["start"], "end": WINDOW["end"]}}


def test_empty_window_fails_clearly() -> None:
    """No traces in the window: the learner is told to run the traffic cells."""
    verdict = evaluate("traces.slowest_trace", windowed("ab", WINDOW),
                       FakeLab({"data": [], "total": 0, "limit": 0, "offset": 0, "errors": None}))
    assert verdict.status == "failed" and "traffic" in verdict.detail


def test_unpack_rejects_reversed_window() -> None:
    """A window that ends before it starts is refused."""
    with pytest.raises(CheckFailed, match="ends before"):
        traces._unpack({"answer": 1, "start": 2.0, "end": 1.0})


SLOWEST = f"{4:032x}"
TABLES = {
    "traces.slowest_trace": cases(
        [SLOWEST, "4", SLOWEST.upper()],
        {"second-slowest": f"{3:032x}", "fastest": f"{1:032x}", "an-error": f"{5:032x}",
         "its-root-span-id": f"{4:04x}{0:012x}", "not-in-window": "f" * 32, "empty-id": "0"}),
    "traces.top_self_time_operation": [
        pytest.param("chat_completion", "passed", id="right-0"),
        *cases([], {"inference": "inference", "the-root": traces.ROOT, "tokenize": "tokenize",
                    "post_process": "post_process", "unknown": "nope"})],
    "traces.inference_fraction": cases(
        [460 / 1394, 460 / 1394 * 1.01],
        {"half": 0.5, "zero": 0, "one": 1, "percent": 100 * 460 / 1394,
         "first-six-traces": 110 / 428,
         "mean-per-trace": (20 / 24 + 30 / 34 + 40 / 44 + 20 / 324 + 14 * 25 / 69) / 20}),
    "traces.error_spans": cases(
        [4, 4.0],
        {"error-traces": 2, "zero": 0, "one": 1, "all-spans-of-errors": 6, "as-text": "4",
         "true": True}),
    "traces.ttft_p50_ms": cases(
        [9.0, 9.1],
        {"mean": 18.2, "seconds": 0.009, "max": 40.0, "min": 5.0, "zero": 0.0,
         "first-three-only": 7.0}),
    "traces.trace_logs": cases(
        [f'{{job="llm-api"}} |= "{SLOWEST}"', f'{{job="llm-api"}} | json | trace_id="{SLOWEST}"'],
        {"any-trace": '{job="llm-api"} |= "trace_id"', "every-line": '{job="llm-api"}',
         "errors-only": f'{{job="llm-api", level="ERROR"}} |= "{SLOWEST}"',
         "another-trace": f'{{job="llm-api"}} |= "{1:032x}"',
         "metric": f'count_over_time({{job="llm-api"}} |= "{SLOWEST}" [1m])'}),
}


@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in TABLES.items() for p in params])
def test_only_right_answers_pass(exercise_id: str, answer: Any, expected: str) -> None:
    """On a window of 20 traces, each right answer passes and each plausible wrong one fails."""
    verdict = evaluate(exercise_id, windowed(answer, WINDOW), FakeLab())
    assert verdict.status == expected, verdict.detail


def test_every_traces_exercise_has_a_table() -> None:
    """At least five wrong answers each; two right ones where more than one can be right."""
    from labkit.exercises import all_exercises

    assert {e.id for e in all_exercises("traces.")} == set(TABLES)
    for ex, params in TABLES.items():
        assert sum(p.values[1] == "failed" for p in params) >= 5
        if ex != "traces.top_self_time_operation":  # an operation has one name
            assert sum(p.values[1] == "passed" for p in params) >= 2
