"""Notebook 05's checks: right answers pass, wrong ones fail saying why, blanks are not
attempted. promtool and amtool run for real; Prometheus and Alertmanager are stubs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pandas as pd
import pytest

from labkit.config import LabConfig
from labkit.errors import QueryParseError
from labkit.exercises import all_exercises, evaluate
from labkit.exercises.alerting_checks import (
    alert_labels,
    condition_runs,
    for_check,
    matcher_matches,
    render_lab_rules,
    same_over_range,
    silence_check,
    synthetic_expression_check,
)
from labkit.exercises.references import reference
from labkit.query import alerts as alerts_query
from labkit.query.http import ServiceClient

MODEL_ERRORS_REFERENCE = reference("alerting.model_error_expr")
T0 = pd.Timestamp("2026-01-01T12:00:00Z")

RULE_TEST = """
name: 20% errors after two healthy minutes
interval: 15s
input_series:
  - series: 'llm_requests_total{job="llm-api",status="success"}'
    values: '100000+120x40'
  - series: 'llm_requests_total{job="llm-api",status="error"}'
    values: '100000+0x8 100030+30x31'
alert_rule_test:
  - eval_time: 2m30s
    alertname: HighErrorRate
    exp_alerts: []
  - eval_time: 3m
    alertname: HighErrorRate
    exp_alerts:
      - exp_labels: {severity: critical, service: llm-inference, job: llm-api}
        exp_annotations:
          summary: High error rate detected
          description: "Error rate is 20% (threshold: 5%)"
"""


@pytest.fixture
def lab(tmp_path: Path) -> SimpleNamespace:
    """A lab with no services: lab-mode config, 4 slots."""
    return SimpleNamespace(config=LabConfig(run_dir=tmp_path))


def test_five_exercises_are_registered() -> None:
    """Notebook 05 has its five exercises: expression, for:, matcher, unit test, silence."""
    assert {e.id for e in all_exercises("alerting.")} == {
        "alerting.model_error_expr", "alerting.for_duration", "alerting.route_matcher",
        "alerting.rule_test", "alerting.silence"}


@pytest.mark.parametrize("exercise", [e.id for e in all_exercises("alerting.")])
def test_blank_answers_are_not_attempted(exercise: str, lab: SimpleNamespace) -> None:
    """The student copy's None is 'not attempted', never an error."""
    assert evaluate(exercise, None, lab).status == "not attempted"


# -- 1. the alert expression ------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "passes"), [
    pytest.param(MODEL_ERRORS_REFERENCE, True, id="reference"),
    pytest.param('sum by (model) (rate(llm_requests_total{status="error"}[1m])) / ignoring(status)'
                 ' sum by (model) (rate(llm_requests_total[1m])) >= 0.1', True, id="rewritten"),
    pytest.param('sum by (model) (rate(llm_requests_total{status="error"}[60s])) > 0.1 * sum by '
                 '(model) (rate(llm_requests_total[60s]))', True, id="multiplied"),
    pytest.param("vector(0)", False, id="zero"),
    pytest.param("vector(1)", False, id="one"),
    pytest.param('sum by (model) (rate(llm_requests_total{status="error"}[1m])) > 0.1', False,
                 id="numerator-only"),
    pytest.param('sum by (model) (llm_requests_total{status="error"}) / sum by (model) '
                 "(llm_requests_total) > 0.1", False, id="no-rate"),
    pytest.param('sum by (model) (rate(llm_requests_total{status="error"}[5m])) / sum by (model)'
                 ' (rate(llm_requests_total[5m])) > 0.1', False, id="window-5m"),
    pytest.param('sum by (model) (rate(llm_requests_total{status="error"}[1m])) / sum by (model)'
                 ' (rate(llm_requests_total[1m])) > 0.05', False, id="threshold-5pct"),
    pytest.param('sum by (job, model) (rate(llm_requests_total{status="error"}[1m])) / '
                 'sum by (job, model) (rate(llm_requests_total[1m])) > 0.1', False,
                 id="extra-label"),
    pytest.param('sum(rate(llm_requests_total{status="error"}[1m])) / '
                 'sum(rate(llm_requests_total[1m])) > 0.1', False, id="not-per-model"),
    pytest.param("sum(rate(", False, id="syntax-error"),
])
def test_expression_runs_in_promtool_on_synthetic_models(answer: str, passes: bool) -> None:
    """Only an expression firing for model a (20%), not b (7.3%) or c, passes."""
    outcome = synthetic_expression_check(answer)
    assert outcome.passed is passes, outcome.detail
    if not passes:
        assert "model=\"a\"" in outcome.detail


