"""Exercises of notebook 04 (dashboards, system and GPU metrics).

PromQL answers are judged like notebook 01's: on synthetic series through promtool (the
gateway's ``METRICS_FIXTURE``, and :mod:`labkit.exercises.system_fixtures` for the host and
the GPUs), then live. The panel exercises read the panel the learner built (its type,
unit, description and query); the threshold exercise compares with the alert rule itself.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from labkit.dashboards.panels import panel_dict
from labkit.exercises.core import CheckFailed, Outcome, exercise
from labkit.exercises.fixture_series import METRICS_FIXTURE
from labkit.exercises.promql_check import promql_check
from labkit.exercises.promql_fixture import SeriesFixture
from labkit.exercises.references import reference
from labkit.exercises.system_fixtures import GPU_FIXTURE, NODE_FIXTURE

__all__: list[str] = []

GRAFANA_WINDOWS = {"$__rate_interval": "1m", "${__rate_interval}": "1m",
                   "$__interval": "15s", "${__interval}": "15s"}


def _promql(exercise_id: str, fixture: SeriesFixture, wrap: str = "{}"
            ) -> Callable[[Any, Any], Outcome]:
    """Compare ``wrap.format(answer)`` with ``wrap.format(reference)``; ``wrap`` drops labels
    that do not matter (``max by (gpu) ({})``: any correct label set passes)."""
    def check(answer: Any, lab: Any) -> Outcome:
        if not isinstance(answer, str):
            raise CheckFailed(f"expected a PromQL string, got {type(answer).__name__}")
        return promql_check(lab, wrap.format(answer), wrap.format(reference(exercise_id)),
                            fixture)
    return check


exercise("dashboards.fix_request_rate",
         title="Fix the seed's Request Rate panel: requests per second, one series per model",
         hint="llama-server has no request counter: the gateway's llm_requests_total does. "
              "rate() over [1m], summed by (model)")(
    _promql("dashboards.fix_request_rate", METRICS_FIXTURE))
exercise("dashboards.kpi_success_ratio",
         title="KPI for a stat panel: share of requests that succeeded over the last 10 minutes",
         hint='Successful requests (status="success") over all requests, both over [10m] and '
              "summed over every series; a ratio (0..1), not a percentage")(
    _promql("dashboards.kpi_success_ratio", METRICS_FIXTURE))
exercise("system.cpu_busy", title="Host CPU busy: the fraction of CPU time not idle, all cores",
         hint='rate(node_cpu_seconds_total{mode="idle"}[1m]) is the idle share of each core; '
              "average over cores and take 1 minus it")(
    _promql("system.cpu_busy", NODE_FIXTURE, "max({})"))
exercise("system.memory_used",
         title="Host memory used: the fraction the kernel cannot hand out without swapping",
         hint="1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes (MemFree "
              "ignores reclaimable caches)")(
    _promql("system.memory_used", NODE_FIXTURE, "max({})"))
exercise("gpu.memory_used_fraction",
         title="GPU framebuffer used, as a fraction of the card, per GPU",
         hint="DCGM reports used and free MiB; the card holds used + free. The seed's "
              "FB_USED / FB_FREE is used per free, not a fraction")(
    _promql("gpu.memory_used_fraction", GPU_FIXTURE, "max by (gpu) ({})"))


@exercise("dashboards.add_panel",
          title="Add a panel: llama-server's decode throughput, in tokens per second",
          hint="A timeseries panel with unit 'tps', a description, and one Prometheus target: "
               "the rate of llamacpp:tokens_predicted_total (window $__rate_interval or 1m), "
               "summed")
def _add_panel(answer: Any, lab: Any) -> Outcome:
    panel = panel_dict(answer)
    problems = []
    if panel.get("type") != "timeseries":
        problems.append(f"type is {panel.get('type')!r}, not 'timeseries'")
    unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
    if unit != "tps":
        problems.append(f"unit is {unit!r}: tokens per second is Grafana's 'tps'")
    if not str(panel.get("description") or "").strip():
        problems.append("it has no description (say what the panel shows)")
    targets = [t.get("expr", "") for t in panel.get("targets") or [] if t.get("expr")]
    if len(targets) != 1:
        problems.append(f"it has {len(targets)} queries; give it exactly one")
    if problems:
        return Outcome(False, "the panel is not right yet: " + "; ".join(problems),
                       {"panel": panel.get("title", "")})
    expr = targets[0]
    for var, window in GRAFANA_WINDOWS.items():
        expr = expr.replace(var, window)
    outcome = promql_check(lab, expr, reference("dashboards.add_panel"), METRICS_FIXTURE)
    return Outcome(outcome.passed, f"panel query: {outcome.detail}", outcome.evaluated_on)


def _alert_threshold(alert: str) -> float:
    """The number the rule compares against, read from the rules as rendered for the lab."""
    from labkit.runtime.rules import render_rules

    with tempfile.TemporaryDirectory(prefix="labkit-rules-") as tmp:
        for path in render_rules(Path(tmp), lab=True, slots=4):
            for group in yaml.safe_load(path.read_text())["groups"]:
                for rule in group["rules"]:
                    if rule.get("alert") == alert:
                        found = re.search(r">\s*([0-9.]+)\s*$", rule["expr"].strip())
                        if found:
                            return float(found.group(1))
    raise CheckFailed(f"no rule for {alert} found (report this)")


def _number(value: Any) -> float:
    text = str(value).strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text)


@exercise("dashboards.units_thresholds",
          title="Units and thresholds for the Error Ratio panel",
          hint="The query returns a ratio between 0 and 1: Grafana's unit for that is "
               "'percentunit' (it multiplies by 100 for display). Turn red where HighErrorRate "
               "fires: look up its threshold in the alert rules")
def _units_thresholds(answer: Any, lab: Any) -> Outcome:
    if not isinstance(answer, dict) or not {"unit", "threshold"} <= set(answer):
        raise CheckFailed('answer with a dict: {"unit": "...", "threshold": ...}')
    want = _alert_threshold("HighErrorRate")
    evidence = {"rules": "HighErrorRate (lab rules)", "threshold": want}
    if answer["unit"] != "percentunit":
        why = ("'percent' expects 0..100, and this query returns 0..1"
               if answer["unit"] == "percent" else "the query returns a ratio between 0 and 1")
        return Outcome(False, f"unit {answer['unit']!r}: {why}", evidence)
    try:
        threshold = _number(answer["threshold"])
    except ValueError:
        raise CheckFailed(f"threshold {answer['threshold']!r} is not a number") from None
    if abs(threshold - want) > 1e-9:
        return Outcome(False, f"threshold {threshold:g} in the query's units (0..1) is not "
                              "where the HighErrorRate alert fires", evidence)
    return Outcome(True, f"percentunit, red from {want:g} ({want:.0%}): the panel turns red "
                         "where HighErrorRate fires", evidence)
