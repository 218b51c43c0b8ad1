"""The traces exercises (notebook 03) checked against stored Jaeger JSON and a fake lab."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from labkit.exercises.core import evaluate
from labkit.exercises.sets import traces
from labkit.exercises.sets.traces import windowed
from labkit.exercises.trace_answers import on_traces
from labkit.exercises.trace_fixture import FIXTURE_ID
from labkit.exercises.trace_solutions import (
    error_span_count,
    first_token_ms,
    inference_fraction,
    self_time_ms,
    slowest_trace,
    top_self_time_operation,
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
    """A live Jaeger holding ``payload`` for any search."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload, self.calls = payload, []  # type: list[dict[str, Any]]

    def fetch_traces(self, service: str, **search: Any) -> dict[str, Any]:
        self.calls.append({"service": service, **search})
        return self.payload

    def find_traces(self, service: str, **search: Any) -> pd.DataFrame:
        return traces_to_frame(self.fetch_traces(service, **search))


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


EMPTY = {"data": [], "total": 0, "limit": 0, "offset": 0, "errors": None}


class FakeLab:
    def __init__(self, payload: dict[str, Any] | None = None) -> None:
        self.jaeger = FakeJaeger(_window_payload() if payload is None else payload)
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



# -- function answers, judged on the fixed traces (an empty live Jaeger: the fixture decides) --

ROOT = traces.ROOT


def _spans(j: Any, w: dict[str, float], service: str = "llm-api", **search: Any) -> pd.DataFrame:
    search.setdefault("limit", 5000)
    return j.find_traces(service, start=w["start"], end=w["end"], **search)


def _roots(spans: pd.DataFrame) -> pd.DataFrame:
    return spans[spans.operation == ROOT]


def _self(spans: pd.DataFrame) -> pd.DataFrame:
    children = spans.groupby(["trace_id", "parent_id"]).duration_ms.sum()
    own = [children.get((t, s), 0.0) for t, s in zip(spans.trace_id, spans.span_id, strict=True)]
    return spans.assign(self_ms=spans.duration_ms - own)


def _ttfts(j: Any, w: dict[str, float], **search: Any) -> pd.Series:
    search.setdefault("limit", 5000)
    found = j.fetch_traces("llm-api", start=w["start"], end=w["end"], **search)
    return pd.Series([float(f["value"]) * 1000 for t in found["data"] for s in t["spans"]
                      for log in s["logs"] for f in log["fields"]
                      if f["key"] == "gen_ai.server.time_to_first_token"])


def _fraction(spans: pd.DataFrame, part: str = "inference", whole: str = ROOT) -> float:
    return (spans.loc[spans.operation == part, "duration_ms"].sum()
            / spans.loc[spans.operation == whole, "duration_ms"].sum())


def _slowest(spans: pd.DataFrame) -> str:
    return _roots(spans).sort_values("duration_ms").trace_id.iloc[-1]


def _errors(spans: pd.DataFrame) -> int:
    return int((spans.status == "error").sum())