class RangeProm:
    """A stub Prometheus whose range queries return fixed frames by query."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames
        self.calls: list[tuple[float, float, float]] = []

    def query_range(self, promql: str, *, start: Any, end: Any, step: Any) -> pd.DataFrame:
        if promql.count("(") != promql.count(")"):
            raise QueryParseError("parse error: unclosed left parenthesis")
        self.calls.append((start, end, step))
        return self.frames.get(promql, pd.DataFrame(columns=["timestamp", "value"]))


def _frame(seconds: list[int], value: float = 0.5, **labels: str) -> pd.DataFrame:
    return pd.DataFrame({**{k: [v] * len(seconds) for k, v in labels.items()},
                         "timestamp": [T0 + pd.Timedelta(seconds=s) for s in seconds],
                         "value": [value] * len(seconds)})


def test_live_comparison_uses_one_time_grid_and_compares_steps() -> None:
    """Both queries get the same start, end and step; the same samples pass."""
    prom = RangeProm({MODEL_ERRORS_REFERENCE: _frame([0, 2, 4], model="m"),
                      "answer": _frame([0, 2, 4], model="m")})
    outcome = same_over_range(SimpleNamespace(prometheus=prom), "answer", MODEL_ERRORS_REFERENCE)
    assert outcome.passed, outcome.detail
    assert prom.calls[0] == prom.calls[1]


@pytest.mark.parametrize(("answer", "says"), [
    pytest.param(_frame([0, 2], model="m"), "should have fired but did not", id="missing"),
    pytest.param(_frame([0, 2, 4, 6], model="m"), "fired but should not have", id="extra"),
    pytest.param(_frame([0, 2, 4], model="m", job="j"), "labels", id="labels"),
    pytest.param(_frame([0, 2, 4], 0.7, model="m"), "expected 0.5", id="values"),
])
def test_live_comparison_names_the_first_difference(answer: pd.DataFrame, says: str) -> None:
    """A different answer fails with the first sample or label where it differs."""
    prom = RangeProm({MODEL_ERRORS_REFERENCE: _frame([0, 2, 4], model="m"), "answer": answer})
    outcome = same_over_range(SimpleNamespace(prometheus=prom), "answer", MODEL_ERRORS_REFERENCE)
    assert not outcome.passed
    assert says in outcome.detail


def test_live_comparison_without_an_incident_leaves_the_verdict_to_the_fixture() -> None:
    """No incident in the live window (a re-check an hour later): nothing live to compare,
    recorded as such, and the synthetic models decide."""
    lab = SimpleNamespace(prometheus=RangeProm({}))
    outcome = same_over_range(lab, "answer", MODEL_ERRORS_REFERENCE)
    assert outcome.passed
    assert outcome.evaluated_on["live"]["compared"] is False


def test_expression_verdict_is_the_same_without_live_data(lab: SimpleNamespace) -> None:
    """The exercise's verdict on the synthetic models stands when the live lab has no incident."""
    lab.prometheus = RangeProm({})
    right = evaluate("alerting.model_error_expr", MODEL_ERRORS_REFERENCE, lab)
    wrong = evaluate("alerting.model_error_expr", "vector(1)", lab)
    assert (right.status, wrong.status) == ("passed", "failed")
    assert right.evaluated_on["fixture"] == "three-models-5m-v2"


# -- 2. the for: duration ---------------------------------------------------------------------

def test_condition_runs_split_at_gaps_per_series() -> None:
    """Consecutive 2 s steps form one run; a gap ends it; each series has its own runs."""
    frame = pd.concat([_frame([0, 2, 4, 20, 22], job="a"), _frame([10, 12], job="b")])
    runs = [((a - T0).total_seconds(), (b - T0).total_seconds()) for a, b in
            condition_runs(frame)]
    assert runs == [(0, 4), (10, 12), (20, 22)]


