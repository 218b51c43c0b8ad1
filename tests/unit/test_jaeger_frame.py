"""The Jaeger client's pure parts: span frames, trees, critical paths, waterfalls, logs."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import matplotlib
import pandas as pd
import pytest

from labkit.errors import QueryError, QueryHTTPError
from labkit.plots import plot_waterfall
from labkit.query.jaeger import (
    COLUMNS,
    Jaeger,
    critical_path,
    trace_logs,
    trace_tree,
    traces_to_frame,
)

matplotlib.use("Agg")
FIXTURES = Path(__file__).parent / "fixtures" / "jaeger"
TRACE = "5b8efff798038103d269b633813fc60c"


def _payload() -> dict:
    return {
        "data": [json.loads((FIXTURES / "sdk_export.jaeger.json").read_text())],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


def _frame(
    spans: list[tuple[str, str | None, float, float]], errors: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A span frame from (span_id, parent_id, start_ms, duration_ms) rows."""
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DataFrame(
        [
            (
                "t1",
                sid,
                parent,
                "svc",
                f"op-{sid}",
                t0 + pd.Timedelta(milliseconds=start),
                dur,
                "error" if sid in errors else "ok",
                {},
            )
            for sid, parent, start, dur in spans
        ],
        columns=COLUMNS,
    )


def test_traces_to_frame_has_one_row_per_span_with_documented_columns() -> None:
    """Each span becomes a row with parent, service, UTC start, duration in ms and status."""
    frame = traces_to_frame(_payload())
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 4
    root = frame[frame.operation == "POST /v1/chat/completions"].iloc[0]
    assert root.parent_id is None
    assert root.trace_id == TRACE and root.service == "llm-api"
    assert root.start == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert root.duration_ms == 120.0
    inference = frame[frame.operation == "inference"].iloc[0]
    assert inference.parent_id == "1000000000000001"  # CHILD_OF, not the FOLLOWS_FROM link
    assert inference.attributes["gen_ai.request.model"] == "tiny"
    assert dict(zip(frame.operation, frame.status, strict=True)) == {
        "POST /v1/chat/completions": "error",
        "tokenize": "unset",
        "inference": "unset",
        "post_process": "error",
    }


def test_traces_to_frame_of_nothing_has_the_columns() -> None:
    """An empty search still gives a frame with every column, so code downstream runs."""
    frame = traces_to_frame({"data": [], "errors": None})
    assert list(frame.columns) == COLUMNS and frame.empty


def test_trace_tree_nests_children_in_start_order() -> None:
    """The tree has the root on top, children sorted by start and depths set."""
    roots = trace_tree(traces_to_frame(_payload()))
    assert [r.operation for r in roots] == ["POST /v1/chat/completions"]
    assert [c.operation for c in roots[0].children] == ["tokenize", "inference", "post_process"]
    assert {n.depth for n in roots[0].children} == {1}


def test_trace_tree_needs_a_trace_id_when_the_frame_holds_several() -> None:
    """Asking for a tree of a multi-trace frame names the problem."""
    frame = pd.concat(
        [_frame([("a", None, 0, 1)]), _frame([("b", None, 0, 1)]).assign(trace_id="t2")]
    )
    with pytest.raises(ValueError, match="holds 2 traces"):
        trace_tree(frame)
    assert [r.span_id for r in trace_tree(frame, "t2")] == ["b"]


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        (
            [("r", None, 0, 100), ("a", "r", 10, 30), ("b", "r", 50, 40)],
            [("r", 30.0), ("a", 30.0), ("b", 40.0)],
        ),
        ([("r", None, 0, 100), ("a", "r", 10, 80), ("b", "r", 20, 30)], [("r", 20.0), ("a", 80.0)]),
        (
            [("r", None, 0, 100), ("a", "r", 0, 100), ("b", "a", 10, 20), ("c", "a", 40, 50)],
            [("a", 30.0), ("b", 20.0), ("c", 50.0)],
        ),
        ([("r", None, 0, 50), ("a", "r", 40, 30)], [("r", 40.0), ("a", 10.0)]),
        ([("r", None, 0, 100), ("a", "r", 0, 40), ("b", "r", 40, 60)], [("a", 40.0), ("b", 60.0)]),
    ],
    ids=[
        "sequential-children",
        "overlapping-children",
        "nested",
        "child-overflows-parent",
        "back-to-back",
    ],
)
def test_critical_path_attributes_self_time(spans: list, expected: list) -> None:
    """The path steps into the last-finishing child; self times add up to the root's duration."""
    path = critical_path(_frame(spans), "t1")
    assert [(p.span_id, round(p.self_ms, 3)) for p in path] == expected
    assert sum(p.self_ms for p in path) == pytest.approx(spans[0][3])