FUNCTION_TABLES: dict[str, list[Any]] = {
    "traces.slowest_trace": cases(
        [lambda j, w: _slowest(_spans(j, w)),
         lambda j, w: _roots(_spans(j, w, min_duration="1ms")).set_index("trace_id")
         .duration_ms.idxmax().upper()],
        {"default-limit": lambda j, w: _slowest(_spans(j, w, limit=20)),
         "longest-chat-completion": lambda j, w: _spans(j, w).query(
             "operation == 'chat_completion'").sort_values("duration_ms").trace_id.iloc[-1],
         "wrong-service": lambda j, w: _slowest(_spans(j, w, "llm-batch")),
         "a-single-trace": lambda j, w: _slowest(_spans(j, w, limit=1)),
         "fastest": lambda j, w: _roots(_spans(j, w)).sort_values("duration_ms").trace_id.iloc[0],
         "span-id": lambda j, w: _roots(_spans(j, w)).sort_values("duration_ms").span_id.iloc[-1],
         "a-constant": lambda j, w: "0" * 31 + "1"}),
    "traces.top_self_time_operation": cases(
        [lambda j, w: _self(_spans(j, w)).groupby("operation").self_ms.quantile(0.95).idxmax(),
         lambda j, w: str(top_self_time_operation(_spans(j, w)).index[0])],
        {"mean": lambda j, w: _self(_spans(j, w)).groupby("operation").self_ms.mean().idxmax(),
         "median": lambda j, w: _self(_spans(j, w)).groupby("operation").self_ms.median()
         .idxmax(),
         "p99": lambda j, w: _self(_spans(j, w)).groupby("operation").self_ms.quantile(0.99)
         .idxmax(),
         "max": lambda j, w: _self(_spans(j, w)).groupby("operation").self_ms.max().idxmax(),
         "duration-not-self": lambda j, w: _spans(j, w).query(f"operation != '{ROOT}'")
         .groupby("operation").duration_ms.quantile(0.95).idxmax(),
         "a-constant": lambda j, w: "chat_completion"}),
    "traces.inference_fraction": cases(
        [lambda j, w: _fraction(_spans(j, w)),
         lambda j, w: inference_fraction(_spans(j, w, tags={"otel.scope.name":
                                                                    "labkit.gateway"}))],
        {"over-chat-completion": lambda j, w: _fraction(_spans(j, w), whole="chat_completion"),
         "mean-of-ratios": lambda j, w: _spans(j, w).pivot_table(
             index="trace_id", columns="operation", values="duration_ms", aggfunc="sum")
         .fillna(0).eval(f"inference / `{ROOT}`").mean(),
         "default-limit": lambda j, w: _fraction(_spans(j, w, limit=20)),
         "self-time": lambda j, w: _fraction(_self(_spans(j, w)).assign(
             duration_ms=lambda f: f.self_ms.where(f.operation == "inference", f.duration_ms))),
         "percent": lambda j, w: 100 * _fraction(_spans(j, w)),
         "a-constant": lambda j, w: 0.5}),
    "traces.error_spans": cases(
        [lambda j, w: _errors(_spans(j, w)),
         lambda j, w: _errors(_spans(j, w, tags={"error": "true"}, limit=1000))],
        {"error-traces": lambda j, w: _spans(j, w).query("status == 'error'").trace_id.nunique(),
         "chat-spans-only": lambda j, w: _errors(_spans(j, w).query(
             "operation == 'chat_completion'")),
         "default-limit": lambda j, w: _errors(_spans(j, w, limit=20)),
         "tag-search-of-five": lambda j, w: _errors(_spans(j, w, tags={"error": "true"},
                                                           limit=5)),
         "wrong-service": lambda j, w: _errors(_spans(j, w, "llm-batch")),
         "http-4xx-and-5xx": lambda j, w: int(sum(a.get("http.response.status_code", 0) >= 400
                                                  for a in _spans(j, w).attributes)),
         "a-constant": lambda j, w: 0}),
    "traces.ttft_p50_ms": cases(
        [lambda j, w: _ttfts(j, w).median(),
         lambda j, w: float(_ttfts(j, w, limit=1000).quantile(0.5))],
        {"mean": lambda j, w: _ttfts(j, w).mean(),
         "seconds": lambda j, w: _ttfts(j, w).median() / 1000,
         "p95": lambda j, w: _ttfts(j, w).quantile(0.95),
         "default-limit": lambda j, w: _ttfts(j, w, limit=20).median(),
         "min": lambda j, w: _ttfts(j, w).min(),
         "a-constant": lambda j, w: 20.0}),
}


@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in FUNCTION_TABLES.items() for p in params])
def test_only_right_functions_pass_on_the_fixed_traces(exercise_id: str, answer: Any,
                                                       expected: str) -> None:
    """On the fixed traces alone (nothing live), right functions pass and wrong ones fail."""
    lab = FakeLab(EMPTY)
    verdict = evaluate(exercise_id, on_traces(answer, WINDOW, lab), lab)
    assert verdict.status == expected, verdict.detail
    assert verdict.evaluated_on["fixture"] == FIXTURE_ID


def test_a_function_right_on_the_fixture_must_be_right_live_too() -> None:
    """Live traces in the window: the function's live result is compared with the reference."""
    lab = FakeLab()
    right = evaluate("traces.error_spans", on_traces(lambda j, w: _errors(_spans(j, w)),
                                                     WINDOW, lab), lab)
    assert right.passed, right.detail
    assert right.evaluated_on["live"] == {"start": WINDOW["start"], "end": WINDOW["end"],
                                          "found": 20, "compared": True}
    record = on_traces(lambda j, w: _errors(_spans(j, w)), WINDOW, FakeLab(EMPTY))
    record["live"] = {"value": 5}  # the window holds 4 error spans
    wrong = evaluate("traces.error_spans", record, lab)
    assert wrong.status == "failed" and "not on the live window" in wrong.detail


