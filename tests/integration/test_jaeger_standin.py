"""The Jaeger stand-in end to end: the real OpenTelemetry SDK exports, the query API answers."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from labkit.errors import QueryHTTPError
from labkit.query.jaeger import Jaeger, critical_path
from labkit.standins.jaeger import JaegerStandin
from labkit.testing import free_port, start_service

FIXTURES = Path(__file__).parents[1] / "unit" / "fixtures" / "jaeger"
MS = 1_000_000


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[JaegerStandin]:
    with JaegerStandin(tmp_path / "data", otlp_port=0, query_port=0) as server:
        yield server


def _provider(server: JaegerStandin, service: str = "llm-api") -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "lab"})
    )
    exporter = OTLPSpanExporter(
        endpoint=server.otlp_url + "/v1/traces", compression=Compression.Gzip
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _send_request_trace(server: JaegerStandin, t0: int | None = None) -> str:
    """Export one gateway-like trace with fixed timings; returns its 32-digit trace id."""
    t0 = t0 or time.time_ns() - 5_000 * MS
    provider = _provider(server)
    tracer = provider.get_tracer("labkit.gateway", "0.1.0")
    root = tracer.start_span("POST /v1/chat/completions", kind=SpanKind.SERVER, start_time=t0)
    root.set_attribute("http.response.status_code", 500)
    ctx = otel_trace.set_span_in_context(root)
    tokenize = tracer.start_span("tokenize", context=ctx, start_time=t0 + 2 * MS)
    tokenize.end(end_time=t0 + 10 * MS)
    inference = tracer.start_span("inference", context=ctx, start_time=t0 + 10 * MS)
    inference.set_attribute("gen_ai.usage.output_tokens", 32)
    inference.add_event("first_token", timestamp=t0 + 30 * MS)
    decode = tracer.start_span(
        "decode", context=otel_trace.set_span_in_context(inference), start_time=t0 + 30 * MS
    )
    decode.end(end_time=t0 + 90 * MS)
    inference.end(end_time=t0 + 100 * MS)
    post = tracer.start_span("post_process", context=ctx, start_time=t0 + 100 * MS)
    post.record_exception(ValueError("bad output"), timestamp=t0 + 105 * MS)
    post.set_status(Status(StatusCode.ERROR, "ValueError: bad output"))
    post.end(end_time=t0 + 110 * MS)
    root.set_status(Status(StatusCode.ERROR))
    root.end(end_time=t0 + 120 * MS)
    trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()  # flushes the batch processor
    return trace_id


def test_sdk_spans_come_back_with_links_durations_and_tags(standin: JaegerStandin) -> None:
    """A trace exported by the SDK is found by service, with its tree, durations and tags intact."""
    trace_id = _send_request_trace(standin)
    body = httpx.get(
        standin.query_url + "/api/traces", params={"service": "llm-api", "limit": 20}
    ).json()
    assert body["errors"] is None and len(body["data"]) == 1
    trace = body["data"][0]
    assert trace["traceID"] == trace_id
    spans = {s["operationName"]: s for s in trace["spans"]}
    assert set(spans) == {
        "POST /v1/chat/completions",
        "tokenize",
        "inference",
        "decode",
        "post_process",
    }
    root_id = spans["POST /v1/chat/completions"]["spanID"]
    assert spans["POST /v1/chat/completions"]["references"] == []
    for child in ("tokenize", "inference", "post_process"):
        assert spans[child]["references"] == [
            {"refType": "CHILD_OF", "traceID": trace_id, "spanID": root_id}
        ]
    assert spans["decode"]["references"][0]["spanID"] == spans["inference"]["spanID"]
    assert {op: s["duration"] for op, s in spans.items()} == {
        "POST /v1/chat/completions": 120_000,
        "tokenize": 8_000,
        "inference": 90_000,
        "decode": 60_000,
        "post_process": 10_000,
    }
    tags = {t["key"]: t["value"] for t in spans["post_process"]["tags"]}
    assert tags["error"] is True and tags["otel.status_code"] == "ERROR"
    assert tags["otel.scope.name"] == "labkit.gateway"
    exception = spans["post_process"]["logs"][0]["fields"]
    assert exception[0] == {"key": "event", "type": "string", "value": "exception"}
    assert {"key": "exception.type", "type": "string", "value": "ValueError"} in exception
    process = trace["processes"][spans["inference"]["processID"]]
    assert process["serviceName"] == "llm-api"
    assert {"key": "deployment.environment", "type": "string", "value": "lab"} in process["tags"]


def test_client_searches_and_breaks_down_a_trace(standin: JaegerStandin) -> None:
    """The query client finds the trace by tag and duration and computes its critical path."""
    trace_id = _send_request_trace(standin)
    with Jaeger(standin.query_url) as jaeger:
        assert jaeger.services() == ["llm-api"]
        assert "inference" in jaeger.operations("llm-api")
        errors = jaeger.find_traces("llm-api", tags={"error": True}, min_duration="100ms")
        assert set(errors.trace_id) == {trace_id}
        assert jaeger.find_traces("llm-api", min_duration="1s").empty
        spans = jaeger.trace(trace_id)
        assert len(spans) == 5 and spans.set_index("operation").loc["decode", "duration_ms"] == 60.0
        path = {p.operation: p.self_ms for p in critical_path(spans)}
        assert path == {
            "POST /v1/chat/completions": 12.0,
            "tokenize": 8.0,
            "inference": 30.0,
            "decode": 60.0,
            "post_process": 10.0,
        }
        with pytest.raises(QueryHTTPError, match="trace not found") as info:
            jaeger.trace("1" * 32)
        assert info.value.status == 404


def test_json_encoding_is_accepted_and_answered_in_json(standin: JaegerStandin) -> None:
    """An OTLP/JSON export gets a JSON ExportTraceServiceResponse and is searchable."""
    resp = httpx.post(
        standin.otlp_url + "/v1/traces",
        content=(FIXTURES / "sdk_export.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert (resp.status_code, resp.json()) == (200, {})
    got = httpx.get(standin.query_url + "/api/traces/5b8efff798038103d269b633813fc60c").json()
    assert len(got["data"][0]["spans"]) == 4


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"\xff\xff\xff", "application/x-protobuf", 400),
        (b"{oops", "application/json", 400),
        (b"hello", "text/plain", 415),
    ],
    ids=["garbage-protobuf", "broken-json", "wrong-media-type"],
)
def test_bad_payloads_get_an_error_and_the_server_keeps_serving(
    standin: JaegerStandin, content: bytes, content_type: str, status: int
) -> None:
    """A bad export is refused with a message; the next good one is still accepted."""
    resp = httpx.post(
        standin.otlp_url + "/v1/traces", content=content, headers={"Content-Type": content_type}
    )
    assert resp.status_code == status
    if content_type == "application/x-protobuf":
        from google.rpc.status_pb2 import Status

        message = Status.FromString(resp.content).message
    else:
        message = resp.json()["message"]
    assert (
        "not a valid protobuf" in message
        or "not valid JSON" in message
        or "Content-Type" in message
    )
    _send_request_trace(standin)
    assert httpx.get(standin.query_url + "/api/services").json()["data"] == ["llm-api"]


def test_accepted_spans_survive_a_restart(tmp_path: Path) -> None:
    """Spans answered with 200 are still there after the server restarts on the same data dir."""
    with JaegerStandin(tmp_path, otlp_port=0, query_port=0) as first:
        trace_id = _send_request_trace(first)
    with JaegerStandin(tmp_path, otlp_port=0, query_port=0) as second:
        body = httpx.get(f"{second.query_url}/api/traces/{trace_id}").json()
        assert len(body["data"][0]["spans"]) == 5


def test_retention_cap_drops_the_oldest_traces(tmp_path: Path) -> None:
    """With --max-traces 3, the first two of five traces are gone and the last three remain."""
    with JaegerStandin(tmp_path, otlp_port=0, query_port=0, max_traces=3) as server:
        ids = [_send_request_trace(server) for _ in range(5)]
        found = httpx.get(server.query_url + "/api/traces", params={"service": "llm-api"}).json()[
            "data"
        ]
        assert {t["traceID"] for t in found} == set(ids[2:])
        assert httpx.get(f"{server.query_url}/api/traces/{ids[0]}").status_code == 404


def test_operations_and_dependencies(standin: JaegerStandin) -> None:
    """spanKind filters operations; a cross-service call shows up as a dependency link."""
    t0 = time.time_ns() - 1_000 * MS
    front, back = _provider(standin, "frontend"), _provider(standin, "llm-api")
    parent = front.get_tracer("t").start_span("call", kind=SpanKind.CLIENT, start_time=t0)
    back.get_tracer("t").start_span(
        "serve",
        kind=SpanKind.SERVER,
        start_time=t0 + MS,
        context=otel_trace.set_span_in_context(parent),
    ).end(end_time=t0 + 2 * MS)
    parent.end(end_time=t0 + 3 * MS)
    front.shutdown()
    back.shutdown()
    ops = httpx.get(
        standin.query_url + "/api/operations", params={"service": "llm-api", "spanKind": "server"}
    ).json()
    assert ops["data"] == [{"name": "serve", "spanKind": "server"}]
    deps = httpx.get(
        standin.query_url + "/api/dependencies",
        params={"endTs": time.time_ns() // MS, "lookback": 3_600_000},
    ).json()
    assert deps["data"] == [{"parent": "frontend", "child": "llm-api", "callCount": 1}]


def test_cli_serves_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`python -m labkit.standins.jaeger` answers / on the query port and exits 0 on SIGTERM."""
    otlp_port, query_port = free_port(), free_port()
    argv = [sys.executable, "-m", "labkit.standins.jaeger", "--otlp-port", str(otlp_port),
            "--query-port", str(query_port), "--data-dir", str(tmp_path), "--max-traces", "10"]
    proc = start_service("jaeger stand-in", argv, log_path=tmp_path / "jaeger.log",
                         health_url=f"http://127.0.0.1:{query_port}/",
                         env={"PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        answer = httpx.post(f"http://127.0.0.1:{otlp_port}/v1/traces", content=b"",
                            headers={"Content-Type": "application/x-protobuf"})
        assert answer.status_code == 200
    finally:
        proc.popen.terminate()
        code = proc.popen.wait(timeout=20)
        proc.stop()  # anything left of its process group
    assert code == 0, (tmp_path / "jaeger.log").read_text()
