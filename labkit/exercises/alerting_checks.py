"""The checks behind notebook 05's exercises, runnable without a notebook.

Each runs the learner's answer the way production would: an alert expression through promtool
on synthetic series and through the live Prometheus over a recorded incident, a routing matcher
through ``amtool config routes test``, a rule unit test through ``promtool test rules`` (on the
lab rules, and on broken copies it must catch), a silence through Alertmanager's matcher rules.
The exercises themselves are registered in :mod:`labkit.exercises.sets.alerting`.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from labkit.alerting import render_alertmanager_config, render_rules
from labkit.alerting.tools import check_alertmanager_config, route, test_rules
from labkit.durations import parse_duration
from labkit.errors import QueryError
from labkit.exercises.compare import series_key
from labkit.exercises.core import CheckFailed, Outcome

__all__ = [
    "CAPACITY_ALERTS",
    "EVAL_S",
    "LOOKBACK",
    "MAX_FOR_SECONDS",
    "MAX_SILENCE_S",
    "MIN_FOR_SECONDS",
    "alert_labels",
    "condition_runs",
    "for_check",
    "matcher_matches",
    "render_lab_rules",
    "routing_check",
    "rule_test_check",
    "same_over_range",
    "silence_check",
    "synthetic_expression_check",
]

WINDOW = "1m"  # lab rate window; production rules use [5m]
EVAL_S = 2.0  # lab rule evaluation interval; production: 30s
LOOKBACK = "15m"  # how far back the checks look for the incident the notebook recorded
MIN_FOR_SECONDS = 40.0  # the on-call team's rule in the `for:` exercise: ignore blips this long
MAX_FOR_SECONDS = 90.0  # notebook 05 keeps the error condition up at least this long
CAPACITY_ALERTS = frozenset({"NoAvailableSlots", "HighQueueDepth"})
MAX_SILENCE_S = 3600.0


# -- shared helpers ----------------------------------------------------------------------------

def render_lab_rules(out_dir: Path, lab: Any = None) -> dict[str, Path]:
    """The lab's rule files (as ``labkit up`` renders them), by file name."""
    config = getattr(lab, "config", None)
    mode = getattr(config, "mode", "lab") == "lab"
    slots = getattr(config, "slots", 4)
    return {p.name: p for p in render_rules(out_dir, lab=mode, slots=slots)}


