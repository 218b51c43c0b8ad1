"""Turn a submission into the notebook the grader executes, trusting none of its checks.

- Every check cell (found by its ``check("id", ...)`` call or its exercise-id metadata) is
  removed, and the source notebook's check cells come back in their place as *recording*
  cells: each evaluates the source's answer expression (``request_rate_query``) in the
  kernel and displays it as plain JSON under :data:`ANSWER_MIME`, with a per-run nonce.
  No check runs in the student's kernel; the grader recomputes every verdict itself.
- The parameters cell comes from the source notebook, so papermill injects the grader's
  parameters in the right place.
- Tags that change how a cell runs (``skip-execution``, ``raises-exception``, papermill's
  ``parameters``/``injected-parameters``) are stripped, with every other metadata and output.

A recording cell only reads the learner's variable: whatever the kernel does to ``check``,
the verdict renderer or the JSON it displays, all the grader gets is an *answer*, which it
checks as it would check one typed in honestly.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import nbformat

from labkit.grading.cells import check_calls, check_cell_exercise, tags

__all__ = ["ANSWER_MIME", "STRIPPED_TAGS", "Recording", "prepare", "recording_cell",
           "source_exercises"]

ANSWER_MIME = "application/vnd.labkit.answer+json"
STRIPPED_TAGS = frozenset({"skip-execution", "raises-exception", "parameters",
                           "injected-parameters", "papermill-error-cell-tag"})

_RECORD = '''\
# labkit grade: records the answer to {id} for the grader (the check cell's place)
try:
    __labkit_record = {{"answer": ({expr})}}
except Exception as __labkit_exc:
    __labkit_record = {{"missing": f"{{type(__labkit_exc).__name__}}: {{__labkit_exc}}"}}
__labkit_record.update(exercise={id!r}, nonce={nonce!r})
import json as __labkit_json
def __labkit_plain(value):
    for name in ("tolist", "item"):
        if callable(getattr(value, name, None)):
            return getattr(value, name)()
    return repr(value)
try:
    __labkit_text = __labkit_json.dumps(__labkit_record, default=__labkit_plain,
                                        allow_nan=False)
except (TypeError, ValueError) as __labkit_exc:
    __labkit_text = __labkit_json.dumps({{"exercise": {id!r}, "nonce": {nonce!r},
                                         "answer": repr(__labkit_record.get("answer"))}})
from IPython.display import display as __labkit_display
__labkit_display({{{mime!r}: __labkit_json.loads(__labkit_text)}}, raw=True)
'''


@dataclass(frozen=True)
class Recording:
    """One exercise the grader records: its id and the answer expression to evaluate."""

    exercise: str
    expression: str


def source_exercises(source: nbformat.NotebookNode) -> list[Recording]:
    """The exercises a source notebook checks, in order (each id once)."""
    seen: dict[str, Recording] = {}
    for cell in source.cells:
        if cell.cell_type == "code":
            for exercise_id, expr in check_calls(cell.source):
                seen.setdefault(exercise_id, Recording(exercise_id, expr))
    return list(seen.values())


def recording_cell(rec: Recording, nonce: str) -> nbformat.NotebookNode:
    source = _RECORD.format(id=rec.exercise, expr=rec.expression, nonce=nonce, mime=ANSWER_MIME)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["labkit_grader"] = {"exercise": rec.exercise, "nonce": nonce}
    return cell


def _clean(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    kept = sorted(tags(cell) - STRIPPED_TAGS)
    copy = nbformat.from_dict(dict(cell))
    copy.metadata = nbformat.from_dict({"tags": kept} if kept else {})
    if copy.cell_type == "code":
        copy.outputs = []
        copy.execution_count = None
    return copy


def _anchor_ids(source: nbformat.NotebookNode) -> dict[str, str]:
    """For each exercise, the cell id of the source cell just before its check cell."""
    anchors: dict[str, str] = {}
    previous = None
    for cell in source.cells:
        exercise_id = check_cell_exercise(cell)
        if exercise_id and previous is not None and "id" in previous:
            anchors.setdefault(exercise_id, previous["id"])
        previous = cell
    return anchors


def prepare(submission: nbformat.NotebookNode, source: nbformat.NotebookNode,
            nonce: str) -> nbformat.NotebookNode:
    """The notebook to execute for ``submission`` (see the module docstring)."""
    recordings = {r.exercise: r for r in source_exercises(source)}
    params = next((c for c in source.cells if "parameters" in tags(c)), None)
    cells: list[nbformat.NotebookNode] = []
    placed: set[str] = set()
    for cell in submission.cells:
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        exercise_id = check_cell_exercise(cell)
        if exercise_id is not None:
            if exercise_id in recordings and exercise_id not in placed:
                cells.append(recording_cell(recordings[exercise_id], nonce))
                placed.add(exercise_id)
            continue  # a student's own check cell never runs
        if {"parameters", "injected-parameters"} & tags(cell):
            continue
        if cell.get("metadata", {}).get("labkit_grader"):
            continue  # a forged recording cell
        cells.append(_clean(cell))
    # Exercises whose check cell the student deleted: record after the cell that preceded
    # it in the source (matched by cell id), else at the end.
    anchors = _anchor_ids(source)
    for exercise_id, rec in recordings.items():
        if exercise_id in placed:
            continue
        anchor = anchors.get(exercise_id)
        index = next((i + 1 for i, c in enumerate(cells) if anchor and c.get("id") == anchor),
                     len(cells))
        cells.insert(index, recording_cell(rec, nonce))
    if params is not None:
        cell = nbformat.from_dict(dict(params))
        cell.outputs, cell.execution_count = [], None
        cell.metadata = nbformat.from_dict({"tags": ["parameters"]})
        cells.insert(0, cell)
    seen_ids: set[str] = set()
    for cell in cells:  # cell ids must be unique; a submission may have duplicated some
        if cell.get("id") in seen_ids or "id" not in cell:
            cell["id"] = uuid.uuid4().hex[:12]
        seen_ids.add(cell["id"])
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = nbformat.from_dict(
        {k: json.loads(json.dumps(v)) for k, v in source.metadata.items()
         if k in ("kernelspec", "language_info")})
    return nb
