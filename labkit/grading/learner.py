"""Who a submission is about: its learner parameters, and the incident run graded against.

A notebook that differs per learner (07's ``LEARNER_ID`` picks the incident) is executed
with the submission's own value, read from its parameters cell as plain data (``ast``
literals only: nothing the learner wrote is executed here). Its answers are then bound to
that id, whatever seed they claim, and graded against the incident record of the run the
grader's execution made, which the grader checks against the seed's plan first: a record
the learner's kernel forged or left over from another run does not count.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

import nbformat

from labkit.grading.cells import tags
from labkit.grading.score import Recorded

__all__ = ["LEARNER_PARAMETERS", "bind_to_learner", "incident_problem", "learner_parameters"]

# Parameters that say who the learner is: the grader takes them from the submission.
LEARNER_PARAMETERS = ("LEARNER_ID",)
TIME_SLACK_S = 5.0  # the plan's fault offsets vs the record's: one HTTP call and a scrape


def _literals(source: str) -> dict[str, Any]:
    """``NAME = literal`` assignments at the top level of ``source`` (others are ignored)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        try:
            found[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            found.pop(target.id, None)  # not plain data: the source's default applies
    return found


def _parameter_cells(nb: nbformat.NotebookNode) -> list[Any]:
    return [c for c in nb.cells if c.get("cell_type") == "code"
            and {"parameters", "injected-parameters"} & tags(c)]


def learner_parameters(submission: nbformat.NotebookNode,
                       source: nbformat.NotebookNode) -> tuple[dict[str, Any], str]:
    """(the submission's own learner parameters, a note when one could not be read).

    Only names of :data:`LEARNER_PARAMETERS` that the source's parameters cell defines are
    taken; a later ``injected-parameters`` cell (papermill's) wins over ``parameters``.
    """
    declared: dict[str, Any] = {}
    for cell in _parameter_cells(source):
        declared.update(_literals(cell.source))
    wanted = [n for n in LEARNER_PARAMETERS if n in declared]
    found: dict[str, Any] = {}
    for cell in _parameter_cells(submission):
        found.update({k: v for k, v in _literals(cell.source).items() if k in wanted})
    notes = []
    for name in wanted:
        value = found.get(name)
        if name == "LEARNER_ID" and name in found and \
                (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            found.pop(name)
            notes.append(f"LEARNER_ID {value!r} is not a non-negative integer")
        if name not in found:
            notes.append(f"no readable {name} in the parameters cell: graded with the "
                         f"notebook's default, {declared[name]!r}")
            found[name] = declared[name]
    return found, "; ".join(dict.fromkeys(notes))


def bind_to_learner(answers: dict[str, Recorded], learner_id: int) -> dict[str, Recorded]:
    """Every answer that names a seed (``incident.answer``) now names ``learner_id``."""
    bound = {}
    for exercise_id, rec in answers.items():
        answer = rec.answer
        if rec.answered and isinstance(answer, Mapping) and {"seed", "answer"} <= set(answer):
            rec = Recorded(True, {**answer, "seed": learner_id})
        bound[exercise_id] = rec
    return bound


def incident_problem(learner_id: int, lab: Any, started: float, ended: float) -> str | None:
    """Why seed ``learner_id``'s record cannot be graded against; None when it can.

    It must come from a run made during the grader's execution (``started``..``ended``,
    unix seconds), and agree with what the seed's plan injected.
    """
    from labkit.incident import load_record, plan_incident

    try:
        record = load_record(learner_id, lab.config)
    except FileNotFoundError:
        return f"the notebook did not run incident {learner_id} (incident.start(LEARNER_ID))"
    if not started <= record.t0 <= ended:
        return (f"the notebook did not run incident {learner_id} while it was graded "
                "(incident.start(LEARNER_ID))")
    plan = plan_incident(learner_id)
    agrees = all(record.is_(name, getattr(plan, name)) for name in ("category", "model", "user"))
    if not (agrees and record.near("start", plan.start_s, TIME_SLACK_S)
            and record.near("end", plan.end_s, TIME_SLACK_S)):
        return f"the record of incident {learner_id} is not the one labkit's run wrote"
    return None
