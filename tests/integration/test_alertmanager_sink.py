"""A real Alertmanager, configured by labkit, delivers to the real notification sink."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from labkit.query import alerts
from labkit.runtime.alertmanager_config import render_alertmanager_config
from labkit.runtime.provision import find_binary
from labkit.testing import free_port, poll_until, run_service

READY_WAIT_S = 60.0
DELIVERY_WAIT_S = 30.0  # lab group_wait is 1s; this only bounds a hang


def _named(frame: pd.DataFrame, alertname: str) -> pd.DataFrame:
    return frame[frame["alertname"] == alertname]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sink and Alertmanager on free ports, Alertmanager routing every receiver to the sink."""
    binary = find_binary("alertmanager")
    if binary is None:
        pytest.fail("alertmanager is not installed: apt-get install prometheus-alertmanager")
    folder: Path = tmp_path_factory.mktemp("alerting")
    sink_port, am_port = free_port(), free_port()
    sink_url, am_url = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{am_port}"
    am_log = folder / "alertmanager.log"
    sink = [sys.executable, "-m", "labkit.standins.sink", "--host", "127.0.0.1",
            "--port", str(sink_port), "--data-dir", str(folder / "sink")]
    with run_service("sink", sink, log_path=folder / "sink.log", health_url=f"{sink_url}/health",
                     timeout=READY_WAIT_S):
        config = render_alertmanager_config(folder / "alertmanager.yml", sink_url=sink_url,
                                            lab=True)
        argv = [binary, f"--config.file={config}", f"--storage.path={folder / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]
        with run_service("alertmanager", argv, log_path=am_log, health_url=f"{am_url}/-/ready",
                         timeout=READY_WAIT_S):
            yield {"sink": sink_url, "alertmanager": am_url, "am_log": str(am_log)}


def _post_alert(am_url: str, labels: dict[str, str]) -> None:
    now = datetime.now(UTC)
    body = [{
        "labels": labels,
        "annotations": {"summary": "injected by the test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }]
    httpx.post(f"{am_url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def test_critical_alert_reaches_pager_and_email(stack: dict[str, str]) -> None:
    """A critical alert is recorded for the pager receiver and, via continue, for email."""
    _post_alert(stack["alertmanager"], {"alertname": "TestCritical", "severity": "critical",
                                        "service": "llm-inference"})
    frame = poll_until("TestCritical at the pager and email receivers",
                       lambda: alerts.notifications(stack["sink"], alertname="TestCritical"),
                       lambda f: set(f["receiver"]) >= {"pager", "email"},
                       DELIVERY_WAIT_S, 0.2, log_path=Path(stack["am_log"]))
    pager = frame[frame["receiver"] == "pager"].iloc[0]
    assert pager["status"] == "firing"
    assert pager["labels"]["severity"] == "critical"
    assert pager["annotations"] == {"summary": "injected by the test"}
    assert isinstance(pager["starts_at"], pd.Timestamp)
    assert "chat" not in set(frame["receiver"])


def test_warning_alert_reaches_chat_only(stack: dict[str, str]) -> None:
    """A warning goes to the chat receiver and nowhere else."""
    _post_alert(stack["alertmanager"], {"alertname": "TestWarning", "severity": "warning"})
    frame = poll_until("TestWarning at the chat receiver",
                       lambda: alerts.notifications(stack["sink"], alertname="TestWarning"),
                       lambda f: not f.empty, DELIVERY_WAIT_S, 0.2,
                       log_path=Path(stack["am_log"]))
    assert set(frame["receiver"]) == {"chat"}


def test_alertmanager_lists_the_alert_with_its_receivers(stack: dict[str, str]) -> None:
    """Alertmanager's alert list shows the posted alert routed to pager and email."""
    _post_alert(stack["alertmanager"], {"alertname": "TestListed", "severity": "critical"})
    frame = poll_until("TestListed in /api/v2/alerts",
                       lambda: _named(alerts.alertmanager_alerts(stack["alertmanager"]),
                                      "TestListed"),
                       lambda f: not f.empty, DELIVERY_WAIT_S, 0.2)
    row = frame.iloc[0]
    assert row["state"] == "active"
    assert sorted(row["receivers"]) == ["email", "pager"]


def test_silence_is_created_listed_and_expired(stack: dict[str, str]) -> None:
    """A silence made through labkit is listed as active, suppresses its alert, then expires."""
    am = stack["alertmanager"]
    silence_id = alerts.create_silence(am, {"alertname": "TestSilenced"}, "10m",
                                       comment="maintenance", created_by="pytest")
    listed = alerts.silences(am).set_index("id").loc[silence_id]
    assert listed["state"] == "active"
    assert listed["matchers"] == ['alertname="TestSilenced"']
    assert listed["created_by"] == "pytest"

    _post_alert(am, {"alertname": "TestSilenced", "severity": "critical"})
    frame = poll_until("TestSilenced in /api/v2/alerts",
                       lambda: _named(alerts.alertmanager_alerts(am), "TestSilenced"),
                       lambda f: not f.empty, DELIVERY_WAIT_S, 0.2)
    assert frame.iloc[0]["state"] == "suppressed"
    assert frame.iloc[0]["silenced_by"] == [silence_id]

    alerts.expire_silence(am, silence_id)
    assert alerts.silences(am).set_index("id").loc[silence_id, "state"] == "expired"


def test_bad_silence_answer_is_a_query_http_error(stack: dict[str, str]) -> None:
    """Expiring an unknown silence raises QueryHTTPError carrying Alertmanager's reply."""
    from labkit.errors import QueryHTTPError

    with pytest.raises(QueryHTTPError) as info:
        alerts.expire_silence(stack["alertmanager"], "00000000-0000-0000-0000-000000000000")
    # Alertmanager 0.25 answers 500 here, newer releases 404: the message is what matters.
    assert info.value.status >= 400
    assert "silence not found" in str(info.value)
    assert info.value.url.endswith("/api/v2/silence/00000000-0000-0000-0000-000000000000")
