"""Jaeger JSON rendering of OTLP spans and parsing of /api/traces parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)

from labkit.standins.jaeger.app import render_trace
from labkit.standins.jaeger.model import go_time, rows_from_request
from labkit.standins.jaeger.search import (
    QueryParamError,
    canonical_trace_id,
    parse_go_duration,
    parse_trace_query,
    span_matches_tags,
)

FIXTURES = Path(__file__).parent / "fixtures" / "jaeger"


def _rows() -> list:
    request = ExportTraceServiceRequest.FromString((FIXTURES / "sdk_export.pb").read_bytes())
    return sorted(rows_from_request(request), key=lambda r: (r.start_us, r.span_id))


def _trace() -> dict:
    rows = _rows()
    return json.loads(render_trace(rows[0].trace_id, rows))


def test_rendered_trace_matches_the_reviewed_fixture() -> None:
    """The SDK's request renders exactly as the reviewed Jaeger v2 JSON fixture."""
    assert _trace() == json.loads((FIXTURES / "sdk_export.jaeger.json").read_text())


def test_rendered_trace_keeps_jaeger_field_order() -> None:
    """Span objects carry Jaeger's fields in Go's struct order (some clients diff raw text)."""
    span = _trace()["spans"][0]
    assert list(span) == [
        "traceID",
        "spanID",
        "operationName",
        "references",
        "startTime",
        "duration",
        "tags",
        "logs",
        "processID",
        "warnings",
    ]


def _tags(span: dict) -> dict:
    return {t["key"]: (t["type"], t["value"]) for t in span["tags"]}


@pytest.mark.parametrize(
    ("operation", "key", "expected"),
    [
        ("POST /v1/chat/completions", "span.kind", ("string", "server")),
        ("POST /v1/chat/completions", "http.response.status_code", ("int64", 500)),
        ("POST /v1/chat/completions", "error", ("bool", True)),
        ("POST /v1/chat/completions", "otel.status_code", ("string", "ERROR")),
        ("tokenize", "otel.scope.name", ("string", "labkit.gateway")),
        ("tokenize", "otel.status_code", None),
        ("inference", "gen_ai.response.finish_reasons", ("string", '["stop"]')),
        ("inference", "llm.temperature", ("float64", 0.7)),
        ("inference", "llm.stream", ("bool", True)),
        ("post_process", "otel.status_description", ("string", "ValueError: bad output")),
    ],
    ids=[
        "kind",
        "int",
        "error-flag",
        "status-error",
        "scope",
        "no-status-when-unset",
        "array-as-json",
        "float",
        "bool",
        "status-message",
    ],
)
def test_span_tags_follow_jaegers_otlp_mapping(
    operation: str, key: str, expected: tuple | None
) -> None:
    """Attributes, kind, status and scope become typed tags as Jaeger v2 renders them."""
    span = next(s for s in _trace()["spans"] if s["operationName"] == operation)
    assert _tags(span).get(key) == expected


def test_parent_and_links_become_references_and_events_become_logs() -> None:
    """The parent is the first CHILD_OF reference, a link FOLLOWS_FROM; events are logs."""
    inference = next(s for s in _trace()["spans"] if s["operationName"] == "inference")
    assert [r["refType"] for r in inference["references"]] == ["CHILD_OF", "FOLLOWS_FROM"]
    assert inference["references"][0]["spanID"] == "1000000000000001"
    assert inference["references"][1]["traceID"] == "0000000000001234"
    assert inference["logs"][0]["fields"][0] == {
        "key": "event",
        "type": "string",
        "value": "first_token",
    }
    assert inference["logs"][0]["timestamp"] == inference["startTime"] + 23_000
    assert (inference["startTime"], inference["duration"]) == (1_700_000_000_012_000, 88_000)


def test_resource_becomes_the_process() -> None:
    """service.name names the process; other resource attributes are its tags, sorted."""
    trace = _trace()
    assert {s["processID"] for s in trace["spans"]} == {"p1"}
    assert trace["processes"]["p1"]["serviceName"] == "llm-api"
    assert [t["key"] for t in trace["processes"]["p1"]["tags"]] == [
        "deployment.environment",
        "service.version",
    ]


