"""Judge trace answers on fixed traces: the gateway's span trees, sent over OTLP.

The fixture is sixty requests through the gateway (``llm-api``), dated 2026-01-01 (far from
any live traffic), with the span tree the gateway makes
(``POST /v1/chat/completions`` → ``chat_completion`` → ``tokenize``, ``inference`` →
``POST``, ``post_process``; see ``labkit/gateway/tracing.py``). They are encoded as an OTLP
protobuf export request, as the gateway's ``OTLPSpanExporter`` sends them, and posted to
labkit's Jaeger stand-in *in this process* (its OTLP receiver and query API through
Starlette's test client: no port, no service). :func:`fixture_traces` gives the Jaeger
query client (``source``) and the window an answer is run on.

Built so that the usual mistakes give another result than the reference:

- the slowest *request* is not the trace with the longest ``chat_completion`` (4 s pass
  in its server span before it), it is among the oldest of the window (a search with the
  default ``limit=20`` keeps the newest), and a slower trace lies just before the window
  and another in a second service (``llm-batch``);
- self time: two ``tokenize`` spans of 3 s (exact tokenization) make tokenize the top
  operation by mean and p99 self time, the slowest request's 4 s wait makes the server span
  the top by max, the client ``POST`` tops the median, and ``chat_completion`` the p95 of
  plain duration; only ``inference`` tops the p95 of self time;
- errors: failed requests have two or three ERROR spans, 4xx answers have none (a client
  error is not a server span error), and the other service has errors of its own;
- time to first token: skewed (mean far above median), in seconds on the event.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from labkit.exercises.function_answers import AnswerFixture

__all__ = ["END", "FIXTURE_ID", "SERVICE", "START", "export_request",
           "fixture_traces"]

FIXTURE_ID = "gateway-traces-v1"
SERVICE = "llm-api"
DECOY_SERVICE = "llm-batch"
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
END = START + 180.0
REQUESTS = 60
ROOT = "POST /v1/chat/completions"
_SERVER, _INTERNAL, _CLIENT = (Span.SPAN_KIND_SERVER, Span.SPAN_KIND_INTERNAL,
                               Span.SPAN_KIND_CLIENT)


def _id(*parts: Any, size: int = 16) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()[:size]


def _attrs(values: dict[str, Any]) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=str(value))
        out.append(KeyValue(key=key, value=any_value))
    return out


@dataclass
class _Trace:
    """Spans of one request as (name, kind, parent index, start ms, duration ms, attrs, error)."""

    key: Any
    at: float  # unix seconds of the server span's start
    spans: list[tuple[str, Any, int | None, float, float, dict[str, Any], bool]]
    events: dict[int, tuple[float, str, dict[str, Any]]]  # span index -> (ms, name, attrs)

    def add(self, name: str, kind: Any, parent: int | None, start: float, ms: float,
            attrs: dict[str, Any] | None = None, error: bool = False) -> int:
        self.spans.append((name, kind, parent, start, ms, attrs or {}, error))
        return len(self.spans) - 1

    def encode(self) -> list[Span]:
        trace_id = _id(FIXTURE_ID, self.key)
        span_ids = [_id(FIXTURE_ID, self.key, n, size=8) for n in range(len(self.spans))]
        out = []
        for n, (name, kind, parent, start, ms, attrs, error) in enumerate(self.spans):
            begin = round((self.at + start / 1000) * 1e9)
            span = Span(trace_id=trace_id, span_id=span_ids[n], name=name, kind=kind,
                        start_time_unix_nano=begin, end_time_unix_nano=begin + round(ms * 1e6),
                        attributes=_attrs(attrs))
            if parent is not None:
                span.parent_span_id = span_ids[parent]
            if error:
                span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="failed"))
            if n in self.events:
                at, event, fields = self.events[n]
                span.events.add(time_unix_nano=round((self.at + at / 1000) * 1e9), name=event,
                                attributes=_attrs(fields))
            out.append(span)
        return out


def _request(i: int, at: float, *, service: str = SERVICE) -> _Trace:
    """One gateway request; its shape (streaming, error, slow...) follows from ``i``."""
    t = _Trace((service, i), at, [], {})
    stream = i % 2 == 0
    failed = i % 9 == 4  # an injected 500 before inference ...
    upstream = i % 13 == 6  # ... or llama-server failing during it
    client_error = i % 11 == 8  # a 400: no span error
    pre = 4000.0 if i == 1 else 0.4 + (i % 3) * 0.1  # before chat_completion
    delay = 300.0 if i in (20, 33) else 0.0  # an injected delay inside chat_completion
    tokenize = 3000.0 if i in (11, 47) else 1.0 + (i % 4) * 0.5
    generate = (100.0 + (i * 37) % 80) if stream else 40.0 + (i * 29) % 50
    headers = 4.0 + i % 3  # the client span of a stream ends with the response headers
    post = 27.0 + (i % 5)  # post_process
    status = 500 if failed or upstream else 400 if client_error else 200
    error = status >= 500
    root = t.add(ROOT, _SERVER, None, 0.0, 0.0, {"http.request.method": "POST",
                                                  "http.response.status_code": status}, error)
    chat = t.add("chat_completion", _INTERNAL, root, pre, 0.0,
                 {"model": "labkit-tiny", "user_id": f"user_{i % 5}",
                  "request_id": f"req_fixture_{i:04d}"}, error)
    clock = pre + delay
    t.add("tokenize", _INTERNAL, chat, clock, tokenize)
    clock += tokenize
    if not failed and not client_error:
        infer_ms = generate + headers if stream else generate + 1.5
        infer = t.add("inference", _INTERNAL, chat, clock, infer_ms,
                      {"gen_ai.request.model": "labkit-tiny", "gen_ai.operation.name": "chat"},
                      upstream)
        t.add("POST", _CLIENT, infer, clock + 0.5, headers if stream else generate, {},
              upstream)
        if stream and not upstream:
            ttft_s = (clock + headers + 3.0 + (i * 7) % 11 + (400.0 if i % 10 == 2 else 0)) / 1000
            t.events[infer] = (clock + headers + 3.0, "gen_ai.first_token",
                               {"gen_ai.server.time_to_first_token": ttft_s})
        clock += infer_ms
        if not upstream:
            t.add("post_process", _INTERNAL, chat, clock, post)
            clock += post
    # close chat_completion and the server span around their children
    t.spans[chat] = (*t.spans[chat][:4], clock - pre + 0.2, *t.spans[chat][5:])
    t.spans[root] = (*t.spans[root][:4], clock + 0.6, *t.spans[root][5:])
    return t


def _traces() -> list[_Trace]:
    traces = [_request(i, START + 5 + 2.9 * i) for i in range(REQUESTS)]
    before = _request(1, START - 30)  # slower than any in the window, but outside it
    before.key = (SERVICE, "before")
    before.spans[0] = (*before.spans[0][:4], 6000.0, *before.spans[0][5:])
    traces.append(before)
    for i in range(12):  # another service on the same Jaeger: slower, and failing more
        other = _request(i * 9 + 4, START + 7 + 13 * i, service=DECOY_SERVICE)
        other.spans[0] = (*other.spans[0][:4], 8000.0 + i, *other.spans[0][5:])
        traces.append(other)
    return traces


def export_request() -> bytes:
    """The fixture as one OTLP/HTTP protobuf body (``ExportTraceServiceRequest``)."""
    request = ExportTraceServiceRequest()
    for service in (SERVICE, DECOY_SERVICE):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(_attrs(
            {"service.name": service, "service.version": "0.1.0",
             "deployment.environment": "lab"}))
        scope = resource_spans.scope_spans.add()
        scope.scope.name = "labkit.gateway"
        for trace in _traces():
            if trace.key[0] == service:
                scope.spans.extend(trace.encode())
    return request.SerializeToString()


@functools.cache
def fixture_traces() -> AnswerFixture:
    """The fixture, held by a Jaeger stand-in in this process (built once per process)."""
    from starlette.testclient import TestClient

    from labkit.exercises.logql_fixture import InProcessTransport
    from labkit.query.jaeger import Jaeger
    from labkit.standins.jaeger import Store, create_otlp_app, create_query_app

    folder = tempfile.mkdtemp(prefix="labkit-trace-fixture-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    store = Store(folder)
    with TestClient(create_otlp_app(store), base_url="http://127.0.0.1:4318") as otlp:
        sent = otlp.post("/v1/traces", content=export_request(),
                         headers={"Content-Type": "application/x-protobuf"})
    if sent.status_code != 200:
        raise RuntimeError(f"the trace fixture was refused ({sent.status_code}): {sent.text}")
    query = TestClient(create_query_app(store), base_url="http://127.0.0.1:16686")
    jaeger = Jaeger("http://127.0.0.1:16686", transport=InProcessTransport(query))
    return AnswerFixture(FIXTURE_ID, jaeger, {"start": START, "end": END})
