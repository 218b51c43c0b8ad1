"""The PromQL client: saved-JSON parsers and a fake Prometheus over real HTTP."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from labkit.errors import QueryError, QueryHTTPError, QueryParseError
from labkit.query.prometheus import Prometheus, matrix_to_frame, parse_time, vector_to_frame
from labkit.testing import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "prometheus"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


Route = Callable[[dict[str, list[str]]], tuple[int, Any]]


class FakePrometheus:
    """Prometheus API paths answered from a table of routes, as an httpx transport."""

    url = "http://prometheus.test"

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        params = {k: request.url.params.get_list(k) for k in request.url.params}
        self.requests.append((request.url.path, params))
        route = self.routes.get(request.url.path)
        status, body = route(params) if route else (404, "404 page not found\n")
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=raw, headers={"Content-Type": "application/json"})

    def answer(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path] = lambda params: (status, body)


@pytest.fixture
def fake() -> FakePrometheus:
    return FakePrometheus()


@pytest.fixture
def prom(fake: FakePrometheus) -> Iterator[Prometheus]:
    with Prometheus(fake.url, timeout=5, transport=fake.transport) as client:
        yield client


# -- parsers on saved responses ----------------------------------------------------------

def test_vector_frame_has_one_row_per_series_with_labels_timestamp_and_value() -> None:
    """An instant vector becomes label columns (metric first), a UTC timestamp and a float."""
    frame = vector_to_frame(load("vector_up"))
    assert list(frame.columns) == ["metric", "instance", "job", "timestamp", "value"]
    assert frame.set_index("job")["value"].to_dict() == {"down": 0.0, "prometheus": 1.0}
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2026-11-29T03:28:12.532Z")


def test_vector_frame_without_metric_name_has_no_metric_column() -> None:
    """rate() drops __name__, so the frame has only the remaining labels."""
    frame = vector_to_frame(load("vector_rate"))
    assert list(frame.columns) == ["code", "handler", "instance", "job", "timestamp", "value"]


def test_empty_vector_gives_empty_frame_with_typed_columns() -> None:
    """No series still gives the timestamp and value columns, so code downstream works."""
    frame = vector_to_frame(load("vector_empty"))
    assert frame.empty
    assert list(frame.columns) == ["timestamp", "value"]
    assert frame["value"].dtype == "float64"


@pytest.mark.parametrize(("name", "value"), [("scalar", 1.0), ("string", "hello")],
                         ids=["scalar", "string"])
def test_scalar_and_string_results_give_one_row(name: str, value: object) -> None:
    """scalar(...) and string literals come back as a single row."""
    frame = vector_to_frame(load(name))
    assert list(frame.columns) == ["timestamp", "value"]
    assert frame["value"].tolist() == [value]


def test_special_float_values_are_parsed() -> None:
    """Prometheus sends NaN and +Inf as strings; they become floats."""
    payload = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"le": "+Inf"}, "value": [1.5, "NaN"]},
        {"metric": {"le": "1"}, "value": [1.5, "+Inf"]},
    ]}}
    values = vector_to_frame(payload)["value"].tolist()
    assert math.isnan(values[0]) and values[1] == math.inf


def test_matrix_frame_is_tidy() -> None:
    """A range result has one row per (series, sample)."""
    frame = matrix_to_frame(load("matrix_range_up"))
    assert list(frame.columns) == ["metric", "instance", "job", "timestamp", "value"]
    assert len(frame) == 12
    assert frame.groupby("job")["value"].mean().to_dict() == {"down": 0.0, "prometheus": 1.0}
    steps = frame[frame.job == "prometheus"]["timestamp"].diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(seconds=2)]


def test_parsers_refuse_the_wrong_result_type() -> None:
    """Feeding a matrix to the vector parser says what it got."""
    with pytest.raises(QueryError, match="expected a vector result, got 'matrix'"):
        vector_to_frame(load("matrix_range_up"))


@pytest.mark.parametrize(("value", "expected"), [
    ("now", 1000.0), ("-5m", 700.0), ("now-1m30s", 910.0), ("now - 500ms", 999.5),
    (12.5, 12.5), (pd.Timestamp("1970-01-01T00:01:00Z"), 60.0), (None, 1000.0),
], ids=["now", "minus", "now-minus", "spaces-ms", "unix", "datetime", "none"])
def test_parse_time_accepts_relative_and_absolute_times(value: Any, expected: float) -> None:
    """Times can be datetimes, unix seconds, or relative strings."""
    assert parse_time(value, now=1000.0) == expected


def test_parse_time_explains_bad_input() -> None:
    """An unreadable time says which forms are accepted."""
    with pytest.raises(ValueError, match="'-5m'"):
        parse_time("yesterday")


# -- the client against a fake server ------------------------------------------------------

def test_query_sends_promql_and_time(fake: FakePrometheus, prom: Prometheus) -> None:
    """An instant query sends the expression and the evaluation time as unix seconds."""
    fake.answer("/api/v1/query", load("vector_up"))
    frame = prom.query("up", time=1795922892.5)
    assert len(frame) == 2
    path, params = fake.requests[-1]
    assert path == "/api/v1/query"
    assert params["query"] == ["up"] and float(params["time"][0]) == 1795922892.5


def test_query_of_range_selector_returns_tidy_frame(fake: FakePrometheus, prom: Prometheus) -> None:
    """An instant query like up[1m] returns a matrix, which becomes a tidy frame too."""
    fake.answer("/api/v1/query", load("matrix_range_up"))
    assert len(prom.query("up[10s]")) == 12


def test_query_range_resolves_relative_times(fake: FakePrometheus, prom: Prometheus) -> None:
    """'-5m' to 'now' becomes a 300-second window with the requested step."""
    fake.answer("/api/v1/query_range", load("matrix_range_up"))
    frame = prom.query_range("up", start="-5m", step="2s")
    assert len(frame) == 12
    _, params = fake.requests[-1]
    assert float(params["end"][0]) - float(params["start"][0]) == pytest.approx(300, abs=1e-3)
    assert params["step"] == ["2s"]


def test_query_range_refuses_a_backwards_range(prom: Prometheus) -> None:
    """An end before the start is caught before any request is sent."""
    with pytest.raises(ValueError, match="ends before it starts"):
        prom.query_range("up", start="-1m", end="-5m")


def test_bad_promql_raises_parse_error_with_prometheus_message(
    fake: FakePrometheus, prom: Prometheus
) -> None:
    """A syntax error carries Prometheus's own position and message."""
    fake.answer("/api/v1/query", load("error_bad_data"), status=400)
    message = "1:18: parse error: unclosed left parenthesis"
    with pytest.raises(QueryParseError, match=message) as info:
        prom.query("sum(rate(up[1m])")
    assert info.value.status == 400
    assert "bad_data" in info.value.body
    assert info.value.url.startswith(fake.url + "/api/v1/query")


