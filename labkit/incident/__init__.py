"""The capstone's incidents: chosen and timed by the learner's seed, injected, and recorded.

>>> from labkit import incident                                # doctest: +SKIP
>>> run = incident.start(seed=LEARNER_ID)                      # about 90 s of traffic
>>> check("incident.category", incident.answer(run, "error_burst"))
"""

from __future__ import annotations

from typing import Any

from labkit.incident.catalogue import ALL, CATEGORIES, FIXES, INCIDENTS, MODELS, USERS, Incident
from labkit.incident.plan import Plan, plan_incident
from labkit.incident.record import IncidentRecord, load_record
from labkit.incident.runner import reset_all_faults, run_incident

__all__ = ["ALL", "CATEGORIES", "FIXES", "INCIDENTS", "MODELS", "USERS", "Incident",
           "IncidentRecord", "IncidentRun", "Plan", "answer", "load_record", "plan_incident",
           "reset_all_faults", "run_incident", "start"]


class IncidentRun:
    """A finished run as the learner sees it: the seed and the run's window, no answers."""

    def __init__(self, record: IncidentRecord) -> None:
        self.seed = record.seed
        self.t0 = record.t0  # unix seconds: the run's first request was due
        self.t1 = record.t1  # the last request finished
        self.requests = record.requests
        self.trace_ids = record.trace_ids  # every request of the run that got an answer

    def answer(self, value: Any) -> dict[str, Any] | None:
        """An answer about this run, for ``check``; an unanswered value stays None."""
        return answer(self, value)

    def __repr__(self) -> str:
        return (f"IncidentRun(seed={self.seed}, t0={self.t0:.3f}, t1={self.t1:.3f}, "
                f"{self.requests} requests over {self.t1 - self.t0:.0f} s)")


def start(seed: int, lab: Any = None, *, progress: bool = True) -> IncidentRun:
    """Run learner ``seed``'s incident now; returns the run's window (not what happened)."""
    return IncidentRun(run_incident(seed, lab, progress=progress))


def answer(run: IncidentRun | int, value: Any) -> dict[str, Any] | None:
    """An answer with the seed of the run it is about; an unanswered value stays None."""
    from labkit.exercises.core import is_unanswered

    if is_unanswered(value):
        return None
    seed = run.seed if isinstance(run, IncidentRun) else int(run)
    return {"seed": seed, "answer": value}
