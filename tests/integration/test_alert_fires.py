"""An injected fault fires HighErrorRate, which reaches the pager through Alertmanager and
resolves after a reset; the same fault shows in all three pillars (metrics, logs, traces).

Lab-mode timing (see docs/alerting.md): rules every 2 s, a [1m] error ratio and `for: 30s`,
Alertmanager group_wait 1 s. With every request failing the alert goes pending within a few
scrapes and fires about 30 s later; after a reset the errors take up to a minute to leave the
[1m] window. The bounds below leave room for a slow CI machine on top of that.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest

from labkit import faults
from labkit.query.alerts import expire_silence, notifications, prometheus_alerts, silences
from labkit.testing import poll_until

pytestmark = pytest.mark.integration

ALERT = "HighErrorRate"
FIRE_WITHIN_S = 120.0  # expected ~35 s: a few scrapes + for: 30s + group_wait 1s
RESOLVE_WITHIN_S = 150.0  # expected ~60 s: the [1m] window empties, then group_interval 2s
QUIET_WITHIN_S = 150.0  # an earlier test may have left the alert active
PILLAR_WAIT_S = 30.0  # scrape 2 s, shipper batch 1 s, span export ~1 s



def _state(prom_url: str) -> str:
    alerts = prometheus_alerts(prom_url)
    states = set(alerts.loc[alerts["alertname"] == ALERT, "state"])
    return "firing" if "firing" in states else "pending" if states else "inactive"


def _chat(client: httpx.Client, gateway_url: str, **headers: str) -> httpx.Response:
    return client.post(f"{gateway_url}/v1/chat/completions", headers=headers, json={
        "model": "labkit-tiny", "max_tokens": 4,
        "messages": [{"role": "user", "content": "are you up?"}]})


@pytest.fixture
def traffic(lab_stack: Any) -> Iterator[None]:
    """About 4 requests a second for the length of a test (a ratio of rates needs a flow).

    A loop we can stop, rather than generate_load, so no traffic leaks into later tests.
    """
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.wait(0.25):
                try:
                    _chat(client, lab_stack.gateway_url)
                except httpx.HTTPError:
                    pass  # a refused request is traffic too; the test judges the alert

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=35)


def test_injected_errors_page_and_then_resolve(lab_stack: Any, traffic: None) -> None:
    """error_rate=1.0 fires HighErrorRate to the pager; after a reset a resolved one follows."""
    prom, am, sink = lab_stack.url("prometheus"), lab_stack.url("alertmanager"), \
        lab_stack.url("sink")
    # A silence left by another test would swallow the page: this lab is the tests' own.
    for sid in silences(am).query("state == 'active'")["id"]:
        expire_silence(am, sid)
    faults.reset(lab_stack.gateway_url)
    poll_until(f"{ALERT} inactive before the test", lambda: _state(prom), lambda s: s == "inactive",
          QUIET_WITHIN_S, interval=2.0)

    injected = pd.Timestamp.now(tz="UTC")
    try:
        faults.inject(error_rate=1.0, gateway_url=lab_stack.gateway_url)
        seen: list[str] = []

        def state() -> str:
            current = _state(prom)
            if not seen or seen[-1] != current:
                seen.append(current)
            return current

        poll_until(f"{ALERT} firing in Prometheus", state, lambda s: s == "firing", FIRE_WITHIN_S)
        assert "pending" in seen, f"firing without a pending phase first: {seen}"
        pages = poll_until("a firing notification at the pager",
                      lambda: notifications(sink, receiver="pager", alertname=ALERT,
                                            status="firing"),
                      lambda f: (f["received_at"] >= injected).any(), 30.0)
        page = pages[pages["received_at"] >= injected].iloc[-1]
        assert page["labels"]["severity"] == "critical"
        assert (page["received_at"] - injected).total_seconds() < FIRE_WITHIN_S
    finally:
        faults.reset(lab_stack.gateway_url)

    cleared = pd.Timestamp.now(tz="UTC")
    resolved = poll_until("a resolved notification at the pager",
                     lambda: notifications(sink, receiver="pager", alertname=ALERT,
                                           status="resolved"),
                     lambda f: (f["received_at"] >= cleared).any(), RESOLVE_WITHIN_S)
    last = resolved[resolved["received_at"] >= cleared].iloc[-1]
    assert last["fingerprint"] == page["fingerprint"]
    assert pd.notna(last["ends_at"]) and last["ends_at"] >= page["starts_at"]
    assert _state(prom) == "inactive"


def test_injected_fault_shows_in_metrics_logs_and_traces(lab_stack: Any) -> None:
    """One injected 500 is counted in Prometheus, logged as an ERROR in Loki, an error span."""
    counter = 'sum(llm_request_errors_total{error_type="injected_fault"})'
    request_id = f"req_alert_test_{uuid.uuid4().hex[:12]}"
    with lab_stack.prometheus as prom, lab_stack.loki as loki, lab_stack.jaeger as jaeger:
        before = prom.scalar(counter, default=0.0)
        with httpx.Client(timeout=30) as client:
            # Successes around the one failure keep the error ratio under HighErrorRate's 5%:
            # in an idle lab a single error is a 100% ratio for a minute, and would page.
            for _ in range(30):
                assert _chat(client, lab_stack.gateway_url).status_code == 200
            try:
                faults.inject(error_rate=1.0, gateway_url=lab_stack.gateway_url)
                response = _chat(client, lab_stack.gateway_url, **{"X-Request-Id": request_id})
            finally:
                faults.reset(lab_stack.gateway_url)
            assert response.status_code == 500, response.text

        # Metrics: the error counter went up, under the fault's own error_type.
        poll_until("the injected_fault counter in Prometheus",
              lambda: prom.scalar(counter, default=0.0), lambda v: v >= before + 1,
              PILLAR_WAIT_S)

        # Logs: the request's line, at ERROR, with error_type injected_fault.
        logql = (f'{{job="llm-api", level="ERROR"}} | json | request_id="{request_id}"'
                 ' | error_type="injected_fault"')
        lines = poll_until("the ERROR log line in Loki",
                      lambda: loki.query_range(logql, start="-10m", limit=10),
                      lambda f: not f.empty, PILLAR_WAIT_S)
        assert (lines["status"].astype(int) == 500).all()

        # Traces: a span of the request with error status and the fault's error.type.
        spans = poll_until("the error span in Jaeger",
                      lambda: jaeger.find_traces("llm-api", tags={"request_id": request_id},
                                                 lookback="10m", limit=5),
                      lambda f: (f["status"] == "error").any(), PILLAR_WAIT_S)
    failed = spans[spans["status"] == "error"]
    assert any(a.get("error.type") == "injected_fault" for a in failed["attributes"])
    assert failed["trace_id"].nunique() == 1
    assert set(lines["trace_id"]) == set(failed["trace_id"])