def test_execution_error_is_http_error_not_parse_error(
    fake: FakePrometheus, prom: Prometheus
) -> None:
    """A 422 (the query parsed but cannot run) is a QueryHTTPError with the reason."""
    fake.answer("/api/v1/query", load("error_execution"), status=422)
    with pytest.raises(QueryHTTPError, match="many-to-many matching not allowed") as info:
        prom.query("up + on() up")
    assert not isinstance(info.value, QueryParseError)
    assert info.value.status == 422


def test_non_prometheus_server_is_named(fake: FakePrometheus) -> None:
    """Pointing the client at something that is not Prometheus says so."""
    with Prometheus(fake.url + "/wrong", transport=fake.transport) as prom, pytest.raises(
        QueryHTTPError, match="really Prometheus"
    ) as info:
        prom.query("up")
    assert info.value.status == 404


def test_connection_refused_names_url_and_suggests_labkit_up() -> None:
    """With nothing listening, the error names the URL and how to start the lab."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with Prometheus(url) as prom, pytest.raises(QueryError, match="labkit up") as info:
        prom.query("up")
    assert url in str(info.value)


def test_scalar_returns_the_single_value(fake: FakePrometheus, prom: Prometheus) -> None:
    """One series or a scalar result gives a plain float."""
    fake.answer("/api/v1/query", load("vector_rate"))
    assert prom.scalar("rate(x[1m])") == 0.0
    fake.answer("/api/v1/query", load("scalar"))
    assert prom.scalar("scalar(up)") == 1.0


def test_scalar_with_several_series_says_how_many(fake: FakePrometheus, prom: Prometheus) -> None:
    """Two series cannot be one number: the error says 2 came back and to aggregate."""
    fake.answer("/api/v1/query", load("vector_up"))
    with pytest.raises(QueryError, match=r"returned 2 series.*sum"):
        prom.scalar("up")


def test_scalar_of_nothing_raises_unless_default(fake: FakePrometheus, prom: Prometheus) -> None:
    """An empty result asks whether there is traffic yet, or returns the default."""
    fake.answer("/api/v1/query", load("vector_empty"))
    with pytest.raises(QueryError, match="no data — is there traffic yet"):
        prom.scalar("llm_requests_total")
    assert prom.scalar("llm_requests_total", default=0.0) == 0.0


def test_targets_lists_health_and_last_error(fake: FakePrometheus, prom: Prometheus) -> None:
    """targets() shows which job is down and why."""
    fake.answer("/api/v1/targets", load("targets"))
    frame = prom.targets().set_index("job")
    assert frame.loc["prometheus", "health"] == "up"
    assert frame.loc["down", "health"] == "down"
    assert "connection refused" in frame.loc["down", "lastError"]
    assert str(frame["lastScrape"].dt.tz) == "UTC"


def test_series_returns_label_sets(fake: FakePrometheus, prom: Prometheus) -> None:
    """series() sends match[] and returns one row per label set."""
    fake.answer("/api/v1/series", load("series_up"))
    frame = prom.series(["up", "scrape_duration_seconds"])
    assert sorted(frame["job"]) == ["down", "prometheus"]
    assert fake.requests[-1][1]["match[]"] == ["up", "scrape_duration_seconds"]


def test_wait_for_polls_until_predicate_holds(fake: FakePrometheus, prom: Prometheus) -> None:
    """wait_for keeps querying until the data satisfies the condition."""
    answers = iter([load("vector_empty"), load("vector_rate"), load("vector_up")])
    fake.routes["/api/v1/query"] = lambda params: (200, next(answers))
    frame = prom.wait_for("up", lambda f: len(f) == 2, timeout=30, interval=0.01)
    assert len(frame) == 2
    assert len(fake.requests) == 3


def test_wait_for_times_out_with_the_last_value(fake: FakePrometheus, prom: Prometheus) -> None:
    """On timeout the error shows the last result seen."""
    fake.answer("/api/v1/query", load("vector_up"))
    with pytest.raises(QueryError, match=r"within 0.05s; last result: 2 series, values \[0, 1\]"):
        prom.wait_for("up", lambda f: f.value.sum() > 5, timeout=0.05, interval=0.01)


def test_wait_for_does_not_wait_on_a_typo(fake: FakePrometheus, prom: Prometheus) -> None:
    """A parse error is raised at once instead of polling until the timeout."""
    fake.answer("/api/v1/query", load("error_bad_data"), status=400)
    with pytest.raises(QueryParseError):
        prom.wait_for("sum(", timeout=60)
    assert len(fake.requests) == 1


def test_label_values_and_ready(fake: FakePrometheus, prom: Prometheus) -> None:
    """label_values lists a label's values; ready() reflects /-/ready."""
    fake.answer("/api/v1/label/job/values", {"status": "success", "data": ["down", "prometheus"]})
    assert prom.label_values("job") == ["down", "prometheus"]
    assert prom.ready() is False  # the fake has no /-/ready route: 404
    fake.answer("/-/ready", "Prometheus Server is Ready.\n")
    assert prom.ready() is True
    with Prometheus(closed_port_url()) as down:
        assert down.ready() is False


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
