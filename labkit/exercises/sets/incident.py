"""Exercises of notebook 07 (the incident capstone): checked against what labkit injected.

Each answer travels with the learner's seed (``incident.answer(run, value)``); the check
loads that seed's record from the lab's run directory (written by the incident run, again
by the grader's re-run) and, for the trace id, asks Jaeger. Times are seconds after the
run began (``run.t0``), so they hold for every re-run of the same seed; unix timestamps
are accepted too, against the latest run. The record holds no answer in clear text: each
check asks it a yes/no question (see :mod:`labkit.incident.record`), so a verdict says no
more than pass or fail (no "N s too early").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from labkit.errors import QueryHTTPError
from labkit.exercises.core import CheckFailed, Outcome, exercise, with_evidence
from labkit.incident import catalogue
from labkit.incident.catalogue import ALL, CATEGORIES, FIXES, INCIDENTS, MODELS, USERS
from labkit.incident.record import IncidentRecord, load_record
from labkit.incident.symptoms import symptom_problem

__all__ = ["TOLERANCE_S", "to_offset"]

TOLERANCE_S = 10.0  # lab value: the fault switches within a second; rates smear it further
ALL_WORDS = {ALL, "*", "any", "every", "all models", "all users"}


def _unpack(answer: Any, lab: Any) -> tuple[Any, IncidentRecord]:
    if not isinstance(answer, Mapping) or not {"seed", "answer"} <= set(answer):
        raise CheckFailed("wrap the answer with your run: check(id, incident.answer(run, value))")
    try:
        record = load_record(int(answer["seed"]), lab.config)
    except FileNotFoundError as exc:
        raise CheckFailed(str(exc)) from None
    return answer["answer"], record


def _record_evidence(answer: Any, lab: Any) -> dict[str, Any]:
    """What a verdict was evaluated on: the seed's incident record (and its run)."""
    _, record = _unpack(answer, lab)
    return {"incident_record": {"seed": record.seed, "t0": record.t0, "salt": record.salt}}


_evidence = with_evidence(_record_evidence)


def to_offset(value: Any, t0: float) -> float:
    """Seconds after ``t0``: a number of seconds (offset), a unix time, or a timestamp."""
    if isinstance(value, str):
        try:
            value = pd.Timestamp(value)
        except ValueError:
            raise CheckFailed(f"cannot read {value!r} as a time: give seconds after run.t0, "
                              "or an ISO timestamp with its time zone") from None
    if isinstance(value, datetime):  # pd.Timestamp too
        if value.tzinfo is None:
            raise CheckFailed(f"{value} has no time zone: use UTC, e.g. pd.Timestamp(x, tz='UTC')")
        value = value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CheckFailed(f"a time must be a number of seconds or a timestamp, not {value!r}")
    return float(value) - t0 if value > 1e9 else float(value)


def _name(value: Any, known: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str):
        raise CheckFailed(f"answer with the {what} as a string")
    text = value.strip().lower()
    if text in ALL_WORDS:
        return ALL
    if value.strip() not in known:
        raise CheckFailed(f"{value!r} is not a {what} of the lab; known: {', '.join(known)} "
                          f"(or {ALL!r})")
    return value.strip()


@exercise("incident.category", title="What happened: the incident's category",
          hint="One of " + ", ".join(CATEGORIES) + ". Errors, latency, queueing, which span is "
               "slow, and whose requests are refused or large tell them apart.")
@_evidence
def _category(answer: Any, lab: Any) -> Outcome:
    value, record = _unpack(answer, lab)
    if not isinstance(value, str) or value.strip() not in CATEGORIES:
        raise CheckFailed(f"answer with one of {', '.join(CATEGORIES)}")
    if record.is_("category", value.strip()):
        return Outcome(True, f"{value.strip()}: {INCIDENTS[value.strip()].title}")
    return Outcome(False, f"{value.strip()} is not what the signals show")


