"""The SLO scorecard on live traffic: an injected error burst shows in availability and budget."""

from __future__ import annotations

import time

import pytest

from labkit import faults
from labkit.lab import Lab
from labkit.load import generate_load
from labkit.slo import ServiceHealthMonitor, availability_query

pytestmark = pytest.mark.integration


def test_error_burst_spends_the_availability_budget(lab_stack: Lab) -> None:
    """Requests failing on purpose lower availability and burn the budget; latency stays met."""
    prom, url = lab_stack.prometheus, lab_stack.gateway_url
    faults.inject(error_rate=0.5, gateway_url=url)
    try:
        # rate() cannot see a series' first sample: the first round only makes the success
        # and error series exist, scraped, before the burst that is measured.
        for seed in (6, 7):
            result = generate_load(url, rate=10, duration=3, seed=seed, max_tokens=4,
                                   progress=False)
            assert (result.frame["status"] != 200).any(), "the fault should fail some requests"
            prom.wait_for('sum(llm_requests_total{status="error"})', timeout=30)
            time.sleep(2.5)  # one more scrape
    finally:
        faults.reset(gateway_url=url)
    prom.wait_for(availability_query("1m"), lambda f: not f.empty and f.value.max() < 1,
                  timeout=30)
    at = time.time()
    monitor = ServiceHealthMonitor(prom, window="1m", rate_window="1m")
    card = monitor.scorecard(at=at)
    availability = card.loc["Availability"]
    assert 0 < availability["actual"] < 100
    assert not availability["met"] and availability["error_budget_remaining"] < 0
    assert availability["burn_rate"] == pytest.approx(
        (100 - availability["actual"]) / 0.1, rel=1e-9)
    assert card.loc["Latency < 2s", "actual"] > 95
    assert card.loc["Throughput > 1 req/s", "actual"] > 0
    history = monitor.budget_history(start=at - 30, end=at, step="2s")
    assert history[history["slo"] == "availability"]["burn_rate"].max() > 1
