"""The gateway, against a fake llama-server: answers, errors, metrics, logs and usage rows."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from labkit.gateway import GatewaySettings, create_app
from labkit.gateway.logs import setup_logging
from labkit.testing import FakeLlamaServer

CHAT = "/v1/chat/completions"
HELLO = {"model": "labkit-tiny", "messages": [{"role": "user", "content": "hello there"}],
         "max_tokens": 5}


@pytest.fixture
def fake() -> Iterator[FakeLlamaServer]:
    with FakeLlamaServer() as server:
        yield server


def make_client(upstream: str, tmp_path: Path, **overrides: object) -> TestClient:
    settings = GatewaySettings(upstream=upstream, usage_db=f"sqlite:///{tmp_path / 'usage.db'}",
                               log_file=tmp_path / "gateway.log", **overrides)  # type: ignore[arg-type]
    setup_logging(settings.log_file, stdout=False)
    return TestClient(create_app(settings, seed=1), base_url="http://127.0.0.1:8000")


@pytest.fixture
def client(fake: FakeLlamaServer, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(fake.url, tmp_path) as c:
        yield c


def sample(client: TestClient, name: str, **labels: str) -> float:
    """The sum of the samples on /metrics with this name and these labels (0 when absent)."""
    return sum(s.value for family in text_string_to_metric_families(client.get("/metrics").text)
               for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def log_lines(tmp_path: Path) -> list[dict]:
    for handler in logging.getLogger("llm-api").handlers:
        handler.flush()
    return [json.loads(line) for line in (tmp_path / "gateway.log").read_text().splitlines()]


def test_completion_is_forwarded_and_counted(client: TestClient, tmp_path: Path) -> None:
    """A plain completion comes back in OpenAI's shape and moves the seed's metrics."""
    r = client.post(CHAT, json=HELLO, headers={"x-user-id": "user_7"})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "labkit-tiny"
    assert body["usage"]["completion_tokens"] == 5
    assert r.headers["x-request-id"].startswith("req_")
    labels = {"model": "labkit-tiny", "endpoint": CHAT}
    assert sample(client, "llm_requests_total", status="success", **labels) == 1
    assert sample(client, "llm_tokens_generated_total", model="labkit-tiny") == 5
    assert sample(client, "llm_prompt_tokens_total", model="labkit-tiny") == 2
    assert sample(client, "llm_request_duration_seconds_count", **labels) == 1
    assert sample(client, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == 5


def test_stream_is_relayed_chunk_by_chunk(client: TestClient) -> None:
    """stream=true relays SSE events, records time to first token, hides the usage chunk."""
    with client.stream("POST", CHAT, json={**HELLO, "stream": True}) as r:
        assert r.status_code == 200
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 5
    assert all(c["choices"] for c in chunks), "usage-only chunk leaked without include_usage"
    assert all(c["model"] == "labkit-tiny" for c in chunks)
    assert sample(client, "llm_token_latency_seconds_count", model="labkit-tiny") == 1
    assert sample(client, "llm_tokens_generated_total", model="labkit-tiny") == 5


def test_stream_with_include_usage_keeps_the_usage_chunk(client: TestClient) -> None:
    """A client that asks for usage in the stream gets the final usage chunk."""
    body = {**HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", CHAT, json=body) as r:
        chunks = [json.loads(line[6:]) for line in r.iter_lines()
                  if line.startswith("data: {")]
    assert chunks[-1]["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{not json", 400, "invalid_json"),
    (b"[1, 2]", 400, "invalid_json"),
    (json.dumps({"model": "labkit-tiny"}).encode(), 400, "invalid_request"),
    (json.dumps({"model": "labkit-tiny", "messages": []}).encode(), 400, "invalid_request"),
    (json.dumps({**HELLO, "max_tokens": 0}).encode(), 400, "invalid_request"),
    (json.dumps({**HELLO, "model": "gpt-9"}).encode(), 404, "model_not_found"),
    (json.dumps({**HELLO, "max_tokens": 5000}).encode(), 400, "context_length_exceeded"),
], ids=["malformed", "not-an-object", "no-messages", "empty-messages", "zero-max-tokens",
        "unknown-model", "oversized"])
def test_bad_requests_get_openai_errors_and_are_counted(client: TestClient, body: bytes,
                                                        status: int, code: str) -> None:
    """Bad input gets a 4xx with an OpenAI-style error body and is counted by type."""
    r = client.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert sample(client, "llm_request_errors_total", error_type=code) == 1
    assert sample(client, "llm_requests_total", status="error") == 1


def test_body_over_the_limit_is_refused(fake: FakeLlamaServer, tmp_path: Path) -> None:
    """A body larger than the limit is a 413, not a crash."""
    with make_client(fake.url, tmp_path, max_body_bytes=100) as c:
        r = c.post(CHAT, json={**HELLO, "messages": [{"role": "user", "content": "x" * 500}]})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_llama_server_down_is_a_503(tmp_path: Path) -> None:
    """With nothing listening upstream, the gateway answers 503 and keeps running."""
    with make_client("http://127.0.0.1:9", tmp_path) as c:
        r = c.post(CHAT, json=HELLO)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "upstream_unavailable"
        assert c.get("/health").status_code == 503
        assert sample(c, "llm_request_errors_total", error_type="upstream_unavailable") == 1


def test_llama_server_failing_is_a_502(tmp_path: Path) -> None:
    """An upstream 500 becomes a 502 with the upstream's message."""
    with FakeLlamaServer(fail_status=500) as fake, make_client(fake.url, tmp_path) as c:
        r = c.post(CHAT, json=HELLO)
    assert r.status_code == 502
    assert "fake failure" in r.json()["error"]["message"]


