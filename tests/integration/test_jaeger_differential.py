"""The Jaeger stand-in against the real Jaeger v2: same OTLP payloads in, same answers out.

Both servers get the same protobuf requests (the OpenTelemetry SDK's spans and hand-made
edge cases: every attribute type, events, links, statuses, unicode, a 400-span trace, a
trace sent out of order over two services). Then every Jaeger API answer is compared field
by field: services, operations, traces by id, searches (tags, durations, limits, time
ranges) and the error answers. A difference fails the test unless ``KNOWN`` lists it, with
the reason, as docs/jaeger.md does.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from labkit.runtime.provision import find_binary
from labkit.runtime.templates import render
from labkit.standins.jaeger import JaegerStandin
from labkit.testing import poll_until

from .jaeger_payloads import SEARCH_SERVICE, Payloads, all_payloads

pytestmark = pytest.mark.integration

PROTOBUF = {"Content-Type": "application/x-protobuf"}

# Differences the stand-in keeps on purpose: (where, what) -> reason. docs/jaeger.md lists them.
KNOWN: dict[str, str] = {}


@dataclass(frozen=True)
class Server:
    name: str
    query_url: str
    otlp_url: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.query_url + path, params=params, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real Jaeger v2 binary with in-memory storage, on free loopback ports."""
    binary = find_binary("jaeger")
    if binary is None:
        pytest.fail("jaeger is not installed: run `labkit install` (it builds Jaeger v2 with Go)")
    folder = tmp_path_factory.mktemp("jaeger-real")
    query, otlp, grpc = _free_port(), _free_port(), _free_port()
    config = render("jaeger/config.yaml.j2", folder / "config.yaml", host="127.0.0.1",
                    query_port=query, otlp_port=otlp, query_grpc_port=grpc,
                    data_dir=str(folder), storage="memory")
    log = folder / "jaeger.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(binary), "--config", str(config)], stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server("jaeger", f"http://127.0.0.1:{query}", f"http://127.0.0.1:{otlp}")
    try:
        poll_until("real jaeger ready", lambda: _ready(server, proc, log), bool, timeout=60)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(server: Server, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        pytest.fail(f"jaeger exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
    try:
        ok = server.get("/api/services").status_code == 200
        return ok and httpx.post(server.otlp_url + "/v1/traces", content=b"", headers=PROTOBUF,
                                 timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """labkit's stand-in on free ports, with its own storage."""
    with JaegerStandin(tmp_path_factory.mktemp("jaeger-standin"), otlp_port=0,
                       query_port=0) as server:
        yield Server("stand-in", server.query_url, server.otlp_url)


@pytest.fixture(scope="module")
def sent(real: Server, standin: Server) -> Payloads:
    """Every payload sent to both servers, in the same order; waits until both hold them all."""
    payloads = all_payloads()
    for body in payloads.requests:
        for server in (real, standin):
            response = httpx.post(server.otlp_url + "/v1/traces", content=body, headers=PROTOBUF,
                                  timeout=30)
            assert response.status_code == 200, (server.name, response.text)
    for server in (real, standin):
        for trace_id, count in payloads.span_counts.items():
            poll_until(f"{server.name} holds trace {trace_id}",
                       lambda s=server, t=trace_id: s.get(f"/api/traces/{t}"),
                       lambda r, n=count: r.status_code == 200 and
                       len(r.json()["data"][0]["spans"]) == n, timeout=30)
    return payloads


# -- comparing answers -------------------------------------------------------------------------

def _normal_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A trace with each span's process inlined (process ids are per-answer names) and the
    spans in span-id order (the order spans arrive in differs between stores)."""
    processes = trace.get("processes") or {}
    spans = []
    for span in sorted(trace.get("spans") or [], key=lambda s: s["spanID"]):
        span = dict(span)
        span["process"] = processes.get(span.pop("processID", ""), "<missing process>")
        span["references"] = sorted(span.get("references") or [],
                                    key=lambda r: (r["refType"], r["traceID"], r["spanID"]))
        spans.append(span)
    return {**{k: v for k, v in trace.items() if k != "processes"}, "spans": spans}


def _diff(real: Any, standin: Any, path: str = "") -> list[str]:
    """Every place where two JSON values differ, as 'path: real=... stand-in=...'."""
    if isinstance(real, dict) and isinstance(standin, dict):
        out = []
        for key in sorted(set(real) | set(standin)):
            if key not in standin:
                out.append(f"{path}.{key}: only in real ({real[key]!r:.80})")
            elif key not in real:
                out.append(f"{path}.{key}: only in stand-in ({standin[key]!r:.80})")
            else:
                out += _diff(real[key], standin[key], f"{path}.{key}")
        return out
    if isinstance(real, list) and isinstance(standin, list):
        if len(real) != len(standin):
            return [f"{path}: {len(real)} items in real, {len(standin)} in stand-in: "
                    f"real={real!r:.300} stand-in={standin!r:.300}"]
        return [d for i, (a, b) in enumerate(zip(real, standin, strict=True))
                for d in _diff(a, b, f"{path}[{i}]")]
    if real != standin or type(real) is not type(standin):
        return [f"{path}: real={real!r:.200} stand-in={standin!r:.200}"]
    return []


def _unexplained(differences: list[str]) -> list[str]:
    import re

    return [d for d in differences if not any(re.search(p, d) for p in KNOWN)]


def _trace_answer(response: httpx.Response) -> Any:
    doc = response.json()
    doc["data"] = sorted((_normal_trace(t) for t in doc.get("data") or []),
                         key=lambda t: t["traceID"])
    return doc


# -- the comparisons ---------------------------------------------------------------------------

def test_services_are_the_same(real: Server, standin: Server, sent: Payloads) -> None:
    """/api/services lists the same services (order aside)."""
    answers = [s.get("/api/services").json() for s in (real, standin)]
    for doc in answers:
        doc["data"] = sorted(doc["data"] or [])
    assert _unexplained(_diff(*answers)) == []


SERVICES = ["diff-sdk", "diff-edge", "diff-front", "diff-backend", "diff-large", SEARCH_SERVICE,
            "no-such-service"]


@pytest.mark.parametrize("service", SERVICES)
def test_operations_are_the_same(real: Server, standin: Server, sent: Payloads,
                                 service: str) -> None:
    """Both operation endpoints answer the same, with and without a span kind."""
    differences = []
    for path, params in [(f"/api/services/{service}/operations", {}),
                         ("/api/operations", {"service": service}),
                         ("/api/operations", {"service": service, "spanKind": "server"}),
                         ("/api/operations", {"service": service, "spanKind": "client"})]:
        answers = []
        for server in (real, standin):
            doc = server.get(path, **params).json()
            doc["data"] = sorted(doc["data"] or [], key=json.dumps)
            answers.append(doc)
        differences += [f"{path} {params}: {d}" for d in _diff(*answers)]
    assert _unexplained(differences) == []


CASES = ["sdk", "sdk-linked", "edge", "out-of-order", "large", "search-0", "search-5"]


@pytest.mark.parametrize("case", CASES)
def test_trace_by_id_is_the_same(real: Server, standin: Server, sent: Payloads,
                                 case: str) -> None:
    """/api/traces/{id}: every span, tag, log, reference, process and warning matches."""
    trace_id = sent.traces[case]
    answers = [_trace_answer(s.get(f"/api/traces/{trace_id}")) for s in (real, standin)]
    assert _unexplained(_diff(*answers)) == []


def _searches(sent: Payloads) -> dict[str, dict[str, Any]]:
    now_us = time.time_ns() // 1000
    minute = 60_000_000
    base = {"service": SEARCH_SERVICE}
    return {
        "service": base,
        "operation": {**base, "operation": "op-a"},
        "tags-json": {**base, "tags": json.dumps({"http.response.status_code": "500"})},
        "tag-bool": {**base, "tag": "error:true"},
        "tags-two": {**base, "tags": json.dumps({"customer": "c1", "error": "false"})},
        "tag-float": {**base, "tag": "ratio:0.25"},
        "tag-on-log": {**base, "tag": "attempt:8"},
        "min-duration": {**base, "minDuration": "55ms"},
        "max-duration": {**base, "maxDuration": "40ms"},
        "duration-range": {**base, "minDuration": "30ms", "maxDuration": "0.09s"},
        "limit": {**base, "limit": "3"},
        "time-range": {**base, "start": str(now_us - 30 * minute),
                       "end": str(now_us - 10 * minute)},
        "lookback": {**base, "lookback": "1h"},
        "unknown-service": {"service": "no-such-service"},
        "trace-ids": {"traceID": [sent.traces["sdk"], sent.traces["edge"][-16:]]},
        "trace-id-missing": {"traceID": ["0" * 31 + "1"]},
        "no-service": {},
        "bad-limit": {**base, "limit": "many"},
        "bad-duration": {**base, "minDuration": "fast"},
        "max-below-min": {**base, "minDuration": "2s", "maxDuration": "1s"},
        "bad-tags-json": {**base, "tags": "{not json"},
        "bad-tag": {**base, "tag": "no-colon"},
        "bad-start": {**base, "start": "yesterday"},
        "bad-trace-id": {"traceID": "xyz"},
    }


@pytest.mark.parametrize("name", list(_searches(Payloads())))
def test_search_is_the_same(real: Server, standin: Server, sent: Payloads, name: str) -> None:
    """/api/traces?...: the same status, the same traces found (whole), the same errors."""
    params = _searches(sent)[name]
    responses = [s.get("/api/traces", **params) for s in (real, standin)]
    differences = [f"status: real={responses[0].status_code} stand-in={responses[1].status_code}"
                   ] if responses[0].status_code != responses[1].status_code else []
    if responses[0].status_code == 200 and responses[1].status_code == 200:
        answers = [_trace_answer(r) for r in responses]
        if name == "limit":  # which 3 of the 12 is the store's choice; the count is not
            differences += _diff(len(answers[0]["data"]), len(answers[1]["data"]), ".count")
            for doc in answers:
                doc["data"] = []
        differences += _diff(*answers)
    else:
        differences += _diff(*(r.text for r in responses), ".body")
    assert _unexplained(differences) == []


@pytest.mark.parametrize("path", [
    "/api/traces/" + "f" * 32,  # unknown id
    "/api/traces/xyz",  # not hex
    "/api/traces/" + "a" * 33,  # too long
    "/api/operations",  # no service
    "/api/services/no-such-service/operations",
    "/api/dependencies",  # no endTs
    "/api/dependencies?endTs=soon",
])
def test_error_answers_are_the_same(real: Server, standin: Server, sent: Payloads,
                                    path: str) -> None:
    """Unknown ids and bad parameters get the same status, content type and body."""
    responses = [httpx.get(s.query_url + path, timeout=30) for s in (real, standin)]
    pairs = [(r.status_code, r.headers.get("content-type", ""), r.text) for r in responses]
    differences = _diff(*(list(p) for p in pairs), path)
    assert _unexplained(differences) == []