def alert_labels(rule_paths: Iterable[Path]) -> dict[str, dict[str, str]]:
    """For each alert of the rules, the labels a firing instance carries (with a job label)."""
    found: dict[str, dict[str, str]] = {}
    for path in rule_paths:
        for group in yaml.safe_load(Path(path).read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = {"alertname": rule["alert"], "job": "llm-api",
                                            **{k: str(v) for k, v in rule["labels"].items()}}
    return found


def _promtool(rules: Mapping[str, Any], tests: list[Any], folder: Path,
              eval_interval: str = "2s") -> tuple[bool, str]:
    """Write rule groups and test cases into ``folder`` and run ``promtool test rules``."""
    rule_file = folder / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    test_file = folder / "test.yml"
    test_file.write_text(yaml.safe_dump(
        {"rule_files": [str(rule_file)], "evaluation_interval": eval_interval, "tests": tests},
        sort_keys=False))
    result = test_rules([test_file])
    return result.ok, result.output


def _tail(text: str, lines: int = 14) -> str:
    """The end of a tool's output, without blank lines and file banners."""
    kept = [line for line in text.splitlines()
            if line.strip() and not line.startswith("Unit Testing:")]
    return "\n".join(kept[-lines:])


# -- an alert expression -----------------------------------------------------------------------

def _counter(increments: list[int], start: int = 100000) -> str:
    total, values = start, []
    for inc in [0, *increments]:
        total += inc
        values.append(str(total))
    return " ".join(values)


# Three models over five minutes, every 15 s. Over the last minute: a at 20% errors, b at
# 7.3%, c at none; only a is above 10%. Over five minutes b is above 10% too (it failed more
# at first), so a wrong window fires for b; the counters start at 100000, so a missing
# rate() fires for every model; the error rates alone all exceed 0.1 per second.
_SAMPLES = 20
_SYNTHETIC = {"a": ([120] * _SAMPLES, [30] * _SAMPLES),
              "b": ([139] * _SAMPLES, [40] * 8 + [11] * (_SAMPLES - 8)),
              "c": ([150] * _SAMPLES, [0] * _SAMPLES)}
SYNTHETIC_FIXTURE_ID = "three-models-5m-v2"


def synthetic_expression_check(answer: str) -> Outcome:
    """Run the answer as an alert rule in promtool over three synthetic models."""
    series = [{"series": f'llm_requests_total{{job="llm-api",model="{model}",status="{status}"}}',
               "values": _counter(incs)}
              for model, (ok, err) in _SYNTHETIC.items()
              for status, incs in (("success", ok), ("error", err))]
    rules = {"groups": [{"name": "answer", "rules": [{"alert": "Answer", "expr": answer}]}]}
    test = {"interval": "15s", "input_series": series, "alert_rule_test": [
        {"eval_time": "4m", "alertname": "Answer", "exp_alerts": [{"exp_labels": {"model": "a"}}]}]}
    with tempfile.TemporaryDirectory(prefix="labkit-ex-") as tmp:
        ok, output = _promtool(rules, [test], Path(tmp))
    evidence = {"fixture": SYNTHETIC_FIXTURE_ID, "instants": ["4m"]}
    if ok:
        return Outcome(True, "on synthetic series (model a 20% errors, b 7.3% over the last "
                             "minute but more before, c 0%) it fires for model a only", evidence)
    return Outcome(False, "on synthetic series (model a 20% errors, b 7.3% over the last minute "
                          "but more before, c none) it should fire once, with the single label "
                          "model=\"a\"; promtool says:\n" + _tail(output), evidence)


def _range_map(frame: pd.DataFrame) -> dict[tuple[Any, ...], float]:
    labels = sorted(c for c in frame.columns if c not in ("timestamp", "value", "metric"))
    return {(series_key(row, labels), row["timestamp"]): float(row["value"])
            for _, row in frame.iterrows()}


def same_over_range(lab: Any, answer: str, reference: str, *,
                    lookback: float = parse_duration(LOOKBACK), step: float = EVAL_S) -> Outcome:
    """Evaluate both expressions at the same steps over the recorded window and compare."""
    end = time.time() - 1.0  # one fixed grid for both queries, or their steps would differ
    start = end - lookback
    prom = lab.prometheus
    try:
        got = prom.query_range(answer, start=start, end=end, step=step)
    except QueryError as exc:
        raise CheckFailed(f"Prometheus rejected your expression: {exc}") from None
    want = prom.query_range(reference, start=start, end=end, step=step)
    if want.empty:  # no incident in the window: nothing live to compare, the fixture decides
        return Outcome(True, f"no model had more than 10% errors in the last {LOOKBACK}: "
                             "nothing live to compare with",
                       {"live": {"start": round(start, 3), "end": round(end, 3),
                                 "compared": False}})
    got_map, want_map = _range_map(got), _range_map(want)
    got_labels = {tuple(k for k, _ in key[0]) for key in got_map}
    want_labels = {tuple(k for k, _ in key[0]) for key in want_map}
    if got_map and got_labels != want_labels:
        return Outcome(False, f"your alert's series carry the labels {sorted(got_labels)[0]}, "
                              f"the reference's {sorted(want_labels)[0]}: aggregate so that "
                              "each alert names what is failing, and nothing else")
    missing = sorted(set(want_map) - set(got_map), key=lambda k: k[1])
    extra = sorted(set(got_map) - set(want_map), key=lambda k: k[1])
    if missing or extra:
        first = (missing or extra)[0]
        when = first[1].strftime("%H:%M:%S")
        labels = "{" + ", ".join(f'{k}="{v}"' for k, v in first[0]) + "}"
        what = "should have fired but did not" if missing else "fired but should not have"
        return Outcome(False, f"over the recorded incident your alert {what} for {labels} at "
                              f"{when} UTC ({len(missing)} missing, {len(extra)} extra samples)")
    for key, value in want_map.items():
        if not math.isclose(got_map[key], value, rel_tol=1e-6, abs_tol=1e-9):
            return Outcome(False, f"at {key[1]:%H:%M:%S} your value is {got_map[key]:.4g}, "
                                  f"expected {value:.4g}")
    seconds = len({k[1] for k in want_map}) * step
    return Outcome(True, f"active exactly when the reference is, at every {step:g}s step of the "
                         f"last {lookback / 60:g} minutes (active for about {seconds:.0f}s)",
                   {"live": {"start": round(start, 3), "end": round(end, 3), "compared": True}})


# -- a `for:` duration -------------------------------------------------------------------------

def condition_runs(frame: pd.DataFrame, step: float = EVAL_S) -> list[tuple[pd.Timestamp,
                                                                            pd.Timestamp]]:
    """Stretches of time in which a range query had a result: (first, last) timestamps."""
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    if frame.empty:
        return runs
    labels = sorted(c for c in frame.columns if c not in ("timestamp", "value", "metric"))
    for _, series in frame.groupby(frame.apply(lambda r: series_key(r, labels), axis=1)):
        stamps = sorted(series["timestamp"])
        first = prev = stamps[0]
        for ts in stamps[1:]:
            if (ts - prev).total_seconds() > 1.5 * step:  # a gap: the condition cleared
                runs.append((first, prev))
                first = ts
            prev = ts
        runs.append((first, prev))
    return sorted(runs)



def for_check(for_s: float) -> Outcome:
    """A ``for:`` that ignores blips shorter than ``MIN_FOR_SECONDS`` (a condition that clears
    within 40 s must not page) and pages for the notebook's incident, whose condition holds
    at least ``MAX_FOR_SECONDS``: ``MIN_FOR_SECONDS < for <= MAX_FOR_SECONDS``."""
    evidence = {"spec": {"ignore_blips_up_to_s": MIN_FOR_SECONDS,
                         "incident_held_s": MAX_FOR_SECONDS}}
    if for_s <= MIN_FOR_SECONDS:
        return Outcome(False, f"for: {for_s:g}s pages on a blip whose error ratio stays above "
                              f"5% for {MIN_FOR_SECONDS:g}s (the alert fires once the condition "
                              f"has held for {for_s:g}s); the team ignores anything that clears "
                              f"within {MIN_FOR_SECONDS:g}s", evidence)
    if for_s > MAX_FOR_SECONDS:
        return Outcome(False, f"the incident's condition held for {MAX_FOR_SECONDS:g}s: with "
                              f"for: {for_s:g}s the alert would have stayed pending and never "
                              "paged", evidence)
    return Outcome(True, f"a blip that clears within {MIN_FOR_SECONDS:g}s never pages, and the "
                         f"{MAX_FOR_SECONDS:g}s incident pages {for_s:g}s after it starts",
                   evidence)


# -- a routing matcher -------------------------------------------------------------------------

def routing_check(matchers: Sequence[str], folder: Path) -> Outcome:
    """Add a ``capacity`` route with ``matchers`` first in the lab tree; route all alerts."""
    original = render_alertmanager_config(folder / "alertmanager.yml",
                                          sink_url="http://127.0.0.1:9097", lab=True)
    config = yaml.safe_load(original.read_text())
    config["route"]["routes"].insert(0, {"receiver": "capacity", "matchers": list(matchers)})
    config["receivers"].append({"name": "capacity", "webhook_configs": [
        {"url": "http://127.0.0.1:9097/hook/capacity", "send_resolved": True}]})
    changed = folder / "alertmanager-capacity.yml"
    changed.write_text(yaml.safe_dump(config, sort_keys=False))
    result = check_alertmanager_config(changed)
    if not result.ok:
        return Outcome(False, "amtool rejects the config with your matcher:\n"
                       + _tail(result.output))
    labels = alert_labels(render_rules(folder / "rules", lab=True, slots=4))
    wrong = []
    for name, alert in sorted(labels.items()):
        want = ["capacity"] if name in CAPACITY_ALERTS else route(original, alert)
        got = route(changed, alert)
        if got != want:
            wrong.append(f"{name} ({alert.get('severity')}) goes to {', '.join(got)} "
                         f"instead of {', '.join(want)}")
    if wrong:
        return Outcome(False, "; ".join(wrong))
    return Outcome(True, f"{' and '.join(sorted(CAPACITY_ALERTS))} go to capacity only; the other "
                         f"{len(labels) - len(CAPACITY_ALERTS)} alerts keep their receivers")


# -- a promtool unit test ----------------------------------------------------------------------

def _test_cases(answer: Any) -> list[dict[str, Any]]:
    data = yaml.safe_load(answer) if isinstance(answer, str) else answer
    if isinstance(data, dict) and "tests" in data:
        data = data["tests"]
    cases = [data] if isinstance(data, dict) else data
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases) or not cases:
        raise CheckFailed("answer with the YAML of a promtool test case: a mapping with "
                          "interval, input_series and alert_rule_test")
    return cases


