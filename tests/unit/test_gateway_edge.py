"""The gateway's edge: capped bodies, strict fields and headers, cross-site refusals, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labkit.gateway import GatewaySettings, create_app
from labkit.gateway.faults import FaultController, Faults
from labkit.gateway.logs import setup_logging
from labkit.gateway.state import GatewayState
from labkit.testing import FakeLlamaServer

CHAT = "/v1/chat/completions"
HELLO: dict[str, Any] = {"model": "labkit-tiny", "max_tokens": 3,
                         "messages": [{"role": "user", "content": "hi"}]}


class Edge:
    """A gateway in front of a fake llama-server, with its state at hand."""

    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.fake = FakeLlamaServer().__enter__()
        settings = GatewaySettings(upstream=self.fake.url,
                                   usage_db=f"sqlite:///{tmp_path / 'usage.db'}", **overrides)
        setup_logging(None, stdout=False)
        self.app = create_app(settings, seed=1)
        self.client = TestClient(self.app, base_url="http://127.0.0.1:8000").__enter__()
        self.state: GatewayState = self.app.state.gateway

    def errors(self, error_type: str) -> float:
        value = self.state.metrics.registry.get_sample_value(
            "llm_request_errors_total", {"error_type": error_type})
        return value or 0.0

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.fake.stop()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    e = Edge(tmp_path)
    yield e
    e.close()


def test_chunked_body_over_the_cap_is_a_413(tmp_path: Path) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused past the cap."""
    e = Edge(tmp_path, max_body_bytes=200)
    try:
        def chunks() -> Iterator[bytes]:
            yield b'{"model": "labkit-tiny", "messages": [{"role": "user", "content": "'
            for _ in range(50):
                yield b"x" * 100
            yield b'"}]}'

        r = e.client.post(CHAT, content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"
        assert e.fake.requests == []
    finally:
        e.close()


def test_faults_body_is_capped(edge: Edge) -> None:
    """/admin/faults takes a few bytes of JSON, not megabytes."""
    r = edge.client.post("/admin/faults", content=b" " * 10_000 + b"{}",
                         headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("body,param", [
    ({**HELLO, "stream": True, "stream_options": "yes"}, "stream_options"),
    ({**HELLO, "stream": True, "stream_options": [1]}, "stream_options"),
    ({**HELLO, "messages": [{"role": "user", "content": [[[]]]}]}, "messages.0.content"),
    ({**HELLO, "n": 3}, "n"),
    ({**HELLO, "user": 7}, "user"),
    ({**HELLO, "max_tokens": 2**63 - 1}, "messages"),
], ids=["options-string", "options-list", "content-nested", "n", "user-number", "huge-max"])
def test_wrong_types_are_a_400_naming_the_field(edge: Edge, body: dict, param: str) -> None:
    """Wrong types and out-of-range values get a 400 that names the field, never a 500."""
    r = edge.client.post(CHAT, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"].startswith(param)


@pytest.mark.parametrize("raw", [
    b'{"model": "labkit-tiny", "messages": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"model": "labkit-tiny", "max_tokens": 1' + b"0" * 5000 + b', "messages": []}',
    b'{"model": "labkit-tiny", "temperature": 1e999, "messages": []}',
], ids=["deep-nesting", "5000-digit-int", "infinite-float"])
def test_pathological_json_is_a_400(edge: Edge, raw: bytes) -> None:
    """JSON that would exhaust recursion or integer parsing is refused as invalid JSON."""
    r = edge.client.post(CHAT, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_json"
    assert edge.errors("invalid_json") == 1


@pytest.mark.parametrize("field", ["n_predict", "ignore_eos", "id_slot"])
def test_llama_controls_that_bypass_the_budget_are_refused(edge: Edge, field: str) -> None:
    """n_predict, ignore_eos and id_slot never reach llama-server: a 400 says why."""
    r = edge.client.post(CHAT, json={**HELLO, field: 100_000 if field != "ignore_eos" else True})
    assert r.status_code == 400
    assert field in r.json()["error"]["message"] and "max_tokens" in r.json()["error"]["message"]
    assert edge.fake.requests == []


def test_only_allowed_fields_are_forwarded(edge: Edge) -> None:
    """OpenAI and llama.cpp sampling fields go through; OpenAI-only ones are dropped."""
    body = {**HELLO, "temperature": 0.2, "top_k": 5, "seed": 3, "metadata": {"a": "b"},
            "max_completion_tokens": 2}
    assert edge.client.post(CHAT, json=body).status_code == 200
    sent = edge.fake.requests[-1]
    assert sent["temperature"] == 0.2 and sent["top_k"] == 5 and sent["seed"] == 3
    assert sent["max_tokens"] == 2
    assert "metadata" not in sent and "max_completion_tokens" not in sent
    r = edge.client.post(CHAT, json={**HELLO, "frobnicate": 1})
    assert r.status_code == 400
    assert "Unrecognized request argument supplied: frobnicate" in r.json()["error"]["message"]


@pytest.mark.parametrize("headers,param", [
    ({"x-request-id": "x" * 65}, "x-request-id"),
    ({"x-request-id": "id with spaces"}, "x-request-id"),
    ({"x-user-id": "u" * 129}, "x-user-id"),
    ({"x-user-id": "tab\there"}, "x-user-id"),
], ids=["long-request-id", "spaced-request-id", "long-user-id", "control-char-user-id"])
def test_malformed_id_headers_are_refused_at_the_edge(edge: Edge, headers: dict,
                                                      param: str) -> None:
    """Ids the usage table could not store are a 400 before any work, with a fresh id."""
    r = edge.client.post(CHAT, json=HELLO, headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert r.headers["x-request-id"].startswith("req_") or param != "x-request-id"
    assert edge.fake.requests == []


def test_long_user_field_is_refused(edge: Edge) -> None:
    """The body's user field is held to the same limit as x-user-id."""
    r = edge.client.post(CHAT, json={**HELLO, "user": "u" * 129})
    assert r.status_code == 400 and r.json()["error"]["param"] == "user"


def test_cross_site_requests_are_refused(edge: Edge) -> None:
    """A text/plain POST (what a page can send unasked) and a foreign Host are refused."""
    for path in (CHAT, "/admin/faults"):
        r = edge.client.post(path, content=json.dumps({"error_rate": 1.0}),
                             headers={"content-type": "text/plain"})
        assert r.status_code == 415, path
    assert edge.client.get("/admin/faults").json()["error_rate"] == 0
    r = edge.client.get("/metrics", headers={"host": "attacker.example:8000"})
    assert r.status_code == 400 and "Host" in r.json()["error"]["message"]


def test_admin_token_guards_faults(tmp_path: Path) -> None:
    """With an admin token set, /admin/faults needs it; chat does not."""
    e = Edge(tmp_path, admin_token="t0ken")
    try:
        assert e.client.post("/admin/faults", json={"error_rate": 1}).status_code == 401
        ok = e.client.post("/admin/faults", json={"error_rate": 0.5},
                           headers={"authorization": "Bearer t0ken"})
        assert ok.status_code == 200 and ok.json()["error_rate"] == 0.5
    finally:
        e.close()


def test_admin_is_off_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    """Bound to every interface with no token, the admin API refuses to change faults."""
    e = Edge(tmp_path, host="0.0.0.0")
    try:
        r = e.client.post("/admin/faults", json={"error_rate": 1})
        assert r.status_code == 403 and "LABKIT_ADMIN_TOKEN" in r.json()["error"]["message"]
    finally:
        e.close()
    published = Edge(tmp_path, host="0.0.0.0", admin_open=True, allowed_hosts=("gateway",))
    try:  # a container published on the host's loopback (the docker runtime)
        assert published.client.post("/admin/faults", json={}).status_code == 200
        assert published.client.get("/health", headers={"host": "gateway:8000"}).status_code \
            == 200
        assert published.client.get("/health", headers={"host": "evil.example"}).status_code \
            == 400
    finally:
        published.close()


@pytest.mark.parametrize("faults", [
    {"hold_slots": 1e300}, {"latency_ms": 1e308}, {"hold_slots": True}, {"error_rate": None},
    {"hold_slots": 2**62},
], ids=["huge-int-float", "huge-float", "bool", "null", "huge-int"])
def test_huge_or_mistyped_fault_values_are_a_400(edge: Edge, faults: dict) -> None:
    """Fault values that overflow or are not numbers are refused with a 400."""
    r = edge.client.post("/admin/faults", json=faults)
    assert r.status_code == 400, r.text
    assert edge.client.get("/admin/faults").json()["hold_slots"] == 0


class EndlessUpstream:
    """An upstream whose generations never end (what a held slot looks like)."""

    async def chat(self, payload: dict, *, timeout: float | None = None) -> dict:
        await asyncio.sleep(3600)
        return {}


def test_overlapping_fault_updates_leave_exactly_the_last_holders() -> None:
    """Concurrent fault updates run one at a time: no slot-holding task is leaked."""
    controller = FaultController(EndlessUpstream(), "labkit-tiny")  # type: ignore[arg-type]

    async def race() -> int:
        await asyncio.gather(*(controller.set(Faults(hold_slots=n)) for n in (3, 2, 4, 1)))
        await asyncio.sleep(0)
        running = controller.holders
        await controller.reset()
        return running

    assert asyncio.run(race()) == 1  # the last update wins and nothing else runs


def test_tokenizing_waits_for_a_slot(tmp_path: Path) -> None:
    """The exact /tokenize call to llama-server happens only while holding a slot."""
    e = Edge(tmp_path, max_concurrency=1, context_per_request=64)
    seen: list[int] = []
    real = e.state.upstream.tokenize

    async def tokenize(text: str, **kw: Any) -> int:
        seen.append(e.state.limiter.in_use)
        return await real(text, **kw)

    e.state.upstream.tokenize = tokenize  # type: ignore[method-assign]
    try:
        long = {**HELLO, "messages": [{"role": "user", "content": "word " * 20}]}
        assert e.client.post(CHAT, json=long).status_code == 200
        assert seen == [1]
        assert e.state.limiter.in_use == 0
    finally:
        e.close()


def test_internal_error_mid_stream_is_an_error_not_a_client_close(edge: Edge) -> None:
    """A fault of the gateway's own during a stream is recorded as a 500 internal_error."""
    async def broken(payload: dict, **kw: Any):  # type: ignore[no-untyped-def]
        yield b"data: {}\n\n", {"choices": [{"delta": {"content": "a"}}]}
        raise KeyError("boom")

    edge.state.upstream.stream_chat = broken  # type: ignore[method-assign,assignment]
    with edge.client.stream("POST", CHAT, json={**HELLO, "stream": True}) as r:
        text = "".join(r.iter_text())
    assert "internal_error" in text
    assert edge.errors("internal_error") == 1
    assert edge.errors("client_closed") == 0
    assert edge.state.limiter.in_use == 0


@pytest.mark.parametrize("manual", [False, True], ids=["instrumented", "manual"])
def test_manual_server_span_gives_the_same_trace(tmp_path: Path, manual: bool) -> None:
    """The hand-made server span has the instrumentation's name, kind, parent and status."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeLlamaServer() as fake:
        app = create_app(GatewaySettings(upstream=fake.url, manual_server_span=manual),
                         tracer_provider=provider, seed=1)
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            assert client.post(CHAT, json=HELLO, headers={"traceparent": parent}).status_code == 200
    spans = {s.name: s for s in exporter.get_finished_spans()}
    server = spans["POST /v1/chat/completions"]
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(server.parent.span_id, "016x") == "b7ad6b7169203331"  # type: ignore[union-attr]
    assert server.attributes["http.status_code"] == 200  # type: ignore[index]
    assert server.attributes["http.route"] == CHAT  # type: ignore[index]
    assert spans["chat_completion"].parent.span_id == server.context.span_id  # type: ignore[union-attr]
    assert {"tokenize", "inference", "post_process"} <= set(spans)


class FailingUpstream:
    """An upstream whose every call fails, as a crashed llama-server's would."""

    async def chat(self, payload: dict, *, timeout: float | None = None) -> dict:
        raise RuntimeError("llama-server fell over")


def test_slot_holder_errors_are_logged_not_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    """A slot holder that fails says so in the gateway log; set() still replaces the faults."""
    import logging

    logger = logging.getLogger("llm-api")
    logger.addHandler(caplog.handler)  # the gateway's logger does not propagate
    controller = FaultController(FailingUpstream(), "labkit-tiny")  # type: ignore[arg-type]

    async def run() -> int:
        await controller.set(Faults(hold_slots=1))
        await asyncio.sleep(0.05)
        await controller.reset()
        return controller.holders

    try:
        assert asyncio.run(run()) == 0
    finally:
        logger.removeHandler(caplog.handler)
    failed = [r for r in caplog.records if r.getMessage() == "Slot holder failed"]
    assert failed and "fell over" in failed[0].exception  # type: ignore[attr-defined]
