"""The notebook toolkit: wait_for, faults.active, load.phases, and the gateway's zeroed series.

The fake gateway of tests/unit/fake_gateway.py answers the chat endpoint (HTTP 500 while
its error_rate fault is 1) and the fault admin endpoint, so the phases can be checked end
to end without services.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest

from labkit import faults, wait_for
from labkit.errors import QueryParseError, WaitTimeout
from labkit.gateway.metrics import KNOWN_ERROR_TYPES, GatewayMetrics
from labkit.load import Phase, phases
from tests.unit.fake_gateway import NO_FAULTS, FakeGateway


def test_wait_for_returns_the_first_truthy_value() -> None:
    """wait_for polls until the condition holds and hands back what it returned."""
    answers = iter([0, None, [], 7])
    assert wait_for(lambda: next(answers), interval=0.01, timeout=5) == 7


def test_wait_for_times_out_naming_what_it_waited_for() -> None:
    """A timeout says what never happened and the last value seen."""
    with pytest.raises(WaitTimeout, match=r"the scrape of this run.*last seen: 0"):
        wait_for(lambda: 0, timeout=0.05, interval=0.01, what="the scrape of this run")


def test_wait_for_does_not_wait_on_a_typo() -> None:
    """A query the server cannot parse fails at once, not after the timeout."""
    def bad() -> None:
        raise QueryParseError("parse error")

    started = time.monotonic()
    with pytest.raises(QueryParseError):
        wait_for(bad, timeout=30, interval=0.01)
    assert time.monotonic() - started < 5


def test_faults_active_restores_the_previous_faults_even_on_error(
    fake_gateway: FakeGateway,
) -> None:
    """Inside the block the faults are in force; after it, whatever was before is back."""
    faults.inject(latency_ms=100, gateway_url=fake_gateway.url)
    with pytest.raises(RuntimeError), faults.active(error_rate=0.5, gateway_url=fake_gateway.url):
        assert fake_gateway.faults["error_rate"] == 0.5
        raise RuntimeError("the notebook cell failed")
    assert fake_gateway.faults == {**NO_FAULTS, "latency_ms": 100}


def test_faults_active_refuses_unknown_faults(fake_gateway: FakeGateway) -> None:
    """A misspelt fault is an error before anything is injected."""
    with pytest.raises(TypeError, match="error_rat"), \
            faults.active(error_rat=1.0, gateway_url=fake_gateway.url):
        pass
    assert fake_gateway.faults == NO_FAULTS


def test_phases_run_in_order_with_their_faults(fake_gateway: FakeGateway) -> None:
    """Each phase's requests see its faults; windows follow each other; faults end cleared."""
    run = phases(fake_gateway.url, [Phase("normal", 1.0, rate=20, stream=False),
                               Phase("errors", 1.0, rate=20, stream=False,
                                     faults={"error_rate": 1.0})], progress=False)
    frame = run.frame
    assert set(frame.loc[frame.phase == "normal", "status"]) == {200}
    assert set(frame.loc[frame.phase == "errors", "status"]) == {500}
    (a0, a1), (b0, b1) = run.windows["normal"], run.windows["errors"]
    assert a0 < a1 <= b0 < b1 and run.start <= a0 and b1 <= run.end
    assert fake_gateway.faults == NO_FAULTS
    assert run.summary().loc["errors", "errors"] == len(frame[frame.phase == "errors"])
    assert len(run.request_ids) == len(frame)


def test_phases_in_the_background_can_be_stopped(fake_gateway: FakeGateway) -> None:
    """A background run returns at once; stop() ends it early and clears its faults."""
    run = phases(fake_gateway.url, [Phase("long", 60, rate=10, stream=False,
                                     faults={"error_rate": 1.0}),
                               Phase("never", 60, rate=10)], background=True, progress=False)
    assert not run.done
    wait_for(lambda: len(fake_gateway.seen) >= 3, timeout=10, interval=0.05)
    started = time.monotonic()
    run.stop()
    assert run.done and time.monotonic() - started < 10
    assert "never" not in run.results
    assert fake_gateway.faults == NO_FAULTS


def test_phases_refuse_a_bad_plan(fake_gateway: FakeGateway) -> None:
    """Duplicate names and unknown faults are refused before any traffic."""
    with pytest.raises(ValueError, match="distinct"):
        phases(fake_gateway.url, [Phase("a", 1), Phase("a", 1)])
    with pytest.raises(ValueError, match="unknown fault"):
        phases(fake_gateway.url, [Phase("a", 1, faults={"errors": 1})])
    assert fake_gateway.seen == []


def test_gateway_series_start_at_zero_for_known_label_values() -> None:
    """Before any request, every model/status, error type and histogram series exists at 0,
    so rate() sees the first error and an error ratio reads 0, not "no data"."""
    metrics = GatewayMetrics()
    metrics.initialise(("labkit-tiny",), "/v1/chat/completions")
    text = generate_latest(metrics.registry).decode()
    assert ('llm_requests_total{endpoint="/v1/chat/completions",model="labkit-tiny",'
            'status="error"} 0.0') in text
    for error_type in KNOWN_ERROR_TYPES:
        assert f'llm_request_errors_total{{error_type="{error_type}"}} 0.0' in text
    assert 'llm_request_duration_seconds_count{endpoint="/v1/chat/completions",' \
           'model="labkit-tiny"} 0.0' in text
    assert 'llm_tokens_generated_total{model="labkit-tiny"} 0.0' in text