def test_waterfall_draws_a_bar_per_span_with_errors_in_red() -> None:
    """One bar per span, indented labels by depth, red bars for error spans."""
    frame = _frame([("r", None, 0, 100), ("a", "r", 10, 30), ("b", "a", 15, 5)], errors=("b",))
    ax = plot_waterfall(frame, "t1")
    bars = ax.patches
    assert len(bars) == 3
    reds = [b for b in bars if b.get_facecolor()[:3] == matplotlib.colors.to_rgb("tab:red")]
    assert len(reds) == 1 and reds[0].get_x() == pytest.approx(15)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["svc: op-r", "    svc: op-a", "        svc: op-b"]


class _FakeLoki:
    def __init__(self) -> None:
        self.calls: list = []

    def query_range(self, logql: str, **kwargs: object) -> pd.DataFrame:
        self.calls.append((logql, kwargs))
        return pd.DataFrame({"line": ["x"]})


def test_trace_logs_asks_loki_for_the_full_trace_id() -> None:
    """The LogQL filters the job's JSON lines by the 32-digit trace id."""
    loki = _FakeLoki()
    trace_logs("00000000000000ABC", loki, start="-1h")
    assert loki.calls == [
        ('{job="llm-api"} | json | trace_id="' + "0" * 29 + 'abc"', {"limit": 1000, "start": "-1h"})
    ]


@pytest.mark.parametrize("bad", ['abc" or 1', "", "g" * 8], ids=["injection", "empty", "not-hex"])
def test_trace_logs_refuses_ids_that_are_not_hex(bad: str) -> None:
    """A trace id that is not hex never reaches LogQL."""
    with pytest.raises(ValueError, match="hexadecimal"):
        trace_logs(bad, _FakeLoki())


def _client(status: int, body: object, seen: list | None = None) -> Jaeger:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, text=json.dumps(body), headers={"Content-Type": "text/plain"})

    return Jaeger("http://jaeger.test", transport=httpx.MockTransport(handler))


def test_http_errors_carry_jaegers_message() -> None:
    """A Jaeger error envelope becomes QueryHTTPError with its msg, status and URL."""
    body = {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": 400, "msg": "parameter 'service' is required"}],
    }
    with pytest.raises(QueryHTTPError, match="parameter 'service' is required") as info:
        _client(400, body).find_traces("llm-api")
    assert info.value.status == 400 and "jaeger.test" in info.value.url


def test_find_traces_sends_jaeger_parameters() -> None:
    """Tags go as a JSON map of strings, durations in Go syntax, the window in microseconds."""
    seen: list[httpx.Request] = []
    _client(200, _payload(), seen).find_traces(
        "llm-api",
        operation="inference",
        tags={"error": True, "http.response.status_code": 500},
        min_duration=250,
        max_duration="2s",
        start=100.0,
        end=160.0,
        limit=5,
    )
    q = seen[0].url.params
    assert json.loads(q["tags"]) == {"error": "true", "http.response.status_code": "500"}
    assert (q["minDuration"], q["maxDuration"]) == ("250000us", "2s")
    assert (q["start"], q["end"], q["limit"], q["operation"]) == (
        "100000000",
        "160000000",
        "5",
        "inference",
    )


def test_unreachable_jaeger_says_what_to_do() -> None:
    """A refused connection is a QueryError naming the URL and `labkit up`."""
    with (
        Jaeger("http://127.0.0.1:9", timeout=2) as jaeger,
        pytest.raises(QueryError, match="labkit up"),
    ):
        jaeger.services()
