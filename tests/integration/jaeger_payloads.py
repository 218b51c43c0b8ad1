"""OTLP payloads for the differential Jaeger test: the SDK's spans, the gateway's span tree
and hand-made edge cases.

Every payload is protobuf bytes (``ExportTraceServiceRequest``), so the real Jaeger and the
stand-in receive exactly the same request. Trace ids are random per run; timestamps sit in
the last hour, so default searches (two days of lookback) find them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

MS = 1_000_000


def any_value(value: Any) -> AnyValue:
    """A Python value as OTLP's AnyValue (bytes, lists and dicts included)."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attrs(value)))
    if value is None:
        return AnyValue()
    return AnyValue(string_value=str(value))


def attrs(values: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


@dataclass
class SpanSpec:
    """One hand-made span."""

    trace_id: bytes
    span_id: bytes
    name: str
    start_ns: int
    duration_ns: int
    parent: bytes = b""
    kind: int = Span.SPAN_KIND_INTERNAL
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    links: list[tuple[bytes, bytes, dict[str, Any]]] = field(default_factory=list)
    status: tuple[int, str] = (Status.STATUS_CODE_UNSET, "")
    trace_state: str = ""
    dropped: int = 0

    def proto(self) -> Span:
        return Span(
            trace_id=self.trace_id, span_id=self.span_id, parent_span_id=self.parent,
            name=self.name, kind=self.kind, trace_state=self.trace_state,  # type: ignore[arg-type]
            start_time_unix_nano=self.start_ns,
            end_time_unix_nano=self.start_ns + self.duration_ns,
            attributes=attrs(self.attributes), dropped_attributes_count=self.dropped,
            events=[Span.Event(name=n, time_unix_nano=t, attributes=attrs(a))
                    for n, t, a in self.events],
            links=[Span.Link(trace_id=t, span_id=s, attributes=attrs(a))
                   for t, s, a in self.links],
            status=Status(code=self.status[0], message=self.status[1]),  # type: ignore[arg-type]
        )


def request(groups: Iterable[tuple[Mapping[str, Any], Iterable[SpanSpec]]],
            scope: tuple[str, str] = ("labkit.diff", "1.0")) -> bytes:
    """An export request: one ResourceSpans per (resource attributes, spans) group."""
    message = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=Resource(attributes=attrs(resource)), scope_spans=[
            ScopeSpans(scope=InstrumentationScope(name=scope[0], version=scope[1]),
                       spans=[s.proto() for s in spans])])
        for resource, spans in groups
    ])
    return message.SerializeToString()


def ids() -> tuple[bytes, ...]:
    """A fresh 16-byte trace id and eight 8-byte span ids."""
    return (os.urandom(16), *(os.urandom(8) for _ in range(8)))


@dataclass
class Payloads:
    """What was sent: requests in order, and the trace ids of each case by name."""

    requests: list[bytes] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # case -> 32-digit hex trace id
    span_counts: dict[str, int] = field(default_factory=dict)  # trace id -> spans sent


def _record(out: Payloads, case: str, trace_id: bytes, spans: int) -> None:
    out.traces[case] = trace_id.hex()
    out.span_counts[trace_id.hex()] = out.span_counts.get(trace_id.hex(), 0) + spans


