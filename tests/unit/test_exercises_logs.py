"""Notebook 02's checks, run against labkit's Loki stand-in in-process (no lab needed).

Each exercise is judged on the fixed log streams: its table lists right answers that must
pass and wrong ones (constants, another window, a missing filter or `by`, a numerator alone)
that must fail. Then, as a live Loki, gateway-like lines are pushed into a fresh stand-in:
a right answer must agree there too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from labkit.exercises.core import evaluate
from labkit.exercises.logql_fixture import InProcessTransport
from labkit.exercises.sets.logs import top_k_outcome
from labkit.query.loki import Loki, matrix_to_frame, streams_to_frame
from labkit.standins.loki.app import create_app
from tests.unit.exercise_helpers import cases

JOB = {"job": "llm-api"}


class _Lab:
    """Just what the checks use of a Lab: its Loki client."""

    def __init__(self, loki: Loki) -> None:
        self.loki = loki


def _loki(client: TestClient) -> Loki:
    return Loki("http://testserver", transport=InProcessTransport(client))


def _line(level: str, status: int, user: str, duration: float, tokens: int, *,
          error_type: str | None = None, request_id: str = "", model: str = "labkit-tiny"
          ) -> dict[str, Any]:
    obj: dict[str, Any] = {"level": level, "message": "Request completed", "module": "record",
                           "request_id": request_id, "user_id": user, "model": model,
                           "status": status, "duration_ms": duration, "tokens": tokens}
    if error_type:
        obj["error_type"] = error_type
    return obj


def _traffic() -> list[dict[str, Any]]:
    """Thirty lines: normal, injected 500s, upstream 504s, 4xx, a retried request, a fault line."""
    ok = [("user_1", 30, 40), ("user_1", 250, 52), ("user_1", 310, 45), ("user_1", 20, 41),
          ("user_1", 480, 60), ("user_1", 35, 39), ("user_2", 40, 70), ("user_2", 220, 66),
          ("user_2", 25, 71), ("user_2", 33, 90), ("user_2", 28, 30), ("user_3", 31, 44),
          ("user_3", 205, 47), ("user_3", 29, 43), ("user_4", 26, 20), ("user_4", 400, 22)]
    lines = [_line("INFO", 200, u, d, t, request_id=f"req_{i:04d}")
             for i, (u, d, t) in enumerate(ok)]
    lines += [_line("ERROR", 500, u, 0.5, 0, error_type="injected_fault", request_id=f"req_e{i}")
              for i, u in enumerate(["user_1", "user_2", "user_3", "user_1"])]
    lines += [_line("ERROR", 504, u, 55.0, 0, error_type="upstream_timeout",
                    request_id=f"req_t{i}") for i, u in enumerate(["user_2", "user_4"])]
    lines += [_line("WARNING", 400, "user_8", 0.4, 0, error_type="invalid_json",
                    request_id=f"req_b{i}", model="unknown") for i in range(2)]
    lines.append({"level": "WARNING", "message": "Faults changed", "faults": {"error_rate": 0.3}})
    lines += [_line("ERROR", 500, "user_7", 1.0, 0, error_type="injected_fault",
                    request_id="req_retry_0123456789ab"),
              _line("ERROR", 504, "user_7", 12.0, 0, error_type="upstream_timeout",
                    request_id="req_retry_0123456789ab"),
              _line("INFO", 200, "user_7", 900.0, 160, request_id="req_retry_0123456789ab")]
    return lines


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[_Lab]:
    with TestClient(create_app(tmp_path / "loki")) as client:
        loki = _loki(client)
        now = time.time()
        old = {"level": "INFO", "message": "Request completed",
               "request_id": "req_retry_0123456789ff", "status": 200, "duration_ms": 10.0,
               "tokens": 5, "user_id": "user_7", "model": "labkit-tiny"}
        loki.push([(now - 55, json.dumps(old))], {**JOB, "level": "INFO"})
        lines = _traffic()
        step = 45 / len(lines)
        for level in ("INFO", "WARNING", "ERROR"):
            mine = [(now - 50 + i * step, json.dumps(obj)) for i, obj in enumerate(lines)
                    if obj["level"] == level]
            loki.push(mine, {**JOB, "level": level})
        yield _Lab(loki)


CASES = [
    ("logs.volume_by_level", 'sum by (level) (count_over_time({job="llm-api"}[1m]))', True),
    ("logs.volume_by_level", 'sum by (level) (rate({job="llm-api"}[1m])) * 60', True),
    ("logs.volume_by_level", 'sum(count_over_time({job="llm-api"}[1m]))', False),
    ("logs.line_filter", '{job="llm-api"} |= "ERROR" != "injected_fault"', True),
    ("logs.line_filter", '{job="llm-api", level="ERROR"} |= "upstream_timeout"', False),
    ("logs.line_filter", '{job="llm-api"} |= "ERROR"', False),
    ("logs.line_filter", 'count_over_time({job="llm-api"} |= "ERROR" [1m])', False),
    ("logs.slow_user", '{job="llm-api"} | json | duration_ms > 200 and user_id="user_1"', True),
    ("logs.slow_user", '{job="llm-api"} |= "user_1" | json | duration_ms > 200', True),
    ("logs.slow_user", '{job="llm-api"} | json | duration_ms > 200', False),
    ("logs.p95_duration", 'quantile_over_time(0.95, {job="llm-api"} | json | message="Request '
                          'completed" | unwrap duration_ms [1m]) by (model)', True),
    ("logs.p95_duration", 'quantile_over_time(0.95, {job="llm-api"} | json | unwrap duration_ms'
                          ' | __error__="" [1m]) by (model)', True),
    ("logs.p95_duration", 'quantile_over_time(0.5, {job="llm-api"} |= "Request completed" '
                          '| json | unwrap duration_ms [1m]) by (model)', False),
    ("logs.error_ratio", 'sum(count_over_time({job="llm-api"} | json | status >= 500 [1m])) / '
                         'sum(count_over_time({job="llm-api"} | json | message="Request '
                         'completed" [1m]))', True),
    ("logs.error_ratio", 'sum(rate({job="llm-api", level="ERROR"} |= "Request completed" [1m]))'
                         ' / sum(rate({job="llm-api"} |= "Request completed" [1m]))', True),
    ("logs.error_ratio", 'sum(rate({job="llm-api"} |= "ERROR" [1m])) / '
                         'sum(rate({job="llm-api"} [1m]))', False),
    ("logs.top_users_tokens", 'topk(3, sum by (user_id) (sum_over_time({job="llm-api"} |= '
                              '"Request completed" | json | unwrap tokens [1m])))', True),
    ("logs.top_users_tokens", 'topk(3, sum by (user_id) (sum_over_time({job="llm-api"} | json '
                              '| unwrap tokens | __error__="" [1m])))', True),
    ("logs.top_users_tokens", 'bottomk(3, sum by (user_id) (sum_over_time({job="llm-api"} |= '
                              '"Request completed" | json | unwrap tokens [1m])))', False),
    ("logs.top_users_tokens", 'topk(2, sum by (user_id) (sum_over_time({job="llm-api"} |= '
                              '"Request completed" | json | unwrap tokens [1m])))', False),
    ("logs.request_lines", '{job="llm-api"} |= "req_retry_0123456789ab"', True),
    ("logs.request_lines", '{job="llm-api"} | json | request_id="req_retry_0123456789ab"', True),
    ("logs.request_lines", '{job="llm-api"} |= "req_retry_"', False),
    ("logs.request_lines", '{job="llm-api"} |= "req_retry_0123456789ff"', True),  # an older try
    ("logs.request_lines", '{job="llm-api"} |= "req_retry_000000000000"', False),  # made up
]


@pytest.mark.parametrize(("exercise_id", "answer", "passes"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_checks_compare_results(lab: _Lab, exercise_id: str, answer: str, passes: bool) -> None:
    """Any query with the reference's result passes; one with another result fails."""
    verdict = evaluate(exercise_id, answer, lab)
    assert verdict.status == ("passed" if passes else "failed"), repr(verdict)


