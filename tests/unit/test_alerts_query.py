"""Alert, rule, silence and notification JSON (saved from real services) into DataFrames."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from labkit.errors import QueryError, QueryHTTPError
from labkit.query import alerts
from labkit.query.http import ServiceClient

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_prometheus_alerts_frame() -> None:
    """Prometheus alerts become rows with name, state, severity, value and a UTC activeAt."""
    frame = alerts.prom_alerts_to_frame(_load("prometheus_alerts_firing.json"))
    assert list(frame.columns) == alerts.PROM_ALERT_COLUMNS
    row = frame.iloc[0]
    assert (row["alertname"], row["state"], row["severity"]) == ("ServiceDown", "firing",
                                                                 "critical")
    assert row["value"] == 0.0
    assert row["active_at"] == pd.Timestamp("2026-11-29T03:36:21.189682582Z")


def test_pending_state_is_kept() -> None:
    """An alert waiting out its `for:` shows as pending."""
    frame = alerts.prom_alerts_to_frame(_load("prometheus_alerts_pending.json"))
    assert set(frame["state"]) == {"pending"}


def test_rules_frame_lists_alerting_and_recording_rules() -> None:
    """Every loaded rule is a row; alerting rules carry state and `for:` in seconds."""
    frame = alerts.rules_to_frame(_load("prometheus_rules.json"))
    assert set(frame["type"]) == {"alerting", "recording"}
    down = frame[frame["name"] == "ServiceDown"].iloc[0]
    assert down["for_seconds"] == 15.0  # lab rendering
    assert down["state"] in {"pending", "firing"}
    assert down["labels"]["severity"] == "critical"
    record = frame[frame["name"] == "job:llm_request_errors:ratio_rate5m"].iloc[0]
    assert pd.isna(record["state"])  # recording rules have no state
    assert (frame["health"] == "ok").all()


def test_alertmanager_alerts_frame() -> None:
    """Alertmanager alerts carry their receivers and the silences suppressing them."""
    frame = alerts.am_alerts_to_frame(_load("alertmanager_alerts.json")).set_index("alertname")
    assert frame.loc["HighErrorRate", "receivers"] == ["pager", "email"]
    assert frame.loc["HighErrorRate", "state"] == "active"
    assert frame.loc["HighLatency", "state"] == "suppressed"
    assert len(frame.loc["HighLatency", "silenced_by"]) == 1


def test_silences_frame() -> None:
    """Silences show state and their matchers as text."""
    frame = alerts.silences_to_frame(_load("alertmanager_silences.json")).set_index("comment")
    assert frame.loc["known slow model", "matchers"] == ['alertname="HighLatency"']
    assert frame.loc["known slow model", "state"] == "active"
    assert frame.loc["done", "state"] == "expired"


def test_notifications_frame_turns_go_zero_time_into_nat() -> None:
    """A firing alert's unset endsAt (Go's zero time) reads as NaT, not year 1."""
    frame = alerts.notifications_to_frame(_load("sink_notifications.json"))
    assert list(frame["receiver"][:2]) == ["pager", "email"]
    assert frame["ends_at"].isna().all()
    assert str(frame["received_at"].dt.tz) == "UTC"


@pytest.mark.parametrize("parser", [alerts.am_alerts_to_frame, alerts.silences_to_frame,
                                    alerts.notifications_to_frame],
                         ids=["am-alerts", "silences", "notifications"])
def test_empty_answers_give_empty_frames_with_columns(parser: Any) -> None:
    """No alerts is an empty frame with the documented columns, not an error."""
    frame = parser([])
    assert frame.empty and len(frame.columns) > 3


class FakeAlertmanager:
    """Answers like Alertmanager: records silence posts, refuses unknown silences."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posted.append(json.loads(request.content))
            return httpx.Response(200, json={"silenceID": "abc"})
        if request.method == "DELETE":
            return httpx.Response(500, json="silence not found")
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                         "error": "bad type"})


@pytest.fixture
def fake_am(monkeypatch: pytest.MonkeyPatch) -> FakeAlertmanager:
    """Every client of labkit.query.alerts talks to one FakeAlertmanager."""
    fake = FakeAlertmanager()
    transport = httpx.MockTransport(fake.handle)
    monkeypatch.setattr(alerts, "ServiceClient", partial(ServiceClient, transport=transport))
    return fake


AM = "http://alertmanager.test"


@pytest.mark.parametrize("matchers,expected", [
    pytest.param({"alertname": "HighErrorRate"},
                 [{"name": "alertname", "value": "HighErrorRate", "isRegex": False,
                   "isEqual": True}], id="mapping"),
    pytest.param(['severity=~"crit.*"', 'job!="node"'],
                 [{"name": "severity", "value": "crit.*", "isRegex": True, "isEqual": True},
                  {"name": "job", "value": "node", "isRegex": False, "isEqual": False}],
                 id="strings"),
])
def test_create_silence_sends_matchers_and_window(fake_am: FakeAlertmanager, matchers: Any,
                                                  expected: list[dict[str, Any]]) -> None:
    """create_silence posts the matchers and a window of the asked duration, returning the id."""
    assert alerts.create_silence(AM, matchers, "90m", comment="deploy") == "abc"
    [body] = fake_am.posted
    assert body["matchers"] == expected
    window = pd.Timestamp(body["endsAt"]) - pd.Timestamp(body["startsAt"])
    assert window == pd.Timedelta(minutes=90)
    assert body["comment"] == "deploy"


@pytest.mark.parametrize("kwargs,message", [
    pytest.param({"matchers": ["alertname HighErrorRate"]}, "is not like", id="bad-matcher"),
    pytest.param({"matchers": {}}, "at least one matcher", id="no-matcher"),
    pytest.param({"duration": "soon"}, "is not a duration", id="bad-duration"),
    pytest.param({"duration": 0}, "positive", id="zero-duration"),
    pytest.param({"comment": " "}, "comment", id="no-comment"),
])
def test_create_silence_refuses_bad_input(fake_am: FakeAlertmanager, kwargs: dict[str, Any],
                                          message: str) -> None:
    """Bad matchers, durations or an empty comment are refused before anything is sent."""
    args = {"matchers": {"alertname": "X"}, "duration": "1h", "comment": "why"} | kwargs
    with pytest.raises(ValueError, match=message):
        alerts.create_silence(AM, **args)
    assert fake_am.posted == []


def test_http_error_carries_the_server_message(fake_am: FakeAlertmanager) -> None:
    """An error answer becomes QueryHTTPError with the URL, status and server's message."""
    with pytest.raises(QueryHTTPError, match="bad type") as info:
        alerts.prometheus_alerts(AM)
    assert info.value.status == 400
    assert info.value.url == f"{AM}/api/v1/alerts"


def test_expire_unknown_silence_raises(fake_am: FakeAlertmanager) -> None:
    """Expiring a silence Alertmanager does not know raises with its message."""
    with pytest.raises(QueryHTTPError, match="silence not found"):
        alerts.expire_silence(AM, "nope")


def test_unreachable_service_names_the_url() -> None:
    """A refused connection is a QueryError naming the URL it tried."""
    with pytest.raises(QueryError, match=r"cannot reach the notification sink at http://127\.0\.0\.1:9/notifications"):
        alerts.notifications("http://127.0.0.1:9")