def _mutated(rules_path: Path, out: Path, change: str) -> Path:
    """A copy of alerts.yml with HighErrorRate broken: ``never`` fires, or ``no_for``."""
    data = yaml.safe_load(rules_path.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "HighErrorRate":
                if change == "never":
                    rule["expr"] = f"({rule['expr']}) and on () vector(0) > 1"
                else:
                    rule.pop("for", None)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def rule_test_check(answer: Any, folder: Path, lab: Any = None) -> Outcome:
    """The learner's test passes on the lab rules, and fails on two broken HighErrorRate rules."""
    cases = _test_cases(answer)
    named = [t for c in cases for t in c.get("alert_rule_test") or []
             if isinstance(t, dict) and t.get("alertname") == "HighErrorRate"]
    if not any(t.get("exp_alerts") for t in named):
        return Outcome(False, "no alert_rule_test expects HighErrorRate to fire "
                              "(exp_alerts is empty or missing)")
    rules = render_lab_rules(folder / "rules", lab)
    variants = {"the lab rules": rules["alerts.yml"],
                "a HighErrorRate that never fires": _mutated(rules["alerts.yml"],
                                                             folder / "never.yml", "never"),
                "a HighErrorRate without its for:": _mutated(rules["alerts.yml"],
                                                             folder / "nofor.yml", "no_for")}
    results = {}
    for name, alerts in variants.items():
        files = [alerts, rules["recording.yml"], rules["slo.yml"]]
        test_file = folder / f"test-{alerts.stem}.yml"
        test_file.write_text(yaml.safe_dump({"rule_files": [str(p) for p in files],
                                             "evaluation_interval": f"{EVAL_S:g}s",
                                             "tests": cases}, sort_keys=False))
        results[name] = test_rules([test_file])
    real = results["the lab rules"]
    if not real.ok:
        return Outcome(False, "your test fails against the lab rules:\n" + _tail(real.output))
    survived = [name for name, r in results.items() if name != "the lab rules" and r.ok]
    if survived:
        return Outcome(False, f"your test passes on the lab rules but also on {survived[0]}: "
                              "it does not pin down " + ("that the alert fires" if "never" in
                              survived[0] else "that it is still pending before for: has passed"))
    return Outcome(True, "passes on the lab rules, and catches both a HighErrorRate that never "
                         "fires and one without its for:")


# -- a silence ---------------------------------------------------------------------------------

def matcher_matches(matcher: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Alertmanager's matcher semantics: regexes are anchored; a missing label reads ''."""
    value = labels.get(matcher["name"], "")
    if matcher.get("isRegex"):
        hit = re.fullmatch(matcher["value"], value) is not None
    else:
        hit = value == matcher["value"]
    return hit == matcher.get("isEqual", True)


def silence_check(silence: Mapping[str, Any], alerts: Mapping[str, Mapping[str, str]],
                  target: str = "HighErrorRate") -> Outcome:
    """A silence of at most an hour that mutes ``target`` and no other alert.

    It must be active, or have been: the notebook expires its silences when it is done,
    and Alertmanager keeps an expired silence (with the time it ended) in its history.
    """
    state = silence.get("status", {}).get("state")
    evidence = {"observed": {k: silence.get(k) for k in
                             ("id", "matchers", "startsAt", "endsAt", "updatedAt", "createdBy")}
                | {"state": state}}
    if state == "expired" and not pd.Timestamp(silence["startsAt"]) < pd.Timestamp(
            silence["endsAt"]):
        return Outcome(False, f"silence {silence.get('id')} expired before it started: it never "
                              "muted anything", evidence)
    if state not in ("active", "expired"):
        return Outcome(False, f"silence {silence.get('id')} is {state}, not active", evidence)
    matchers = silence.get("matchers", [])
    if not all(matcher_matches(m, alerts[target]) for m in matchers):
        return Outcome(False, f"it does not match {target} (labels {dict(alerts[target])})",
                       evidence)
    others = [n for n, labels in alerts.items() if n != target
              and all(matcher_matches(m, labels) for m in matchers)]
    if others:
        return Outcome(False, f"it also silences {', '.join(sorted(others))}: add a matcher "
                              "so that only the alert being worked on is muted", evidence)
    starts = pd.Timestamp(silence["startsAt"])
    ends = pd.Timestamp(silence["endsAt"])
    length = (ends - starts).total_seconds()
    if length > MAX_SILENCE_S + 1:
        return Outcome(False, f"it lasts {length / 60:.0f} minutes; keep a maintenance "
                              "silence short (at most an hour) so it cannot hide a real outage",
                       evidence)
    until = "active until" if state == "active" else "was active until"
    return Outcome(True, f"{until} {ends:%H:%M:%S} UTC, mutes {target} and nothing else",
                   evidence)
