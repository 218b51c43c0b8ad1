"""Acknowledged means stored: kill -9 a server in the middle of a push stream, restart it,
and every write it acknowledged is there, once. Runs the Jaeger stand-in and the
notification sink as real processes (the Loki stand-in has its own crash test)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from labkit.runtime.process import ServiceProcess
from labkit.testing import free_port, poll_until, start_service

pytestmark = pytest.mark.integration

ACKS_BEFORE_KILL = 60


def _start(name: str, argv: list[str], health: str, log: Path) -> ServiceProcess:
    return start_service(name, [sys.executable, "-m", *argv], log_path=log, health_url=health,
                         timeout=60)


def _push_then_kill(send: Callable[[httpx.Client, int], bool], proc: ServiceProcess) -> list[int]:
    """Push numbered writes from two threads; SIGKILL the server mid-stream; the acked ones."""
    acked: list[int] = []
    counter = iter(range(10**9))
    lock = threading.Lock()
    stop = threading.Event()

    def pusher() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                with lock:
                    i = next(counter)
                try:
                    if send(client, i):
                        with lock:
                            acked.append(i)
                except httpx.HTTPError:
                    time.sleep(0.01)  # the server is gone; keep trying until told to stop

    threads = [threading.Thread(target=pusher) for _ in range(2)]
    for t in threads:
        t.start()
    poll_until(f"{ACKS_BEFORE_KILL} acknowledged writes", lambda: len(acked),
               lambda n: n >= ACKS_BEFORE_KILL, 120, 0.005)
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: writes are in flight on both threads
    proc.popen.wait(timeout=10)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    return sorted(acked)


def _export(i: int) -> bytes:
    span = Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"),
                name=f"push {i}", kind=2, start_time_unix_nano=time.time_ns() - 10**6,
                end_time_unix_nano=time.time_ns())
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": [{"key": "service.name", "value": {"string_value": "crash"}}]},
        scope_spans=[ScopeSpans(spans=[span])])])
    return request.SerializeToString()


def test_jaeger_standin_keeps_every_acknowledged_span_after_kill_9(tmp_path: Path) -> None:
    """Spans the stand-in answered 200 for survive SIGKILL mid-stream, each exactly once."""
    otlp, query = free_port(), free_port()
    argv = ["labkit.standins.jaeger", "--otlp-port", str(otlp), "--query-port", str(query),
            "--data-dir", str(tmp_path / "data")]
    health = f"http://127.0.0.1:{query}/"
    proc = _start("jaeger", argv, health, tmp_path / "jaeger.log")

    def send(client: httpx.Client, i: int) -> bool:
        r = client.post(f"http://127.0.0.1:{otlp}/v1/traces", content=_export(i),
                        headers={"content-type": "application/x-protobuf"})
        return r.status_code == 200

    acked = _push_then_kill(send, proc)
    proc = _start("jaeger", argv, health, tmp_path / "jaeger.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{query}") as client:
            for i in acked:
                r = client.get(f"/api/traces/{i + 1:032x}")
                assert r.status_code == 200, f"acknowledged span {i} is missing after kill -9"
                spans = r.json()["data"][0]["spans"]
                assert [s["operationName"] for s in spans] == [f"push {i}"], "duplicated"
            stored = client.get("/").json()["traces"]
        assert stored >= len(acked)
    finally:
        proc.stop()


def test_sink_keeps_every_acknowledged_notification_after_kill_9(tmp_path: Path) -> None:
    """Notifications the sink answered 200 for survive SIGKILL mid-stream, each exactly once."""
    port = free_port()
    argv = ["labkit.standins.sink", "--port", str(port), "--data-dir", str(tmp_path / "sink")]
    base = f"http://127.0.0.1:{port}"
    proc = _start("sink", argv, base + "/health", tmp_path / "sink.log")

    def send(client: httpx.Client, i: int) -> bool:
        payload = {"version": "4", "status": "firing", "receiver": "crash",
                   "alerts": [{"status": "firing", "labels": {"alertname": f"A{i}"},
                               "annotations": {}, "fingerprint": str(i)}]}
        return client.post(base + "/hook/crash", json=payload).status_code == 200

    acked = _push_then_kill(send, proc)
    proc = _start("sink", argv, base + "/health", tmp_path / "sink.log")
    try:
        stored = Counter(n["alertname"] for n in httpx.get(base + "/notifications").json())
    finally:
        proc.stop()
    missing = [i for i in acked if stored[f"A{i}"] == 0]
    assert not missing, f"acknowledged notifications lost after kill -9: {missing[:10]}"
    assert max(stored.values()) == 1, "a notification was stored twice"
