"""Measure the Jaeger stand-in: OTLP ingest rate and search latency. Prints figures.

    python benchmarks/jaeger_standin.py [--traces 100000] [--spans-per-trace 4]

It starts the stand-in itself on free ports with a temporary data dir, sends
pre-encoded OTLP/HTTP protobuf requests of 512 spans (the BatchSpanProcessor's
default batch) from a few concurrent senders, then times
``/api/traces?service=llm-api&limit=20`` with everything stored.

Targets (issue 4): >= 20,000 spans/s ingested; search < 200 ms with 100,000 traces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from labkit.standins.jaeger import JaegerStandin

BATCH = 512  # BatchSpanProcessor's max_export_batch_size
OPERATIONS = ["tokenize", "inference", "post_process", "POST"]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=int(value)))  # type: ignore[call-overload]


def build_requests(traces: int, spans_per_trace: int) -> list[bytes]:
    """Encoded export requests holding ``traces`` traces of ``spans_per_trace`` spans each."""
    resource_attrs = [
        _kv("service.name", "llm-api"),
        _kv("service.version", "0.1.0"),
        _kv("deployment.environment", "lab"),
    ]
    now_ns = time.time_ns() - 60 * 10**9
    spans: list[Span] = []
    for t in range(traces):
        trace_id = (t + 1).to_bytes(8, "big") + os.urandom(8)
        start = now_ns + t * 1000
        root_id = os.urandom(8)
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=root_id,
                name="POST /v1/chat/completions",
                kind=2,
                start_time_unix_nano=start,
                end_time_unix_nano=start + 50_000_000,
                attributes=[
                    _kv("http.request.method", "POST"),
                    _kv("http.response.status_code", 200),
                ],
            )
        )
        for i in range(spans_per_trace - 1):
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=os.urandom(8),
                    parent_span_id=root_id,
                    name=OPERATIONS[i % len(OPERATIONS)],
                    kind=1,
                    start_time_unix_nano=start + i * 1_000_000,
                    end_time_unix_nano=start + (i + 1) * 10_000_000,
                    attributes=[
                        _kv("gen_ai.request.model", "tiny"),
                        _kv("gen_ai.usage.output_tokens", 32),
                    ],
                )
            )
    requests = []
    for i in range(0, len(spans), BATCH):
        req = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource={"attributes": resource_attrs},
                    scope_spans=[
                        ScopeSpans(scope={"name": "labkit.gateway"}, spans=spans[i : i + BATCH])
                    ],
                )
            ]
        )
        requests.append(req.SerializeToString())
    return requests


def measure_ingest(url: str, requests: list[bytes], senders: int = 4) -> float:
    """Spans per second accepted (200) over OTLP/HTTP."""
    headers = {"Content-Type": "application/x-protobuf"}

    def send(chunk: list[bytes]) -> None:
        with httpx.Client(timeout=60) as client:
            for body in chunk:
                client.post(url + "/v1/traces", content=body, headers=headers).raise_for_status()

    chunks = [requests[i::senders] for i in range(senders)]
    begin = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, chunks))
    elapsed = time.perf_counter() - begin
    return len(requests) * BATCH / elapsed


def measure_search(url: str, repeats: int = 20) -> list[float]:
    """Latencies in ms of the search the notebooks run most."""
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(repeats):
            begin = time.perf_counter()
            r = client.get(url + "/api/traces", params={"service": "llm-api", "limit": 20})
            times.append((time.perf_counter() - begin) * 1000)
            r.raise_for_status()
            assert len(r.json()["data"]) == 20
    return times


def measure_gateway_overhead() -> None:
    """Placeholder for the lead: gateway p50, tracing on minus off (target <= 1 ms)."""
    print("tracing overhead on gateway p50: not measured here (the lead's figure)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--spans-per-trace", type=int, default=4)
    args = parser.parse_args()
    print(f"building {args.traces:,} traces x {args.spans_per_trace} spans ...", flush=True)
    requests = build_requests(args.traces, args.spans_per_trace)
    with (
        tempfile.TemporaryDirectory() as data_dir,
        JaegerStandin(data_dir, otlp_port=0, query_port=0) as jaeger,
    ):
        rate = measure_ingest(jaeger.otlp_url, requests)
        stored = jaeger.store.trace_count() if jaeger.store else 0
        print(
            f"ingest: {rate:,.0f} spans/s over OTLP/HTTP protobuf, {BATCH} spans/request "
            f"(target >= 20,000)"
        )
        times = measure_search(jaeger.query_url)
        print(
            f"search /api/traces?service=llm-api&limit=20 with {stored:,} traces stored: "
            f"p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms (target < 200 ms)"
        )
        size = sum(f.stat().st_size for f in jaeger.data_dir.iterdir())
        print(f"disk: {size / 2**20:,.0f} MiB for {stored * args.spans_per_trace:,} spans")
    measure_gateway_overhead()


if __name__ == "__main__":
    main()