def sdk_payload(out: Payloads, now_ns: int) -> None:
    """A trace from the real OpenTelemetry SDK: nesting, events, exception, links, every type."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, StatusCode
    from opentelemetry.trace import Status as SdkStatus

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=SdkResource.create(
        {"service.name": "diff-sdk", "service.version": "1.2.3", "host.cores": 2,
         "deployment.environment": "lab"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("labkit.diff.sdk", "0.1.0")
    t0 = now_ns - 20 * 60_000 * MS
    other = tracer.start_span("linked-producer", kind=SpanKind.PRODUCER, start_time=t0 - MS)
    other.end(end_time=t0)
    root = tracer.start_span("POST /v1/chat/completions", kind=SpanKind.SERVER, start_time=t0,
                             links=[Link(other.get_span_context(), {"link.reason": "batch"})])
    root.set_attributes({"http.request.method": "POST", "http.response.status_code": 500,
                         "gen_ai.request.temperature": 0.7, "retry": False,
                         "tags.str": ["a", "b"], "tags.bool": [True, False],
                         "tags.int": [1, -2, 3], "tags.float": [0.5, 1.25],
                         "unicode.名前": "café ☕ 推理 🚀"})
    ctx = trace.set_span_in_context(root)
    child = tracer.start_span("inference ✓", context=ctx, kind=SpanKind.CLIENT,
                              start_time=t0 + 2 * MS)
    child.add_event("first_token", {"gen_ai.token.index": 0, "latency.ms": 12.5},
                    timestamp=t0 + 14 * MS)
    child.add_event("plain-event", timestamp=t0 + 15 * MS)
    try:
        raise ValueError("upstream said no: ünïcode")
    except ValueError as exc:
        child.record_exception(exc, timestamp=t0 + 30 * MS)
    child.set_status(SdkStatus(StatusCode.ERROR, "upstream failed"))
    child.end(end_time=t0 + 31 * MS)
    ok = tracer.start_span("tokenize", context=ctx, start_time=t0 + MS)
    ok.set_status(SdkStatus(StatusCode.OK))
    ok.end(end_time=t0 + 2 * MS)
    root.end(end_time=t0 + 40 * MS)
    spans = memory.get_finished_spans()
    out.requests.append(encode_spans(spans).SerializeToString())
    out.traces["sdk"] = format(root.get_span_context().trace_id, "032x")
    out.traces["sdk-linked"] = format(other.get_span_context().trace_id, "032x")
    for span in spans:
        key = format(span.context.trace_id, "032x")
        out.span_counts[key] = out.span_counts.get(key, 0) + 1


def edge_payload(out: Payloads, now_ns: int) -> None:
    """Hand-made: every AnyValue type, every kind and status, trace state, orphans, 0 s spans."""
    trace_id, *span = ids()
    t0 = now_ns - 15 * 60_000 * MS
    root = SpanSpec(trace_id, span[0], "edge-root", t0, 50 * MS, kind=Span.SPAN_KIND_SERVER,
                    attributes={"s": "text", "empty": "", "b": True, "i": 42,
                                "big": 9_223_372_036_854_775_807, "neg": -7, "f": 3.25,
                                "f.whole": 2.0, "f.tiny": 1e-9, "bytes": b"\x00\xffbin",
                                "arr.mixed": ["x", 1, 2.5, True], "arr.empty": [],
                                "arr.nested": [[1, 2], ["a"]], "kv": {"inner": "v", "n": 1},
                                "none": None, "newline": "two\nlines", "quote": 'say "hi"'},
                    status=(Status.STATUS_CODE_OK, "all good"), trace_state="vendor=abc,x=1",
                    dropped=3)
    kinds = [SpanSpec(trace_id, span[1 + k], f"kind-{k}", t0 + (k + 1) * MS, MS, parent=span[0],
                      kind=k, status=(Status.STATUS_CODE_ERROR, "") if k == 3 else
                      (Status.STATUS_CODE_UNSET, "ignored message"))
             for k in range(6)]
    zero = SpanSpec(trace_id, span[7], "zero-duration", t0 + 10 * MS, 0, parent=span[0],
                    events=[("no-attrs", t0 + 10 * MS, {}),
                            ("typed", t0 + 10 * MS, {"arr": [1, 2], "b": False, "f": 0.1})],
                    links=[(os.urandom(16), os.urandom(8), {}),
                           (trace_id, span[1], {"why": "same trace"})])
    orphan = SpanSpec(trace_id, os.urandom(8), "orphan", t0 + 20 * MS, 5 * MS,
                      parent=os.urandom(8))
    out.requests.append(request([({"service.name": "diff-edge", "r.int": 1, "r.bool": True,
                                   "r.arr": ["x"], "telemetry.sdk.language": "python"},
                                  [root, *kinds, zero, orphan])], scope=("", "")))
    _record(out, "edge", trace_id, 2 + len(kinds) + 1)


def out_of_order_payload(out: Payloads, now_ns: int) -> None:
    """One trace over two services in three requests: leaf first, then root, then the middle."""
    trace_id, root_id, mid_id, leaf_id, *_ = ids()
    t0 = now_ns - 10 * 60_000 * MS
    leaf = SpanSpec(trace_id, leaf_id, "db.query", t0 + 5 * MS, 3 * MS, parent=mid_id,
                    kind=Span.SPAN_KIND_CLIENT, attributes={"db.system": "sqlite"})
    root = SpanSpec(trace_id, root_id, "GET /front", t0, 20 * MS, kind=Span.SPAN_KIND_SERVER)
    mid = SpanSpec(trace_id, mid_id, "backend.call", t0 + 2 * MS, 10 * MS, parent=root_id,
                   kind=Span.SPAN_KIND_SERVER)
    out.requests.append(request([({"service.name": "diff-backend"}, [leaf])]))
    out.requests.append(request([({"service.name": "diff-front"}, [root])]))
    out.requests.append(request([({"service.name": "diff-backend"}, [mid]),
                                 ({"service.name": "diff-front", "extra": "second resource"},
                                  [])]))
    _record(out, "out-of-order", trace_id, 3)


def large_payload(out: Payloads, now_ns: int, spans: int = 400) -> None:
    """A large trace: one root and ``spans - 1`` children in two requests."""
    trace_id, root_id, *_ = ids()
    t0 = now_ns - 5 * 60_000 * MS
    children = [SpanSpec(trace_id, os.urandom(8), f"step-{i % 7}", t0 + i * 10_000, 5_000,
                         parent=root_id, attributes={"i": i, "even": i % 2 == 0})
                for i in range(spans - 1)]
    root = SpanSpec(trace_id, root_id, "big-root", t0, spans * 10_000 + MS)
    half = len(children) // 2
    out.requests.append(request([({"service.name": "diff-large"}, [root, *children[:half]])]))
    out.requests.append(request([({"service.name": "diff-large"}, children[half:])]))
    _record(out, "large", trace_id, spans)


SEARCH_SERVICE = "diff-search"


def search_payload(out: Payloads, now_ns: int) -> None:
    """Twelve one-to-two-span traces, spread over 40 minutes, for the search comparisons."""
    groups = []
    for i in range(12):
        trace_id, root_id, child_id, *_ = ids()
        start = now_ns - (40 - 3 * i) * 60_000 * MS
        status = 500 if i % 3 == 0 else 200
        root = SpanSpec(trace_id, root_id, "op-a" if i % 2 else "op-b", start, (10 + 10 * i) * MS,
                        kind=Span.SPAN_KIND_SERVER,
                        attributes={"http.response.status_code": status, "error": status == 500,
                                    "customer": f"c{i % 4}", "ratio": i / 4})
        spans = [root]
        if i % 4 == 0:
            spans.append(SpanSpec(trace_id, child_id, "op-child", start + MS, 2 * MS,
                                  parent=root_id, events=[("retry", start + 2 * MS,
                                                           {"attempt": i})]))
        groups.append(({"service.name": SEARCH_SERVICE}, spans))
        _record(out, f"search-{i}", trace_id, len(spans))
    out.requests.append(request(groups))


GATEWAY_FIXTURE = Path(__file__).parents[1] / "unit" / "fixtures" / "jaeger" / "sdk_export.pb"


def gateway_payload(out: Payloads, now_ns: int) -> None:
    """The gateway's span tree (llm-api: server span, inference with first-token event and
    a link, a failed post-processing step) as the SDK's exporter encoded it, given a fresh
    trace id and moved to 25 minutes ago."""
    message = ExportTraceServiceRequest.FromString(GATEWAY_FIXTURE.read_bytes())
    trace_id = os.urandom(16)
    spans = [span for rs in message.resource_spans for ss in rs.scope_spans for span in ss.spans]
    shift = now_ns - 25 * 60_000 * MS - min(span.start_time_unix_nano for span in spans)
    for span in spans:
        span.trace_id = trace_id
        span.start_time_unix_nano += shift
        span.end_time_unix_nano += shift
        for event in span.events:
            event.time_unix_nano += shift
    out.requests.append(message.SerializeToString())
    _record(out, "gateway", trace_id, len(spans))


def all_payloads(now_ns: int | None = None) -> Payloads:
    """Every case above, built around ``now_ns``."""
    now_ns = now_ns or time.time_ns()
    out = Payloads()
    for build in (sdk_payload, gateway_payload, edge_payload, out_of_order_payload,
                  large_payload, search_payload):
        build(out, now_ns)
    return out
