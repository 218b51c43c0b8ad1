"""The Jaeger stand-in against the real Jaeger v2: same OTLP payloads in, same answers out.

Both servers get the same protobuf requests (the OpenTelemetry SDK's spans and hand-made
edge cases: every attribute type, events, links, statuses, unicode, a 400-span trace, a
trace sent out of order over two services). Then every Jaeger API answer is compared field
by field: services, operations, traces by id, searches (tags, durations, limits, time
ranges) and the error answers. The real Jaeger runs as `labkit up` runs it (Badger storage).
Two differences are kept on purpose (docs/jaeger.md, "Differences from Jaeger v2", gives the
reasons); each is tolerated by one narrow rewrite of the answers, so any other difference fails.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labkit.config import LabConfig
from labkit.runtime import catalog
from labkit.runtime.catalog import ServiceContext
from labkit.runtime.process import ServiceProcess, wait_healthy
from labkit.runtime.provision import find_binary
from labkit.standins.jaeger import JaegerStandin
from labkit.testing import free_port, poll_until

from .jaeger_payloads import SEARCH_SERVICE, Payloads, all_payloads

pytestmark = pytest.mark.integration

PROTOBUF = {"Content-Type": "application/x-protobuf"}

# Known difference 1: JSON syntax errors in `tags` are worded by Python's parser, not Go's
# scanner. Go's type errors ("json: cannot unmarshal ...") are matched word for word.
_JSON_SYNTAX = re.compile(r'(cannot unmarshal JSON: )(?!json: )(.*?)(\\?"}\]})')


@dataclass(frozen=True)
class Server:
    name: str
    query_url: str
    otlp_url: str
    client: httpx.Client  # one keep-alive client per server, closed with it

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.query_url + path, params=params)

    def post(self, body: bytes) -> httpx.Response:
        return self.client.post(self.otlp_url + "/v1/traces", content=body, headers=PROTOBUF)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real Jaeger v2, launched the way `labkit up` launches it (the catalog's command
    line and stack/jaeger/config.yaml.j2, Badger storage), on free loopback ports."""
    binary = find_binary("jaeger")
    if binary is None:  # never a skip: CI builds Jaeger in `labkit install`
        pytest.fail("the real Jaeger is not installed, so the stand-in cannot be compared with "
                    "it: run `labkit install` (it builds Jaeger v2 from its Go module)")
    spec = catalog.get("jaeger")
    launch = next(lc for lc in spec.launches if lc.binary == "jaeger")
    run_dir = tmp_path_factory.mktemp("jaeger-real")
    ports = {name: free_port() for name in spec.ports}
    ctx = ServiceContext(config=LabConfig(run_dir=run_dir), run_dir=run_dir,
                         data_dir=run_dir / "data" / "jaeger", urls={}, ports=ports)
    ctx.data_dir.mkdir(parents=True)
    proc = ServiceProcess.spawn("jaeger", [str(binary), *launch.args(ctx)],
                                run_dir / "services" / "jaeger.log")
    client = httpx.Client(timeout=30)
    server = Server("jaeger", f"http://127.0.0.1:{ports['http']}",
                    f"http://127.0.0.1:{ports['otlp']}", client)
    try:
        wait_healthy(proc, server.query_url + (spec.health_path or "/"), timeout=60)
        poll_until("the real Jaeger's OTLP receiver", lambda: _otlp_ready(server), bool,
                   timeout=30)
        yield server
    finally:
        client.close()
        proc.stop()


def _otlp_ready(server: Server) -> bool:
    try:
        return server.post(b"").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """labkit's stand-in on free ports, with its own storage."""
    with JaegerStandin(tmp_path_factory.mktemp("jaeger-standin"), otlp_port=0,
                       query_port=0) as server:
        with httpx.Client(timeout=30) as client:
            yield Server("stand-in", server.query_url, server.otlp_url, client)


@pytest.fixture(scope="module")
def sent(real: Server, standin: Server) -> Payloads:
    """Every payload sent to both servers, in the same order; waits until both hold them all."""
    payloads = all_payloads()
    for body in payloads.requests:
        for server in (real, standin):
            response = server.post(body)
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


def _same_json_syntax_wording(body: str) -> str:
    """Known difference 1, tolerated: a JSON syntax error's own words."""
    return _JSON_SYNTAX.sub(r"\1<JSON syntax error>\3", body)


def _trace_answer(response: httpx.Response) -> Any:
    doc = response.json()
    if doc.get("data") is not None:  # null and [] differ, as the real one sends them
        doc["data"] = sorted((_normal_trace(t) for t in doc["data"]), key=lambda t: t["traceID"])
    return doc


# -- the comparisons ---------------------------------------------------------------------------

def test_services_are_the_same(real: Server, standin: Server, sent: Payloads) -> None:
    """/api/services lists the same services (order aside)."""
    answers = [s.get("/api/services").json() for s in (real, standin)]
    for doc in answers:
        doc["data"] = sorted(doc["data"])
    assert _diff(*answers) == []


