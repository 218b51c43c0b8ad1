"""Find the check cells of a notebook: ``check("exercise.id", answer_expression)``.

The exercise id ties a source notebook's check cell to the same exercise in a student's
copy (the grade book's columns); the answer expression is what the grader records.
"""

from __future__ import annotations

import ast
from typing import Any

__all__ = ["check_calls", "check_cell_exercise", "tags"]


def _clean(source: str) -> str:
    # IPython magics and shell escapes are not Python: blank them so the rest still parses.
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def check_calls(source: str) -> list[tuple[str, str]]:
    """``(exercise_id, answer_expression)`` for every ``check("id", expr)`` call in ``source``.

    >>> check_calls('check("metrics.request_rate", request_rate_query)')
    [('metrics.request_rate', 'request_rate_query')]
    """
    text = _clean(source)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else ""
        if name != "check" or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        answer: ast.expr | None = node.args[1] if len(node.args) > 1 else next(
            (kw.value for kw in node.keywords if kw.arg == "answer"), None)
        expr = ast.get_source_segment(text, answer) if answer is not None else None
        found.append((first.value, expr or "None"))
    return found


def tags(cell: Any) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []) or [])


def check_cell_exercise(cell: Any) -> str | None:
    """The exercise a code cell checks (by its ``check`` call or its labkit metadata)."""
    if cell.get("cell_type") != "code":
        return None
    calls = check_calls(cell.get("source", ""))
    if calls:
        return calls[0][0]
    meta = cell.get("metadata", {}).get("labkit", {})
    value = meta.get("exercise") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None
