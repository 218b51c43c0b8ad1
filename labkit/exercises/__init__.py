"""Checked exercises for the lab's notebooks: ``check(id, answer)``."""

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

__all__ = ["MIME_TYPE", "CheckFailed", "Exercise", "Outcome", "Verdict", "all_exercises",
           "check", "evaluate", "exercise", "get", "windowed"]
