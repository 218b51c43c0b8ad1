"""labkit.query.loki: Loki JSON into DataFrames, and errors mapped to labkit's tree."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from labkit.errors import QueryError, QueryHTTPError, QueryParseError
from labkit.query.loki import Loki, matrix_to_frame, streams_to_frame, to_frame, vector_to_frame

STREAMS = {
    "status": "success",
    "data": {"resultType": "streams", "result": [
        {"stream": {"job": "llm-api", "level": "error"},
         "values": [["1700000002000000000",
                     '{"level":"ERROR","model":"m","duration_ms":12.5,"user":{"id":"u"}}'],
                    ["1700000001000000000", "plain text"]]},
        {"stream": {"job": "llm-api", "level": "info"},
         "values": [["1700000001500000000", '{"model":"n","status":200}']]},
    ], "stats": {}},
}
MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"model": "a"}, "values": [[1700000000, "1.5"], [1700000060.5, "NaN"]]},
    {"metric": {"model": "b"}, "values": [[1700000000, "2"]]},
]}}
VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"level": "info"}, "value": [1700000000.123, "+Inf"]}]}}


def test_streams_become_one_row_per_line_in_time_order() -> None:
    """Each line is a row with its UTC timestamp, its stream labels and its JSON fields."""
    df = streams_to_frame(STREAMS)
    assert list(df["line"].str[:5]) == ["plain", '{"mod', '{"lev']
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["timestamp"].iloc[1] == pd.Timestamp("2023-11-14T22:13:21.5", tz="UTC")
    assert list(df.columns[:4]) == ["timestamp", "line", "job", "level"]
    last = df.iloc[2]
    assert (last["level"], last["model"], last["duration_ms"], last["user"]) == (
        "error", "m", 12.5, {"id": "u"})
    assert pd.isna(df.iloc[0]["model"])


def test_matrix_is_tidy() -> None:
    """A matrix becomes timestamp, value and label columns, NaN kept as a float."""
    df = matrix_to_frame(MATRIX)
    assert list(df.columns) == ["timestamp", "value", "model"]
    assert df["value"].dtype == "float64" and df["value"].isna().sum() == 1
    assert df["timestamp"].iloc[1] == pd.Timestamp("2023-11-14T22:14:20.5", tz="UTC")


def test_vector_keeps_labels_and_special_values() -> None:
    """A vector becomes one row per series; +Inf reads as infinity."""
    df = vector_to_frame(VECTOR)
    assert df["value"].iloc[0] == float("inf") and df["level"].iloc[0] == "info"


@pytest.mark.parametrize("payload", [
    {"data": {"resultType": "streams", "result": []}},
    {"data": {"resultType": "matrix", "result": []}},
], ids=["streams", "matrix"])
def test_empty_results_give_empty_frames_with_columns(payload: dict[str, Any]) -> None:
    """An empty answer is an empty frame with the timestamp column, not an error."""
    df = to_frame(payload)
    assert df.empty and "timestamp" in df.columns


def _client(status: int, body: str | dict[str, Any]) -> Loki:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict):
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=body)
    return Loki("http://loki.test", transport=httpx.MockTransport(handler))


def test_parse_errors_raise_query_parse_error_with_lokis_message() -> None:
    """A 400 parse error carries Loki's own text, the URL and the status."""
    msg = "parse error at line 1, col 9: syntax error: unexpected end of input"
    with pytest.raises(QueryParseError, match="col 9") as info:
        _client(400, msg).query_range('{job="a"')
    assert info.value.status == 400 and info.value.body == msg and "query_range" in info.value.url


def test_other_http_errors_raise_query_http_error() -> None:
    """Non-parse failures are QueryHTTPError, not QueryParseError."""
    with pytest.raises(QueryHTTPError) as info:
        _client(500, "boom").query("sum(rate({a=\"b\"}[1m]))")
    assert not isinstance(info.value, QueryParseError) and info.value.status == 500


def test_connection_errors_say_what_to_do() -> None:
    """An unreachable Loki raises QueryError naming the URL."""
    loki = Loki("http://127.0.0.1:9", timeout=2)
    with pytest.raises(QueryError, match=r"cannot reach Loki at http://127.0.0.1:9.*labkit up"):
        loki.labels()


def test_query_range_sends_loki_parameters() -> None:
    """Times go as nanoseconds, steps as seconds, and the answer is parsed."""
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.url.params)
        return httpx.Response(200, json=MATRIX)
    loki = Loki("http://loki.test", transport=httpx.MockTransport(handler))
    df = loki.query_range("rate({a=\"b\"}[1m])", start=1700000000,
                          end=pd.Timestamp("2023-11-14T22:13:20Z"), step=60)
    assert seen["start"] == "1700000000000000000" and seen["end"] == "1700000000000000000"
    assert seen["step"] == "60" and seen["limit"] == "1000" and seen["direction"] == "backward"
    assert len(df) == 3