@pytest.mark.parametrize(("answer", "message"), [
    (42, "expected a LogQL string"),
    ('{job="llm-api"} |= ', "Loki rejected your query"),
    ('sum(count_over_time({job="llm-api"}[1m]))', "metric query"),
])
def test_bad_answers_fail_with_a_reason(lab: _Lab, answer: Any, message: str) -> None:
    """A non-string, a query Loki refuses, or a metric query for a log exercise fail clearly."""
    verdict = evaluate("logs.line_filter", answer, lab)
    assert verdict.status == "failed" and message in verdict.detail


def test_without_live_logs_the_fixture_decides(tmp_path: Path) -> None:
    """With an empty live Loki (a re-check hours later) the fixed streams decide, and the
    verdict records that nothing live was compared."""
    with TestClient(create_app(tmp_path / "empty")) as client:
        empty = _Lab(_loki(client))
        right = evaluate("logs.volume_by_level",
                         'sum by (level) (count_over_time({job="llm-api"}[1m]))', empty)
        wrong = evaluate("logs.volume_by_level", 'sum(count_over_time({job="llm-api"}[1m]))',
                         empty)
    assert (right.status, wrong.status) == ("passed", "failed")
    assert right.evaluated_on["live"]["compared"] is False
    assert right.evaluated_on["fixture"] == "gateway-logs-10m-v1"