def test_upstream_timeout_is_a_504(tmp_path: Path) -> None:
    """A generation slower than the upstream timeout becomes a 504."""
    with FakeLlamaServer(delay_s=0.5) as fake, \
            make_client(fake.url, tmp_path, upstream_timeout=0.1) as c:
        r = c.post(CHAT, json=HELLO)
        assert r.status_code == 504
        assert r.json()["error"]["code"] == "upstream_timeout"


def test_log_line_has_the_seed_fields(client: TestClient, tmp_path: Path) -> None:
    """Each request writes one JSON 'Request completed' line with the seed's fields."""
    client.post(CHAT, json=HELLO, headers={"x-user-id": "user_3", "x-request-id": "req_abc"})
    client.post(CHAT, content=b"{", headers={"content-type": "application/json"})
    lines = [rec for rec in log_lines(tmp_path) if rec["message"] == "Request completed"]
    ok, bad = lines
    for field in ("timestamp", "level", "message", "module", "function", "line", "request_id",
                  "user_id", "model", "duration_ms", "prompt_tokens", "completion_tokens",
                  "status", "trace_id", "span_id"):
        assert field in ok, field
    assert ok["timestamp"].endswith("Z") and "." in ok["timestamp"]
    assert (ok["level"], ok["request_id"], ok["user_id"]) == ("INFO", "req_abc", "user_3")
    assert ok["completion_tokens"] == 5 and ok["status"] == 200
    assert len(ok["trace_id"]) == 32 and len(ok["span_id"]) == 16
    assert "prompt" not in ok, "prompts are logged only when the user opts in"
    assert (bad["level"], bad["error_type"], bad["status"]) == ("WARNING", "invalid_json", 400)


def test_prompt_logging_is_opt_in(fake: FakeLlamaServer, tmp_path: Path) -> None:
    """With log_prompts on, the prompt text is in the log line."""
    with make_client(fake.url, tmp_path, log_prompts=True) as c:
        c.post(CHAT, json=HELLO)
    assert log_lines(tmp_path)[-1]["prompt"] == "hello there"


def test_usage_rows_are_stored(fake: FakeLlamaServer, tmp_path: Path) -> None:
    """Each served request becomes a usage_logs row, all written by the time it shuts down."""
    with make_client(fake.url, tmp_path) as client:
        client.post(CHAT, json=HELLO, headers={"x-user-id": "u1"})
        client.post(CHAT, json=HELLO)
    rows = sqlite3.connect(tmp_path / "usage.db").execute(
        "SELECT model, user_id, total_tokens, status FROM usage_logs ORDER BY id").fetchall()
    assert rows == [("labkit-tiny", "u1", 7, 200), ("labkit-tiny", None, 7, 200)]


def test_injected_faults_fail_requests_until_reset(client: TestClient) -> None:
    """error_rate=1 fails every request with an injected 500; reset brings answers back."""
    assert client.post("/admin/faults", json={"error_rate": 1.0}).status_code == 200
    r = client.post(CHAT, json=HELLO)
    assert r.status_code == 500 and r.json()["error"]["code"] == "injected_fault"
    assert client.delete("/admin/faults").json()["error_rate"] == 0
    assert client.post(CHAT, json=HELLO).status_code == 200
    assert sample(client, "llm_request_errors_total", error_type="injected_fault") == 1


@pytest.mark.parametrize("faults", [{"error_rate": 2}, {"nonsense": 1}, {"latency_ms": "x"}],
                         ids=["out-of-range", "unknown", "not-a-number"])
def test_bad_faults_are_refused(client: TestClient, faults: dict) -> None:
    """A bad fault request is a 400 that names the problem; the faults stay unchanged."""
    r = client.post("/admin/faults", json=faults)
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert client.get("/admin/faults").json()["error_rate"] == 0


def test_request_series_start_at_zero(client: TestClient) -> None:
    """Before any traffic the success and error series exist at 0, so ratios read 0."""
    text = client.get("/metrics").text
    assert 'llm_requests_total{endpoint="/v1/chat/completions",model="labkit-tiny",' \
           'status="error"} 0.0' in text


def test_models_and_health(client: TestClient) -> None:
    """/v1/models lists the served model; /health reports the upstream."""
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["labkit-tiny"]
    assert client.get("/health").json()["upstream_ok"] is True


def test_openmetrics_exposition_carries_trace_exemplars(client: TestClient) -> None:
    """Scraped as OpenMetrics, the duration histogram carries trace_id exemplars."""
    client.post(CHAT, json=HELLO)
    text = client.get("/metrics", headers={"accept": "application/openmetrics-text"}).text
    bucket_lines = [line for line in text.splitlines()
                    if line.startswith("llm_request_duration_seconds_bucket") and "# {" in line]
    assert bucket_lines and 'trace_id="' in bucket_lines[0]


def test_streams_abandoned_by_the_client_free_their_slot(tmp_path: Path) -> None:
    """Clients that leave mid-stream do not leak the gateway's single slot."""
    with FakeLlamaServer(delay_s=0.05) as fake, \
            make_client(fake.url, tmp_path, max_concurrency=1, max_queue=0) as c:
        for _ in range(5):
            with c.stream("POST", CHAT, json={**HELLO, "stream": True}) as r:
                assert r.status_code == 200  # then leave without reading the body
        r2 = c.post(CHAT, json=HELLO)
        assert r2.status_code == 200, r2.text
        assert sample(c, "llm_active_requests") == 0