@pytest.mark.parametrize(("answer", "passes", "says"), [
    pytest.param("30s", False, "clears within 40s", id="too-short"),
    pytest.param("40s", False, "clears within 40s", id="exactly-the-blip"),
    pytest.param(40, False, "clears within 40s", id="exactly-the-blip-number"),
    pytest.param("0s", False, "clears within 40s", id="zero"),
    pytest.param("2m", False, "never paged", id="too-long"),
    pytest.param("91s", False, "never paged", id="just-too-long"),
    pytest.param("45s", True, "never pages", id="solution"),
    pytest.param("1m", True, "never pages", id="a-minute"),
    pytest.param("1m30s", True, "never pages", id="upper-bound"),
])
def test_for_ignores_40s_blips_and_pages_for_the_incident(answer: Any, passes: bool, says: str,
                                                          lab: SimpleNamespace) -> None:
    """A for: passes when longer than 40 s (a 40 s blip must not page) and at most the 90 s
    the incident's condition held; no live data is needed, so a re-check agrees."""
    verdict = evaluate("alerting.for_duration", answer, lab)
    assert verdict.passed is passes, verdict.detail
    assert says in verdict.detail
    assert for_check(45).evaluated_on["spec"]["ignore_blips_up_to_s"] == 40


@pytest.mark.parametrize("answer", ["1h1m", "banana", True, [60]])
def test_for_answers_that_are_not_durations_fail(answer: Any, lab: SimpleNamespace) -> None:
    """A long duration fails on its merits; a non-duration fails saying what to write."""
    lab.prometheus = RangeProm({})
    lab.url = lambda name: "http://127.0.0.1:1"  # unreachable: must not be needed for these
    verdict = evaluate("alerting.for_duration", answer, lab)
    assert verdict.status in ("failed", "error")
    if answer != "1h1m":
        assert "duration" in verdict.detail


# -- 3. the routing matcher -------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "passes", "says"), [
    pytest.param('alertname=~"NoAvailableSlots|HighQueueDepth"', True, "capacity only",
                 id="solution"),
    pytest.param(['alertname=~"HighQueueDepth|NoAvailableSlots"', 'severity="warning"'], True,
                 "capacity only", id="list"),
    pytest.param('severity="warning"', False, "HighLatency (warning) goes to capacity",
                 id="too-broad"),
    pytest.param('alertname="HighQueueDepth"', False, "NoAvailableSlots (warning) goes to chat",
                 id="too-narrow"),
    pytest.param('alertname=~"(NoAvailableSlots"', False, "amtool rejects", id="bad-regex"),
    pytest.param('alertname="NoAvailableSlots"', False, "HighQueueDepth", id="one-of-two"),
    pytest.param('alertname=~".*"', False, "goes to capacity", id="everything"),
    pytest.param('alertname=~"NoAvailableSlots|HighQueueDepth|HighLatency"', False,
                 "HighLatency", id="one-too-many"),
])
def test_matcher_is_routed_by_amtool(answer: Any, passes: bool, says: str,
                                     lab: SimpleNamespace) -> None:
    """amtool routes the seven alerts through the tree with the capacity route first."""
    verdict = evaluate("alerting.route_matcher", answer, lab)
    assert verdict.passed is passes, verdict.detail
    assert says in verdict.detail


def test_matcher_must_be_a_string(lab: SimpleNamespace) -> None:
    """A number is refused with an example of a matcher."""
    verdict = evaluate("alerting.route_matcher", 42, lab)
    assert verdict.status == "failed" and 'severity="critical"' in verdict.detail


# -- 4. the promtool unit test ----------------------------------------------------------------

@pytest.mark.parametrize(("answer", "passes", "says"), [
    pytest.param(RULE_TEST, True, "catches both", id="solution"),
    pytest.param(RULE_TEST.replace("eval_time: 2m30s", "eval_time: 1m"), False,
                 "without its for:", id="no-pending-check"),
    pytest.param(RULE_TEST.replace("eval_time: 3m", "eval_time: 2m40s"), False,
                 "fails against the lab rules", id="fires-too-early"),
    pytest.param(RULE_TEST.split("  - eval_time: 3m")[0], False, "expects HighErrorRate to fire",
                 id="never-asserts-firing"),
    pytest.param(f"tests:\n  - {RULE_TEST.strip().replace(chr(10), chr(10) + '    ')}", True,
                 "catches both", id="whole-file"),
    pytest.param("interval: [15s", False, "not valid YAML", id="bad-yaml"),
    pytest.param("42", False, "promtool test case", id="not-a-mapping"),
])
def test_rule_test_must_pass_and_catch_broken_rules(answer: str, passes: bool, says: str,
                                                    lab: SimpleNamespace) -> None:
    """The test passes on the lab rules and fails on a never-firing and a for:-less copy."""
    verdict = evaluate("alerting.rule_test", answer, lab)
    assert verdict.passed is passes, verdict.detail
    assert says in verdict.detail