def test_unanswered_is_not_attempted() -> None:
    """None needs no lab and reports 'not attempted'."""
    assert evaluate("logs.request_lines", None, object()).status == "not attempted"


@pytest.mark.parametrize(("got", "passes"), [
    ({"a": 10.0, "c": 5.0}, True),
    ({"a": 10.0, "b": 5.0}, True),
    ({"b": 5.0, "c": 5.0}, False),
    ({"a": 10.0}, False),
    ({"a": 10.0, "b": 4.0}, False),
    ({"a": 10.0, "z": 5.0}, False),
], ids=["tie-c", "tie-b", "not-top", "too-few", "wrong-value", "unknown-user"])
def test_top_k_accepts_either_side_of_a_tie(got: dict[str, float], passes: bool) -> None:
    """Any top-2 of a=10, b=5, c=5 passes; fewer series, wrong values or wrong users fail."""
    def keyed(values: dict[str, float]) -> dict[Any, float]:
        return {(("user_id", user),): value for user, value in values.items()}
    totals = keyed({"a": 10.0, "b": 5.0, "c": 5.0})
    assert top_k_outcome(keyed(got), totals, 2).passed is passes


def test_extracted_labels_do_not_replace_frame_columns() -> None:
    """`| json` labels named timestamp, line or value are renamed <name>_extracted."""
    streams = {"data": {"resultType": "streams", "result": [{
        "stream": {"job": "llm-api", "timestamp": "2026-01-01T00:00:00Z", "line": "100"},
        "values": [["1700000000000000000", '{"timestamp": "2026-01-01T00:00:00Z"}']]}]}}
    frame = streams_to_frame(streams)
    assert frame["timestamp"].iloc[0].value == 1_700_000_000_000_000_000
    assert frame["line"].iloc[0].startswith("{")
    assert frame["timestamp_extracted"].iloc[0] == "2026-01-01T00:00:00Z"
    assert frame["line_extracted"].iloc[0] == "100"
    matrix = {"data": {"resultType": "matrix", "result": [{
        "metric": {"timestamp": "x", "value": "y"}, "values": [[1700000000, "2"]]}]}}
    frame = matrix_to_frame(matrix)
    assert frame["value"].iloc[0] == 2.0
    assert (frame["timestamp_extracted"].iloc[0], frame["value_extracted"].iloc[0]) == ("x", "y")


