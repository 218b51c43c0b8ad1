"""Model-server faults: per-model errors, a slow inference call, a slow tokenizer path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labkit.gateway import GatewaySettings, create_app, upstream_faults
from labkit.gateway.upstream_faults import UpstreamFaults
from labkit.testing import FakeLlamaServer

CHAT = "/v1/chat/completions"
PATH = "/admin/faults/upstream"


def body(model: str, content: str = "hello there", max_tokens: int = 5) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with FakeLlamaServer() as fake:
        settings = GatewaySettings(upstream=fake.url, extra_models=("labkit-tiny-code",),
                                   context_per_request=256)
        with TestClient(create_app(settings, seed=1), base_url="http://127.0.0.1:8000") as c:
            yield c


def test_error_burst_hits_only_the_named_model(client: TestClient) -> None:
    """error_rate=1 on one model fails that model's requests with a 502; the other still answers."""
    assert client.post(PATH, json={"model": "labkit-tiny-code", "error_rate": 1}).status_code == 200
    failed = client.post(CHAT, json=body("labkit-tiny-code"))
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "upstream_error"
    assert client.post(CHAT, json=body("labkit-tiny")).status_code == 200
    assert client.delete(PATH).json()["error_rate"] == 0
    assert client.post(CHAT, json=body("labkit-tiny-code")).status_code == 200


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the faults ask for (recorded, then slept for real but briefly)."""
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(upstream_faults.asyncio, "sleep", fake_sleep)
    return asked


def test_latency_is_added_to_the_named_model_only(client: TestClient,
                                                  sleeps: list[float]) -> None:
    """latency_ms delays the model's calls, streamed or not; other models are not delayed."""
    client.post(PATH, json={"model": "labkit-tiny-code", "latency_ms": 300})
    assert client.post(CHAT, json={**body("labkit-tiny-code"), "stream": True}).status_code == 200
    assert client.post(CHAT, json=body("labkit-tiny-code")).status_code == 200
    assert sleeps == [0.3, 0.3]
    assert client.post(CHAT, json=body("labkit-tiny")).status_code == 200
    assert sleeps == [0.3, 0.3]


def test_tokenize_delay_slows_only_long_prompts(client: TestClient, sleeps: list[float]) -> None:
    """tokenize_ms delays the exact-count path (long prompts), not the short ones."""
    client.post(PATH, json={"tokenize_ms": 300})
    assert client.post(CHAT, json=body("labkit-tiny")).status_code == 200
    assert sleeps == []
    assert client.post(CHAT, json=body("labkit-tiny", "word " * 50)).status_code == 200
    assert sleeps == [0.3]


@pytest.mark.parametrize("raw", [{"error_rate": 2}, {"latency_ms": -1}, {"tokenize_ms": "x"},
                                 {"model": 3}, {"nonsense": 1}, [1]],
                         ids=["rate>1", "negative", "not-a-number", "model-not-str", "unknown",
                              "not-object"])
def test_bad_upstream_faults_are_refused(client: TestClient, raw: object) -> None:
    """A bad request is a 400 naming the problem, and the faults in force stay as they were."""
    r = client.post(PATH, json=raw)
    assert r.status_code == 400 and r.json()["error"]["message"]
    assert client.get(PATH).json() == UpstreamFaults().as_dict()
