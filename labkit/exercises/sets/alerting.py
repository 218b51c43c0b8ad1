"""Exercises of notebook 05 (alerting): an alert expression, a ``for:``, a routing matcher,
a promtool unit test and a silence. The checks live in :mod:`labkit.exercises.alerting_checks`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

from labkit.exercises.alerting_checks import (
    EVAL_S,
    LOOKBACK,
    MIN_FOR_SECONDS,
    MODEL_ERRORS_REFERENCE,
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
from labkit.query.alerts import rules
from labkit.query.prometheus import parse_duration


@exercise("alerting.model_error_expr",
          title="Alert expression: a model whose error ratio over 1m is above 10%",
          hint='sum by (model) (rate(llm_requests_total{status="error"}[1m])) over sum by '
               "(model) of all requests, compared with > 0.1; keep only the model label")
def _model_error_expr(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a PromQL string, got {type(answer).__name__}")
    live = same_over_range(lab, answer, MODEL_ERRORS_REFERENCE)  # first: clear syntax errors
    if not live.passed:
        return live
    synthetic = synthetic_expression_check(answer)
    if not synthetic.passed:
        return synthetic
    return Outcome(True, f"{live.detail}; {synthetic.detail}")


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


def _high_error_condition(lab: Any) -> str:
    """The live HighErrorRate expression, as Prometheus loaded it."""
    frame = rules(lab.url("prometheus"), type="alert")
    match = frame[frame["name"] == "HighErrorRate"]
    if match.empty:
        raise CheckFailed("Prometheus has no HighErrorRate rule loaded: is the lab's "
                          "prometheus running with its rules? (labkit status)")
    return str(match["query"].iloc[0])


@exercise("alerting.for_duration",
          title="A `for:` that ignores short blips yet pages for the incident you recorded",
          hint=f"At least {MIN_FOR_SECONDS:.0f}s, and no longer than the error condition "
               "actually held during your incident (see the timeline plot)")
def _for_duration(answer: Any, lab: Any) -> Outcome:
    for_s = _seconds(answer)
    if for_s < MIN_FOR_SECONDS:  # no need to ask Prometheus
        return for_check(for_s, pd.DataFrame())
    frame = lab.prometheus.query_range(_high_error_condition(lab), start=f"-{LOOKBACK}",
                                       end=time.time() - 1.0, step=EVAL_S)
    return for_check(for_s, frame)


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
        return routing_check(matchers, Path(tmp))


@exercise("alerting.rule_test",
          title="A promtool unit test for HighErrorRate: pending first, then firing",
          hint="15s input samples; rate() needs two samples; the rule fires once the condition "
               "has held for 30s (lab); assert exp_alerts: [] before that and the alert after")
def _rule_test(answer: Any, lab: Any) -> Outcome:
    try:
        with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
            return rule_test_check(answer, Path(tmp), lab)
    except yaml.YAMLError as exc:
        raise CheckFailed(f"your answer is not valid YAML: {exc}") from None


@exercise("alerting.silence",
          title="Silence HighErrorRate, and only it, for the next 10 minutes",
          hint='create_silence(am_url, ["alertname=\\"HighErrorRate\\""], "10m", comment=...) '
               "returns the id")
def _silence(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, str):
        raise CheckFailed("answer with the silence id that create_silence returned")
    url = f"{lab.url('alertmanager').rstrip('/')}/api/v2/silence/{answer.strip()}"
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        raise CheckFailed(f"cannot reach Alertmanager at {url}: {exc}") from None
    if response.status_code != 200:
        raise CheckFailed(f"Alertmanager has no silence {answer!r} (HTTP {response.status_code})")
    with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
        alerts = alert_labels(render_lab_rules(Path(tmp), lab).values())
    return silence_check(response.json(), alerts)