# -- every exercise on the fixed streams: right answers pass, wrong ones fail -----------------

J = '{job="llm-api"}'
D = '{job="llm-api"} |= "Request completed"'
RETRY = "req_retry_0123456789ab"
TABLES = {
    "logs.volume_by_level": cases(
        [f"sum by (level) (count_over_time({J}[1m]))", f"sum by (level) (rate({J}[1m])) * 60",
         f"sum by (level) (count_over_time({J}[60s]))"],
        {"no-sum": f"count_over_time({J}[1m])", "no-by": f"sum(count_over_time({J}[1m]))",
         "rate": f"sum by (level) (rate({J}[1m]))",
         "window-5m": f"sum by (level) (count_over_time({J}[5m]))",
         "requests-only": f"sum by (level) (count_over_time({D} [1m]))",
         "by-user": f"sum by (user_id) (count_over_time({J} | json [1m]))",
         "log-query": J}),
    "logs.line_filter": cases(
        [f'{J} |= "ERROR" != "injected_fault"',
         '{job="llm-api", level="ERROR"} | json | error_type != "injected_fault"',
         f'{J} | json | level="ERROR" | error_type!="injected_fault"'],
        {"all-errors": f'{J} |= "ERROR"', "error-stream": '{job="llm-api", level="ERROR"}',
         "not-injected-any-level": f'{J} != "injected_fault"',
         "only-injected": f'{J} |= "injected_fault"',
         "only-timeouts": '{job="llm-api", level="ERROR"} |= "upstream_timeout"',
         "with-warnings": '{job="llm-api", level=~"ERROR|WARNING"} != "injected_fault"',
         "metric": f'count_over_time({J} |= "ERROR" [1m])'}),
    "logs.slow_user": cases(
        [f'{J} | json | duration_ms > 200 and user_id="user_1"',
         f'{J} |= "user_1" | json | duration_ms > 200',
         f'{J} | json | duration_ms > 200 | user_id="user_1"'],
        {"all-users": f"{J} | json | duration_ms > 200",
         "at-least": f'{J} | json | user_id="user_1" | duration_ms >= 200',
         "threshold-100": f'{J} | json | user_id="user_1" | duration_ms > 100',
         "all-of-user_1": f'{J} | json | user_id="user_1"',
         "other-user": f'{J} | json | user_id="user_2" | duration_ms > 200',
         "fast-ones": f'{J} | json | user_id="user_1" | duration_ms < 200'}),
    "logs.p95_duration": cases(
        [f"quantile_over_time(0.95, {D} | json | unwrap duration_ms [1m]) by (model)",
         f'quantile_over_time(0.95, {J} | json | message="Request completed" '
         "| unwrap duration_ms [1m]) by (model)"],
        {"p50": f"quantile_over_time(0.5, {D} | json | unwrap duration_ms [1m]) by (model)",
         "p99": f"quantile_over_time(0.99, {D} | json | unwrap duration_ms [1m]) by (model)",
         "no-by": f"quantile_over_time(0.95, {D} | json | unwrap duration_ms [1m])",
         "window-5m": f"quantile_over_time(0.95, {D} | json | unwrap duration_ms [5m]) by (model)",
         "max": f"max_over_time({D} | json | unwrap duration_ms [1m]) by (model)",
         "average": f"avg_over_time({D} | json | unwrap duration_ms [1m]) by (model)",
         "queued": f"quantile_over_time(0.95, {D} | json | unwrap queued_ms [1m]) by (model)"}),
    "logs.error_ratio": cases(
        [f"sum(count_over_time({D} | json | status >= 500 [1m])) / sum(count_over_time({D} [1m]))",
         'sum(rate({job="llm-api", level="ERROR"} |= "Request completed" [1m])) / '
         f"sum(rate({D} [1m]))"],
        {"lines-ratio": f'sum(rate({J} |= "ERROR" [1m])) / sum(rate({J} [1m]))',
         "numerator-only": f"sum(count_over_time({D} | json | status >= 500 [1m]))",
         "with-4xx": f"sum(count_over_time({D} | json | status >= 400 [1m])) / "
                     f"sum(count_over_time({D} [1m]))",
         "window-5m": f"sum(count_over_time({D} | json | status >= 500 [5m])) / "
                      f"sum(count_over_time({D} [5m]))",
         "injected-only": f'sum(count_over_time({D} |= "injected_fault" [1m])) / '
                          f"sum(count_over_time({D} [1m]))",
         "success-ratio": f"sum(count_over_time({D} | json | status < 500 [1m])) / "
                          f"sum(count_over_time({D} [1m]))"}),
    "logs.top_users_tokens": cases(
        [f"topk(3, sum by (user_id) (sum_over_time({D} | json | unwrap tokens [1m])))",
         f'topk(3, sum by (user_id) (sum_over_time({J} | json | unwrap tokens | __error__="" '
         "[1m])))"],
        {"bottomk": f"bottomk(3, sum by (user_id) (sum_over_time({D} | json | unwrap tokens "
                    "[1m])))",
         "top-2": f"topk(2, sum by (user_id) (sum_over_time({D} | json | unwrap tokens [1m])))",
         "by-requests": f"topk(3, sum by (user_id) (count_over_time({D} | json [1m])))",
         "completion-only": f"topk(3, sum by (user_id) (sum_over_time({D} | json "
                            "| unwrap completion_tokens [1m])))",
         "window-5m": f"topk(3, sum by (user_id) (sum_over_time({D} | json | unwrap tokens [5m])))",
         "rate": f"topk(3, sum by (user_id) (rate({D} | json | unwrap tokens [1m])))",
         "all-users": f"sum by (user_id) (sum_over_time({D} | json | unwrap tokens [1m]))"}),
    "logs.request_lines": cases(
        [f'{J} |= "{RETRY}"', f'{J} | json | request_id="{RETRY}"'],
        {"all-retries": f'{J} |= "req_retry_"', "errors-only":
            f'{{job="llm-api", level="ERROR"}} |= "{RETRY}"',
         "success-only": f'{J} |= "{RETRY}" | json | status=200',
         "decoy": f'{J} | json | request_id="req_retry_decoy1"',
         "metric": f'count_over_time({J} |= "{RETRY}" [10m])',
         "every-line": J}),
}


