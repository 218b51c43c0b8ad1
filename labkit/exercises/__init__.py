"""Checked exercises for the lab's notebooks: ``check(id, answer)``.

Besides the checking API, a few names that exercises give the learner to work with
(promtool helpers, the pods of the relabelling exercise, the capacity plan's settings)
are public here, loaded on first use so that ``import labkit.exercises`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from labkit.exercises.core import (
    MIME_TYPE,
    CheckFailed,
    Exercise,
    Outcome,
    Verdict,
    all_exercises,
    check,
    evaluate,
    exercise,
    get,
    windowed,
)

# public name -> (module, attribute): exercise material a notebook may use
_MATERIAL = {
    "check_config": ("labkit.exercises.promtool_sd", "check_config"),
    "discovered_targets": ("labkit.exercises.promtool_sd", "discovered_targets"),
    "KUBERNETES_PODS": ("labkit.exercises.sets.promconfig", "PODS"),
    "SLO_P95_S": ("labkit.exercises.sets.capacity", "SLO_P95_S"),
    "TARGET_RATE": ("labkit.exercises.sets.capacity", "TARGET_RATE"),
    "KNEE_FACTOR": ("labkit.exercises.sets.capacity", "KNEE_FACTOR"),
    "CAPACITY_STEP": ("labkit.exercises.sets.capacity", "STEP"),
    "on_traces": ("labkit.exercises.trace_answers", "on_traces"),
    "on_usage": ("labkit.exercises.usage_fixture", "on_usage"),
}

__all__ = ["CAPACITY_STEP", "KNEE_FACTOR", "KUBERNETES_PODS", "MIME_TYPE", "SLO_P95_S",
           "TARGET_RATE", "CheckFailed", "Exercise", "Outcome", "Verdict", "all_exercises",
           "check", "check_config", "discovered_targets", "evaluate", "exercise", "get",
           "on_traces", "on_usage", "windowed"]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _MATERIAL[name]
    except KeyError:
        raise AttributeError(f"module 'labkit.exercises' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), attribute)
