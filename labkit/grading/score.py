"""Read the recorded answers of an executed submission and recompute every verdict here.

Answers are plain JSON read from the grader's own recording cells (matched by the run's
nonce and the exercise id); nothing else in the notebook is read, no verdict the kernel
displayed is trusted, and nothing is unpickled. Each verdict comes from
``labkit.exercises.core.evaluate`` in the grader's process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nbformat

from labkit.exercises.core import Verdict, evaluate, get
from labkit.grading.prepare import ANSWER_MIME

__all__ = ["Recorded", "read_answers", "score"]


@dataclass(frozen=True)
class Recorded:
    """What the recording cell of one exercise gave: an answer, or why there is none."""

    answered: bool
    answer: Any = None
    reason: str = ""


def read_answers(nb: nbformat.NotebookNode, nonce: str,
                 exercises: list[str]) -> dict[str, Recorded]:
    """The recorded answer of each exercise (a ``reason`` when it has none)."""
    found: dict[str, Recorded] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("labkit_grader") or {}
        exercise_id = meta.get("exercise")
        if meta.get("nonce") != nonce or exercise_id not in exercises or exercise_id in found:
            continue
        for out in cell.get("outputs", []):
            record = out.get("data", {}).get(ANSWER_MIME)
            if not isinstance(record, dict) or record.get("nonce") != nonce \
                    or record.get("exercise") != exercise_id:
                continue
            if "answer" in record:
                found[exercise_id] = Recorded(True, record["answer"])
            else:
                found[exercise_id] = Recorded(False, reason=f"no answer ({record.get('missing')})")
            break
    for exercise_id in exercises:
        found.setdefault(exercise_id, Recorded(
            False, reason="the notebook stopped before this exercise was recorded"))
    return found


def score(answers: dict[str, Recorded], lab: Any) -> list[Verdict]:
    """One verdict per exercise, computed in this process."""
    verdicts = []
    for exercise_id, rec in answers.items():
        if rec.answered:
            verdicts.append(evaluate(exercise_id, rec.answer, lab))
            continue
        ex = get(exercise_id)
        verdicts.append(Verdict(exercise_id=ex.id, title=ex.title, status="not attempted",
                                detail=rec.reason, hint=ex.hint, max_points=ex.points))
    return verdicts