def test_unusual_attribute_values_render_like_jaeger() -> None:
    """Bytes are base64 binary, maps are JSON strings, integers past 2**53 are strings."""
    request = ExportTraceServiceRequest.FromString((FIXTURES / "sdk_export.pb").read_bytes())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(
        [
            KeyValue(key="blob", value=AnyValue(bytes_value=b"\x00\x00\x30\x39")),
            KeyValue(key="big", value=AnyValue(int_value=2**60)),
            KeyValue(
                key="map",
                value=AnyValue(
                    kvlist_value=KeyValueList(
                        values=[
                            KeyValue(key="b", value=AnyValue(int_value=1)),
                            KeyValue(key="a", value=AnyValue(string_value="x")),
                        ]
                    )
                ),
            ),
            KeyValue(
                key="list",
                value=AnyValue(array_value=ArrayValue(values=[AnyValue(bool_value=True)])),
            ),
        ]
    )
    tags = _tags(json.loads(next(rows_from_request(request)).span_json))
    assert tags["blob"] == ("binary", "AAAwOQ==")
    assert tags["big"] == ("int64", str(2**60))
    assert tags["map"] == ("string", '{"a":"x","b":1}')
    assert tags["list"] == ("string", "[true]")


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("1.2s", 1_200_000_000),
        ("500ms", 500_000_000),
        ("100us", 100_000),
        ("100µs", 100_000),
        ("1h30m", 5_400_000_000_000),
        ("0", 0),
        ("2m0.5s", 120_500_000_000),
        ("15ns", 15),
    ],
    ids=["seconds", "millis", "micros", "micro-sign", "compound", "zero", "fractional", "nanos"],
)
def test_go_durations_parse(text: str, nanos: int) -> None:
    """minDuration/maxDuration take Go's time.ParseDuration syntax."""
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1.2", 'time: missing unit in duration "1.2"'),
        ("ms", 'time: invalid duration "ms"'),
        ("5 s", 'time: unknown unit " s" in duration "5 s"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("-", 'time: invalid duration "-"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
        ("1é", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
    ],
    ids=["no-unit", "no-number", "space", "days", "sign-only", "overflow", "non-ascii"],
)
def test_bad_go_durations_are_refused(text: str, message: str) -> None:
    """Strings Go would refuse are refused with Go's own message (the real Jaeger's 400)."""
    with pytest.raises(QueryParamError) as caught:
        parse_go_duration(text)
    assert str(caught.value) == message


def test_trace_query_parses_every_parameter() -> None:
    """service, operation, tag, tags, durations, start/end and limit all reach the query."""
    query, ids = parse_trace_query(
        {
            "service": ["llm-api"],
            "operation": ["inference"],
            "tag": ["error:true", "url:http://x:1"],
            "tags": ['{"http.response.status_code":"500"}'],
            "minDuration": ["1.5ms"],
            "maxDuration": ["2s"],
            "start": ["1000"],
            "end": ["2000"],
            "limit": ["7"],
        }
    )
    assert ids == [] and query is not None
    assert query.tags == {"error": "true", "url": "http://x:1", "http.response.status_code": "500"}
    assert (query.min_duration_us, query.max_duration_us) == (1500, 2_000_000)
    assert (query.start_us, query.end_us, query.limit, query.operation) == (
        1000,
        2000,
        7,
        "inference",
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "parameter 'service' is required"),
        ({"service": ["a"], "tag": ["novalue"]}, "expecting key:value"),
        ({"service": ["a"], "tags": ["{bad"]}, "cannot unmarshal JSON"),
        ({"service": ["a"], "minDuration": ["2s"], "maxDuration": ["1s"]}, "should be greater"),
        ({"service": ["a"], "limit": ["ten"]}, "invalid syntax"),
        ({"traceID": ["xyz"]}, 'cannot parse traceID param: strconv.ParseUint: parsing "xyz"'),
        ({"service": ["a"], "limit": ["3000000000"]}, "value out of range"),
        ({"service": ["a"], "start": ["soon"]}, "unable to parse param 'start'"),
        ({"service": ["a"], "tags": ["[1]"]}, "cannot unmarshal array into Go value of type "
                                              "map"),
        ({"service": ["a"], "tags": ['{"a":true}']}, "cannot unmarshal bool into Go value of "
                                                      "type string"),
    ],
    ids=[
        "no-service",
        "tag-without-colon",
        "tags-not-json",
        "max-below-min",
        "limit-not-int",
        "bad-trace-id",
        "limit-beyond-int32",
        "bad-start",
        "tags-not-an-object",
        "tags-bool-value",
    ],
)
def test_bad_trace_queries_are_refused(params: dict, message: str) -> None:
    """Parameters Jaeger answers 400 to raise QueryParamError with Jaeger's reason."""
    with pytest.raises(QueryParamError, match=message):
        parse_trace_query(params)