# -- 5. the silence ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return alert_labels(render_lab_rules(tmp_path_factory.mktemp("rules")).values())


@pytest.mark.parametrize(("matcher", "labels", "hit"), [
    ({"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True},
     {"alertname": "HighErrorRate"}, True),
    ({"name": "alertname", "value": "High", "isRegex": True, "isEqual": True},
     {"alertname": "HighErrorRate"}, False),  # anchored, like Alertmanager
    ({"name": "alertname", "value": "High.*", "isRegex": True, "isEqual": True},
     {"alertname": "HighErrorRate"}, True),
    ({"name": "severity", "value": "critical", "isRegex": False, "isEqual": False},
     {"severity": "warning"}, True),
    ({"name": "team", "value": "", "isRegex": False, "isEqual": True}, {}, True),
    ({"name": "team", "value": ".+", "isRegex": True, "isEqual": False}, {}, True),
], ids=["equal", "regex-anchored", "regex", "not-equal", "missing-is-empty", "not-regex"])
def test_matchers_follow_alertmanager(matcher: dict[str, Any], labels: dict[str, str],
                                      hit: bool) -> None:
    """=, !=, =~ and !~ as Alertmanager applies them."""
    assert matcher_matches(matcher, labels) is hit


def _silence(*matchers: tuple[str, str, bool], state: str = "active",
             minutes: float = 10) -> dict[str, Any]:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    return {"id": "s1", "status": {"state": state},
            "matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": True}
                         for n, v, r in matchers],
            "startsAt": start.isoformat(),
            "endsAt": (start + timedelta(minutes=minutes)).isoformat(),
            "createdBy": "me", "comment": "maintenance"}


@pytest.mark.parametrize(("silence", "passes", "says"), [
    (_silence(("alertname", "HighErrorRate", False)), True, "mutes HighErrorRate and nothing"),
    (_silence(("alertname", "High.*Rate", True), ("job", "llm-api", False)), True, "mutes"),
    (_silence(("severity", "critical", False)), False, "also silences GPUMemoryHigh"),
    (_silence(("alertname", "HighLatency", False)), False, "does not match HighErrorRate"),
    (_silence(("alertname", "HighErrorRate", False), state="expired"), True, "was active"),
    (_silence(("alertname", "HighErrorRate", False), state="expired", minutes=0), False,
     "expired before it started"),
    (_silence(("alertname", "HighErrorRate", False), state="pending"), False, "not active"),
    (_silence(("alertname", "HighErrorRate", False), minutes=24 * 60), False, "at most an hour"),
], ids=["solution", "regex-and-job", "too-broad", "wrong-alert", "expired-after-use",
        "expired-unused", "pending", "too-long"])
def test_silence_mutes_only_the_target(silence: dict[str, Any], passes: bool, says: str,
                                       alerts: dict[str, dict[str, str]]) -> None:
    """Active, matching HighErrorRate and none of the six others, at most an hour long."""
    outcome = silence_check(silence, alerts)
    assert outcome.passed is passes, outcome.detail
    assert says in outcome.detail


@pytest.fixture
def alertmanager(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fake Alertmanager that knows one silence, s1, at /api/v2/silence/s1."""
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/silence/s1":
            return httpx.Response(200, json=_silence(("alertname", "HighErrorRate", False)))
        return httpx.Response(404, json={"message": "silence not found"})

    transport = httpx.MockTransport(handle)
    monkeypatch.setattr(alerts_query, "ServiceClient", partial(ServiceClient, transport=transport))
    return "http://alertmanager.test"


@pytest.mark.parametrize(("answer", "passes", "says"), [
    ("s1", True, "mutes HighErrorRate"),
    ("nope", False, "has no silence 'nope'"),
    (["s1"], False, "silence id"),
], ids=["known", "unknown", "not-a-string"])
def test_silence_exercise_asks_alertmanager(answer: Any, passes: bool, says: str,
                                            alertmanager: str, lab: SimpleNamespace) -> None:
    """The check reads the silence by id from Alertmanager's API."""
    lab.url = lambda name: alertmanager
    verdict = evaluate("alerting.silence", answer, lab)
    assert verdict.passed is passes, verdict.detail
    assert says in verdict.detail
