"""Exercises of notebook 05 (alerting): an alert expression, a ``for:``, a routing matcher,
a promtool unit test and a silence. The checks live in :mod:`labkit.exercises.alerting_checks`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from labkit.durations import parse_duration
from labkit.errors import QueryError, QueryHTTPError
from labkit.exercises.alerting_checks import (
    MAX_FOR_SECONDS,
    MIN_FOR_SECONDS,
    alert_labels,
    for_check,
    render_lab_rules,
    routing_check,
    rule_test_check,
    same_over_range,
    silence_check,
    synthetic_expression_check,
)
from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.references import reference
from labkit.query.alerts import silence


@exercise("alerting.model_error_expr",
          title="Alert expression: a model whose error ratio over 1m is above 10%",
          hint='sum by (model) (rate(llm_requests_total{status="error"}[1m])) over sum by '
               "(model) of all requests, compared with > 0.1; keep only the model label")
def _model_error_expr(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a PromQL string, got {type(answer).__name__}")
    # Live first, for Prometheus's own message on a syntax error; the synthetic models decide.
    live = same_over_range(lab, answer, reference("alerting.model_error_expr"))
    synthetic = synthetic_expression_check(answer)
    evidence = {**synthetic.evaluated_on, **live.evaluated_on}
    if not synthetic.passed:
        return Outcome(False, synthetic.detail, evidence)
    if not live.passed:
        return Outcome(False, f"right on the synthetic models, but over your incident: "
                              f"{live.detail}", evidence)
    return Outcome(True, f"{synthetic.detail}; live: {live.detail}", evidence)


def _seconds(answer: Any) -> float:
    if isinstance(answer, bool):
        raise CheckFailed("answer with a duration such as '45s' or '1m'")
    if isinstance(answer, (int, float)):
        return float(answer)
    if isinstance(answer, str):
        try:
            return parse_duration(answer)
        except ValueError as exc:
            raise CheckFailed(f"{exc}") from None
    raise CheckFailed(f"answer with a duration such as '45s' or '1m', not {answer!r}")


@exercise("alerting.for_duration",
          title="A `for:` that ignores short blips yet pages for the incident you recorded",
          hint=f"Longer than {MIN_FOR_SECONDS:.0f}s (a condition that has held for exactly "
               f"for: fires), and no longer than the {MAX_FOR_SECONDS:.0f}s the incident's "
               "condition held (see the timeline plot)")
def _for_duration(answer: Any, lab: Any) -> Outcome:
    return for_check(_seconds(answer))


def _matcher_list(answer: Any) -> list[str]:
    items = [answer] if isinstance(answer, str) else answer
    if not isinstance(items, Sequence) or not items or \
            not all(isinstance(m, str) and m.strip() for m in items):
        raise CheckFailed('answer with a matcher string such as severity="critical" '
                          "(or a list of them)")
    return [m.strip() for m in items]


@exercise("alerting.route_matcher",
          title="A matcher that routes capacity alerts to a new `capacity` receiver",
          hint='Match on the alertname label, e.g. alertname=~"A|B" (Alertmanager anchors '
               "regular expressions); severity alone would take HighLatency too")
def _route_matcher(answer: Any, lab: Any) -> Outcome:
    matchers = _matcher_list(answer)
    with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
        outcome = routing_check(matchers, Path(tmp))
    return Outcome(outcome.passed, outcome.detail,
                   {"fixture": "the lab's routing tree and alert rules, through amtool"})


@exercise("alerting.rule_test",
          title="A promtool unit test for HighErrorRate: pending first, then firing",
          hint="15s input samples; rate() needs two samples; the rule fires once the condition "
               "has held for 30s (lab); assert exp_alerts: [] before that and the alert after")
def _rule_test(answer: Any, lab: Any) -> Outcome:
    try:
        with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
            outcome = rule_test_check(answer, Path(tmp), lab)
    except yaml.YAMLError as exc:
        raise CheckFailed(f"your answer is not valid YAML: {exc}") from None
    return Outcome(outcome.passed, outcome.detail,
                   {"fixture": "the lab rules and two broken HighErrorRate rules, through "
                               "promtool"})


@exercise("alerting.silence",
          title="Silence HighErrorRate, and only it, for the next 10 minutes",
          hint='create_silence(am_url, ["alertname=\\"HighErrorRate\\""], "10m", comment=...) '
               "returns the id")
def _silence(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed("answer with the silence id that create_silence returned")
    try:
        found = silence(lab.url("alertmanager"), answer.strip())
    except QueryHTTPError as exc:
        raise CheckFailed(f"Alertmanager has no silence {answer!r} (HTTP {exc.status})") from None
    except QueryError as exc:
        raise CheckFailed(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
        alerts = alert_labels(render_lab_rules(Path(tmp), lab).values())
    return silence_check(found, alerts)