SERVICES = ["diff-sdk", "llm-api", "diff-edge", "diff-front", "diff-backend", "diff-large",
            SEARCH_SERVICE, "no-such-service"]


@pytest.mark.parametrize("service", SERVICES)
def test_operations_are_the_same(real: Server, standin: Server, sent: Payloads,
                                 service: str) -> None:
    """Both operation endpoints answer the same, with and without a span kind."""
    differences = []
    for path, params in [(f"/api/services/{service}/operations", {}),
                         ("/api/operations", {"service": service}),
                         ("/api/operations", {"service": service, "spanKind": "server"}),
                         ("/api/operations", {"service": service, "spanKind": "client"})]:
        real_doc = real.get(path, **params).json()
        standin_doc = standin.get(path, **params).json()
        if path == "/api/operations" and _kind_blind(real_doc):
            standin_doc = _as_kind_blind(standin.get(path, service=service).json())
        answers = [real_doc, standin_doc]
        for doc in answers:
            if doc["data"] is not None:
                doc["data"] = sorted(doc["data"], key=json.dumps)
        differences += [f"{path} {params}: {d}" for d in _diff(*answers)]
    assert differences == []


def _kind_blind(doc: dict[str, Any]) -> bool:
    """Known difference 2: Jaeger's Badger store keeps no span kinds in its operation index.
    It answers every operation with spanKind "" and ignores the spanKind parameter; the
    stand-in records kinds (as Jaeger's memory, Cassandra and Elasticsearch stores do)."""
    return bool(doc["data"]) and all(op["spanKind"] == "" for op in doc["data"])


def _as_kind_blind(doc: dict[str, Any]) -> dict[str, Any]:
    """The stand-in's unfiltered answer as a store without kinds gives it: kinds blanked."""
    names = sorted({op["name"] for op in doc["data"]})
    return {**doc, "data": [{"name": n, "spanKind": ""} for n in names], "total": len(names)}


CASES = ["sdk", "sdk-linked", "gateway", "edge", "out-of-order", "large", "search-0", "search-5"]


@pytest.mark.parametrize("case", CASES)
def test_trace_by_id_is_the_same(real: Server, standin: Server, sent: Payloads,
                                 case: str) -> None:
    """/api/traces/{id}: every span, tag, log, reference, process and warning matches."""
    trace_id = sent.traces[case]
    answers = [_trace_answer(s.get(f"/api/traces/{trace_id}")) for s in (real, standin)]
    assert _diff(*answers) == []


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
        "bad-trace-id-low-half": {"traceID": "123" + "4567890abcdefXYZ"},
        "trace-id-uppercase": {"traceID": sent.traces["sdk"].upper()},
        "lookback-ignored": {**base, "lookback": "1m"},
        "bad-lookback-ignored": {**base, "lookback": "bogus"},
        "limit-out-of-range": {**base, "limit": "3000000000"},
        "bad-duration-unit": {**base, "maxDuration": "1x"},
        "duration-without-unit": {**base, "minDuration": "1"},
        "bad-end": {**base, "end": "x"},
        "tags-null": {**base, "tags": "null"},
        "tags-not-an-object": {**base, "tags": "[1]"},
        "tags-number-value": {**base, "tags": '{"customer": 1}'},
        "start-after-end": {**base, "start": str(now_us), "end": str(now_us - minute)},
        "end-before-default-start": {**base, "end": "-5"},
        "negative-start": {**base, "start": "-5"},
        "negative-min-duration": {**base, "minDuration": "-5s", "tag": "customer:c1"},
        "negative-max-duration": {**base, "maxDuration": "-1s"},
    }


@pytest.mark.parametrize("name", list(_searches(Payloads(traces=dict.fromkeys(CASES, "0" * 32)))))
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
        differences += _diff(*(_same_json_syntax_wording(r.text) for r in responses), ".body")
    assert differences == []


@pytest.mark.parametrize("path", [
    "/api/traces/" + "f" * 32,  # unknown id
    "/api/traces/xyz",  # not hex
    "/api/traces/" + "a" * 33,  # too long
    "/api/operations",  # no service
    "/api/services/no-such-service/operations",
    "/api/dependencies",  # no endTs
    "/api/dependencies?endTs=soon",
    "/api/dependencies?endTs=99999999999999999999",
    "/api/dependencies?lookback=1h",  # lookback is in milliseconds
    "/api/traces/0x12",
    "/api/traces/+12",
])
def test_error_answers_are_the_same(real: Server, standin: Server, sent: Payloads,
                                    path: str) -> None:
    """Unknown ids and bad parameters get the same status, content type and body."""
    responses = [s.client.get(s.query_url + path) for s in (real, standin)]
    pairs = [(r.status_code, r.headers.get("content-type", ""), r.text) for r in responses]
    assert _diff(*(list(p) for p in pairs), path) == []