@exercise("incident.window", title="When it started and ended",
          hint="Seconds after run.t0, as {'start': s, 'end': s}; within "
               f"{TOLERANCE_S:g} s. Narrow it with a range query at a short step, or with the "
               "first and last affected log lines.")
@_evidence
def _window(answer: Any, lab: Any) -> Outcome:
    value, record = _unpack(answer, lab)
    if not isinstance(value, Mapping) or not {"start", "end"} <= set(value):
        raise CheckFailed("answer {'start': seconds, 'end': seconds} after run.t0")
    start, end = to_offset(value["start"], record.t0), to_offset(value["end"], record.t0)
    if not start < end:
        raise CheckFailed(f"the window ends ({end:.1f} s) before it starts ({start:.1f} s)")
    off = [k for k, v in (("start", start), ("end", end))
           if not record.near(k, v, TOLERANCE_S)]
    if off:
        return Outcome(False, f"the {' and the '.join(off)} {'is' if len(off) == 1 else 'are'} "
                              f"more than {TOLERANCE_S:g} s from the injected window's")
    return Outcome(True, f"{start:.1f} s to {end:.1f} s after t0: within {TOLERANCE_S:g} s "
                         "of the injected window")


def _scope(field: str, known: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def check(answer: Any, lab: Any) -> Outcome:
        value, record = _unpack(answer, lab)
        name = _name(value, known, field)
        if record.is_(field, name):
            return Outcome(True, f"{field}: {name}")
        if name != ALL and record.is_(field, ALL):
            return Outcome(False, f"{name} is not the only {field} affected")
        return Outcome(False, f"{'every ' + field if name == ALL else name} is not the one")
    return _evidence(check)


exercise("incident.model", title="Which model (or 'all')",
         hint="Break the failing or slow requests down by model: sum by (model) (...). "
              "Answer 'all' when every model is hit alike.")(_scope("model", MODELS))
exercise("incident.user", title="Which user (or 'all')",
         hint="Logs and usage carry user_id: count the affected requests by user. Answer "
              "'all' when the incident is not one user's doing.")(_scope("user", USERS))


@exercise("incident.trace", title="One trace id that shows the incident",
          hint="Search Jaeger in the window (find_traces with tags or min_duration), or take "
               "the trace_id of an affected log line; the trace must show the symptom.")
@_evidence
def _trace(answer: Any, lab: Any) -> Outcome:
    value, record = _unpack(answer, lab)
    if not isinstance(value, str) or not value.strip():
        raise CheckFailed("answer with the trace id as a string of 32 hexadecimal digits")
    trace_id = value.strip().lower()
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        raise CheckFailed(f"{value!r} is not a trace id (32 hexadecimal digits)")
    try:
        spans = lab.jaeger.trace(trace_id)
    except QueryHTTPError as exc:
        if exc.status == 404:
            return Outcome(False, f"Jaeger has no trace {trace_id}")
        raise
    problem = symptom_problem(spans, record)
    if problem:
        return Outcome(False, problem)
    shown = next(i.symptom for c, i in INCIDENTS.items() if record.is_("category", c))
    return Outcome(True, f"trace {trace_id} shows it: {shown}")


@exercise("incident.fix", title="The fix",
          hint="Choose the letter of the fix that removes the cause you found: "
               + "; ".join(f"{k}: {v}" for k, v in FIXES.items()))
@_evidence
def _fix(answer: Any, lab: Any) -> Outcome:
    value, record = _unpack(answer, lab)
    if not isinstance(value, str) or value.strip().upper() not in FIXES:
        raise CheckFailed(f"answer with one letter of {', '.join(FIXES)}")
    choice = value.strip().upper()
    if any(record.is_("category", c) and catalogue.fix_digest(c, choice) in catalogue.FIX_DIGESTS
           for c in CATEGORIES):
        return Outcome(True, f"{choice}: {FIXES[choice]}")
    return Outcome(False, f"{choice} does not remove the cause of this incident")
