"""The notification sink stores Alertmanager's webhooks durably and serves them back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labkit.standins.sink import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"


def _payload() -> dict[str, Any]:
    """A webhook body captured from Alertmanager 0.25 routing a real ServiceDown alert."""
    return json.loads((FIXTURES / "webhook_payload.json").read_text())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1:9097") as c:
        yield c


def test_webhook_is_stored_with_receiver_and_alert_fields(client: TestClient) -> None:
    """A delivered alert comes back with its receiver, status, labels and times."""
    assert client.post("/hook/pager", json=_payload()).json() == {"status": "success", "stored": 1}
    [row] = client.get("/notifications").json()
    assert row["receiver"] == "pager"
    assert row["status"] == "firing"
    assert row["alertname"] == "ServiceDown"
    assert row["labels"]["severity"] == "critical"
    assert row["annotations"]["summary"] == "Service is down"
    assert row["starts_at"] == "2026-11-29T03:36:37.189Z"
    assert row["received_at"]


def test_notifications_survive_a_restart(tmp_path: Path) -> None:
    """What the sink answered 200 for is still there after the process restarts."""
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1:9097") as first:
        first.post("/hook/email", json=_payload())
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1:9097") as second:
        assert [r["receiver"] for r in second.get("/notifications").json()] == ["email"]


@pytest.mark.parametrize("query,expected", [
    pytest.param({"receiver": "pager"}, ["pager"], id="by-receiver"),
    pytest.param({"alertname": "Other"}, ["chat"], id="by-alertname"),
    pytest.param({"status": "resolved"}, ["chat"], id="by-status"),
    pytest.param({}, ["pager", "email", "chat"], id="all-oldest-first"),
])
def test_filters(client: TestClient, query: dict[str, str], expected: list[str]) -> None:
    """Filters narrow the list by receiver, alert name and status."""
    client.post("/hook/pager", json=_payload())
    client.post("/hook/email", json=_payload())
    other = _payload()
    other["status"] = "resolved"
    other["alerts"][0].update(status="resolved", labels={"alertname": "Other"})
    client.post("/hook/chat", json=other)
    got = client.get("/notifications", params=query).json()
    assert [r["receiver"] for r in got] == expected


def test_receiver_falls_back_to_the_payload(client: TestClient) -> None:
    """Posting to /hook without a name records the receiver the payload names."""
    client.post("/hook", json=_payload())
    assert client.get("/notifications").json()[0]["receiver"] == "pager"


@pytest.mark.parametrize("body,message", [
    pytest.param(b"{not json", "not valid JSON", id="malformed-json"),
    pytest.param(b"[]", "JSON object", id="not-an-object"),
    pytest.param(b'{"version": "3", "alerts": [{}]}', "version", id="old-version"),
    pytest.param(b'{"alerts": []}', "non-empty list", id="no-alerts"),
    pytest.param(b'{"alerts": [{"status": "firing", "labels": {"a": 1}}]}', "labels",
                 id="label-not-string"),
    pytest.param(b'{"alerts": [{"status": "odd", "labels": {}}]}', "firing", id="bad-status"),
], )
def test_bad_payload_is_a_400_with_the_reason(client: TestClient, body: bytes,
                                              message: str) -> None:
    """A body that is not an Alertmanager notification is refused with what is wrong, unstored."""
    response = client.post("/hook/pager", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert client.get("/notifications").json() == []


def test_bad_status_filter_is_a_400(client: TestClient) -> None:
    """Filtering on a status that cannot exist is refused."""
    response = client.get("/notifications", params={"status": "burning"})
    assert response.status_code == 400
    assert "'firing' or 'resolved'" in response.json()["error"]


def test_health(client: TestClient) -> None:
    """/health answers 200."""
    assert client.get("/health").status_code == 200
