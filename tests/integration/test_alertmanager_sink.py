"""A real Alertmanager, configured by labkit, delivers to the real notification sink."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from labkit.query import alerts
from labkit.runtime.alertmanager_config import render_alertmanager_config
from labkit.runtime.provision import find_binary

READY_WAIT_S = 60.0
DELIVERY_WAIT_S = 30.0  # lab group_wait is 1s; this only bounds a hang


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float, log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the service log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except httpx.TransportError:
            result = None
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            pytest.fail(f"{what} not seen after {timeout:g}s\n{tail}")
        time.sleep(0.2)


def _when(frame: pd.DataFrame, ok: Callable[[pd.DataFrame], bool]) -> pd.DataFrame | None:
    return frame if ok(frame) else None


def _named(frame: pd.DataFrame, alertname: str) -> pd.DataFrame | None:
    rows = frame[frame["alertname"] == alertname]
    return None if rows.empty else rows


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The sink and Alertmanager on free ports, Alertmanager routing every receiver to the sink."""
    binary = find_binary("alertmanager")
    if binary is None:
        pytest.fail("alertmanager is not installed: apt-get install prometheus-alertmanager")
    folder: Path = tmp_path_factory.mktemp("alerting")
    sink_url = f"http://127.0.0.1:{_free_port()}"
    am_url = f"http://127.0.0.1:{_free_port()}"
    sink_log, am_log = folder / "sink.log", folder / "alertmanager.log"
    sink = _start([sys.executable, "-m", "labkit.standins.sink", "--host", "127.0.0.1",
                   "--port", sink_url.rsplit(":", 1)[1], "--data-dir", str(folder / "sink")],
                  sink_log)
    procs = [sink]
    try:
        _wait("sink /health", lambda: httpx.get(f"{sink_url}/health", timeout=2).is_success,
              READY_WAIT_S, sink_log)
        config = render_alertmanager_config(folder / "alertmanager.yml", sink_url=sink_url,
                                            lab=True)
        procs.append(_start([binary, f"--config.file={config}",
                             f"--storage.path={folder / 'am-data'}",
                             f"--web.listen-address={am_url.removeprefix('http://')}",
                             "--cluster.listen-address="], am_log))
        _wait("alertmanager /-/ready",
              lambda: httpx.get(f"{am_url}/-/ready", timeout=2).is_success, READY_WAIT_S, am_log)
        yield {"sink": sink_url, "alertmanager": am_url, "am_log": str(am_log)}
    finally:
        for proc in reversed(procs):
            _stop(proc)


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
    frame = _wait("TestCritical at the pager and email receivers",
                  lambda: _when(alerts.notifications(stack["sink"], alertname="TestCritical"),
                                lambda f: set(f["receiver"]) >= {"pager", "email"}),
                  DELIVERY_WAIT_S, Path(stack["am_log"]))
    pager = frame[frame["receiver"] == "pager"].iloc[0]
    assert pager["status"] == "firing"
    assert pager["labels"]["severity"] == "critical"
    assert pager["annotations"] == {"summary": "injected by the test"}
    assert isinstance(pager["starts_at"], pd.Timestamp)
    assert "chat" not in set(frame["receiver"])


def test_warning_alert_reaches_chat_only(stack: dict[str, str]) -> None:
    """A warning goes to the chat receiver and nowhere else."""
    _post_alert(stack["alertmanager"], {"alertname": "TestWarning", "severity": "warning"})
    frame = _wait("TestWarning at the chat receiver",
                  lambda: _when(alerts.notifications(stack["sink"], alertname="TestWarning"),
                                lambda f: not f.empty),
                  DELIVERY_WAIT_S, Path(stack["am_log"]))
    assert set(frame["receiver"]) == {"chat"}


def test_alertmanager_lists_the_alert_with_its_receivers(stack: dict[str, str]) -> None:
    """Alertmanager's alert list shows the posted alert routed to pager and email."""
    _post_alert(stack["alertmanager"], {"alertname": "TestListed", "severity": "critical"})
    frame = _wait("TestListed in /api/v2/alerts",
                  lambda: _named(alerts.alertmanager_alerts(stack["alertmanager"]), "TestListed"),
                  DELIVERY_WAIT_S)
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
    frame = _wait("TestSilenced in /api/v2/alerts",
                  lambda: _named(alerts.alertmanager_alerts(am), "TestSilenced"),
                  DELIVERY_WAIT_S)
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