class _NoLogs:
    """A live Loki with nothing in it: the fixture alone decides."""

    def fetch(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"status": "success", "data": {"resultType": "streams", "result": []}}


@pytest.mark.parametrize(("exercise_id", "answer", "expected"), [
    pytest.param(ex, *p.values, id=f"{ex.split('.')[1]}-{p.id}")
    for ex, params in TABLES.items() for p in params])
def test_only_right_answers_pass_on_the_fixed_streams(exercise_id: str, answer: str,
                                                      expected: str,
                                                      request: pytest.FixtureRequest) -> None:
    """On the fixed streams, every right query passes and every plausible wrong one fails.
    (The retried request must exist live, so that exercise runs with the live stand-in.)"""
    lab = request.getfixturevalue("lab") if exercise_id == "logs.request_lines" \
        else _Lab(_NoLogs())  # type: ignore[arg-type]
    verdict = evaluate(exercise_id, answer, lab)
    assert verdict.status == expected, verdict.detail


def test_every_logs_exercise_has_a_table() -> None:
    """No exercise of notebook 02 goes without at least 2 right and 5 wrong answers."""
    from labkit.exercises import all_exercises

    assert {e.id for e in all_exercises("logs.")} == set(TABLES)
    for params in TABLES.values():
        assert sum(p.values[1] == "failed" for p in params) >= 5
        assert sum(p.values[1] == "passed" for p in params) >= 2