def test_the_live_search_uses_the_answers_window() -> None:
    """The function and the reference both search the window that came with the answer."""
    lab = FakeLab()
    evaluate("traces.error_spans", on_traces(lambda j, w: _errors(_spans(j, w)), WINDOW, lab),
             lab)
    assert {(c["service"], c["start"], c["end"]) for c in lab.jaeger.calls} == {
        ("llm-api", WINDOW["start"], WINDOW["end"])}


def test_function_answers_unanswered_and_malformed() -> None:
    """None stays 'not attempted'; a value instead of a function, a bare value or a function
    that raises fail with a message that says what to do."""
    lab = FakeLab(EMPTY)
    assert on_traces(None, WINDOW, lab) is None
    assert evaluate("traces.error_spans", on_traces(None, WINDOW, lab), lab).status == \
        "not attempted"
    value = evaluate("traces.error_spans", on_traces(4, WINDOW, lab), lab)
    assert value.status == "failed" and "on_traces(your_function, WINDOW)" in value.detail
    bare = evaluate("traces.error_spans", 4, lab)
    assert bare.status == "failed" and "on_traces(" in bare.detail
    raising = evaluate("traces.error_spans", on_traces(lambda j, w: 1 / 0, WINDOW, lab), lab)
    assert raising.status == "failed" and "ZeroDivisionError" in raising.detail
    old = {**on_traces(lambda j, w: 0, WINDOW, lab), "fixture": "gateway-traces-v0"}
    assert "run the answer's cells again" in evaluate("traces.error_spans", old, lab).detail


def test_records_are_plain_json() -> None:
    """What on_traces records survives JSON (numpy scalars become Python numbers)."""
    import json

    lab = FakeLab(EMPTY)
    record = on_traces(lambda j, w: _spans(j, w).duration_ms.sum(), WINDOW, lab)
    assert json.loads(json.dumps(record)) == record


SLOWEST = f"{4:032x}"
LOG_TABLE = cases(
    [f'{{job="llm-api"}} |= "{SLOWEST}"', f'{{job="llm-api"}} | json | trace_id="{SLOWEST}"'],
    {"any-trace": '{job="llm-api"} |= "trace_id"', "every-line": '{job="llm-api"}',
     "errors-only": f'{{job="llm-api", level="ERROR"}} |= "{SLOWEST}"',
     "another-trace": f'{{job="llm-api"}} |= "{1:032x}"',
     "metric": f'count_over_time({{job="llm-api"}} |= "{SLOWEST}" [1m])'})


@pytest.mark.parametrize(("answer", "expected"), [pytest.param(*p.values, id=p.id)
                                                  for p in LOG_TABLE])
def test_only_right_trace_log_queries_pass(answer: str, expected: str) -> None:
    """The slowest live trace's lines: on the fixed log streams, then live over the window."""
    verdict = evaluate("traces.trace_logs", windowed(answer, WINDOW), FakeLab())
    assert verdict.status == expected, verdict.detail


def test_every_traces_exercise_has_a_table() -> None:
    """At least five wrong answers and two right ones each."""
    from labkit.exercises import all_exercises

    tables = {**FUNCTION_TABLES, "traces.trace_logs": LOG_TABLE}
    assert {e.id for e in all_exercises("traces.")} == set(tables)
    for params in tables.values():
        assert sum(p.values[1] == "failed" for p in params) >= 5
        assert sum(p.values[1] == "passed" for p in params) >= 2


def test_the_fixture_travels_over_otlp_and_back_through_the_query_api() -> None:
    """The fixed traces are an OTLP protobuf export (two services), and the in-process Jaeger
    gives back the sixty llm-api requests of the window, their errors and first tokens."""
    from labkit.exercises.trace_fixture import export_request, fixture_traces
    from labkit.standins.jaeger.otlp import PROTOBUF, decode_request

    request = decode_request(export_request(), PROTOBUF)
    services = {kv.value.string_value for rs in request.resource_spans
                for kv in rs.resource.attributes if kv.key == "service.name"}
    assert services == {"llm-api", "llm-batch"}
    fixture = fixture_traces()
    spans = _spans(fixture.source, fixture.window)
    assert spans.trace_id.nunique() == 60
    assert set(spans.operation) == {ROOT, "chat_completion", "tokenize", "inference", "POST",
                                    "post_process"}
    assert (spans.status == "error").sum() > spans[spans.status == "error"].trace_id.nunique()
    assert len(_ttfts(fixture.source, fixture.window)) >= 10