def test_short_trace_ids_are_padded() -> None:
    """Jaeger prints 64-bit-high-zero ids in 16 digits; lookups accept either form."""
    assert canonical_trace_id("ABC") == "0" * 29 + "abc"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a" * 33, "TraceID cannot be longer than 32 hex characters: " + "a" * 33),
        ("12" + "4567890abcdefXYZ",
         'strconv.ParseUint: parsing "4567890abcdefXYZ": invalid syntax'),
        ("0x12", 'strconv.ParseUint: parsing "0x12": invalid syntax'),
        ("", 'strconv.ParseUint: parsing "": invalid syntax'),
    ],
    ids=["too-long", "bad-low-half", "hex-prefix", "empty"],
)
def test_bad_trace_ids_get_jaegers_message(text: str, message: str) -> None:
    """Jaeger parses an id as two 16-digit halves with strconv; its errors name the half."""
    with pytest.raises(QueryParamError) as caught:
        canonical_trace_id(text)
    assert str(caught.value) == message


def test_null_tags_and_null_values_are_accepted_as_go_does() -> None:
    """`tags=null` is no tag at all, and a null value is an empty string (json.Unmarshal)."""
    query, _ = parse_trace_query({"service": ["a"], "tags": ["null"]})
    assert query is not None and query.tags == {}
    query, _ = parse_trace_query({"service": ["a"], "tags": ['{"k": null}']})
    assert query is not None and query.tags == {"k": ""}


def test_lookback_is_ignored_as_jaeger_ignores_it() -> None:
    """The search window is start..end (two days back by default); `lookback` changes nothing."""
    now = 10**16
    query, _ = parse_trace_query({"service": ["a"], "lookback": ["1m"]}, now_us=now)
    assert query is not None and query.start_us == now - 2 * 24 * 3600 * 10**6


def test_tag_search_matches_span_process_and_log_fields() -> None:
    """A tag search looks in span tags, process tags and log fields, comparing text."""
    post = next(r for r in _rows() if r.operation == "post_process")
    assert span_matches_tags(
        post.span_json, post.process, {"error": "true", "exception.type": "ValueError"}
    )
    assert span_matches_tags(post.span_json, post.process, {"deployment.environment": "lab"})
    assert not span_matches_tags(post.span_json, post.process, {"error": "false"})


def test_go_time_prints_like_gos_time_string() -> None:
    """Warnings quote timestamps as Go's time.Time.String() prints UTC times."""
    assert go_time(1_700_000_000_012_000_000) == "2023-11-14 22:13:20.012 +0000 UTC"
    assert go_time(1_700_000_000_000_000_001) == "2023-11-14 22:13:20.000000001 +0000 UTC"
    assert go_time(1_700_000_000_000_000_000) == "2023-11-14 22:13:20 +0000 UTC"


def test_zero_duration_and_orphan_spans_carry_jaegers_warnings() -> None:
    """A span ending at its start gets the sanitizer's warning; one whose parent is not in
    the trace gets the clock-skew adjuster's; the others keep warnings null."""
    request = ExportTraceServiceRequest.FromString((FIXTURES / "sdk_export.pb").read_bytes())
    spans = request.resource_spans[0].scope_spans[0].spans
    start = spans[0].start_time_unix_nano
    spans[0].end_time_unix_nano = start
    spans[1].parent_span_id = bytes.fromhex("00000000000000ff")
    rows = list(rows_from_request(request))
    trace = json.loads(render_trace(rows[0].trace_id, rows))
    warnings = {s["spanID"]: s["warnings"] for s in trace["spans"]}
    assert warnings.pop(spans[0].span_id.hex()) == [
        "Negative duration detected, sanitizing end timestamp. Original end timestamp: "
        f"{go_time(start)}, adjusted to: {go_time(start + 1)}"
    ]
    assert warnings.pop(spans[1].span_id.hex()) == [
        "invalid parent span IDs=00000000000000ff; skipping clock skew adjustment"
    ]
    assert set(warnings.values()) == {None}


def test_search_windows_and_durations_follow_the_labs_jaeger() -> None:
    """start after end is Jaeger's 500; the default start is two days before now (not before
    `end`); a negative start or minDuration finds nothing and a negative maxDuration bounds
    nothing, as Badger's unsigned indexes behave."""
    now = 10**16
    with pytest.raises(QueryParamError, match="min start time is above max") as caught:
        parse_trace_query({"service": ["a"], "end": ["-5"]}, now_us=now)
    assert caught.value.status == 500
    for params in ({"start": ["-5"]}, {"minDuration": ["-5s"]}):
        query, _ = parse_trace_query({"service": ["a"], **params}, now_us=now)
        assert query is not None and query.start_us == query.end_us == 2**63 - 1
    query, _ = parse_trace_query({"service": ["a"], "maxDuration": ["-1s"]}, now_us=now)
    assert query is not None and query.max_duration_us == 0
    assert query.start_us == now - 2 * 24 * 3600 * 10**6
