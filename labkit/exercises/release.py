"""Make student copies of notebooks: no solutions, no answer-revealing passages, no outputs.

In the instructors' source notebooks:

- a solution block in a code cell::

      # BEGIN SOLUTION
      request_rate_query = "sum(rate(llm_requests_total[1m]))"
      # END SOLUTION

  becomes ``request_rate_query = None  # YOUR ANSWER HERE``: every name the block assigns is
  kept, unanswered, so the check cell below reports "not attempted";
- a cell tagged ``instructor`` (a summary table with the solutions, a hidden test) is left
  out of the student copy, and so is a cell tagged ``hidden-test``;
- in a Markdown cell, a passage between ``<!-- BEGIN INSTRUCTOR -->`` and
  ``<!-- END INSTRUCTOR -->`` is left out.

The copy has no outputs, no execution counts and no instructor metadata. Each check cell is
marked with its exercise id (``metadata.labkit.exercise``) and locked against accidental
edits; the notebook records which source it came from (``metadata.labkit.notebook``).
"""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import nbformat

from labkit.grading.cells import check_calls

__all__ = ["DROPPED_TAGS", "release_notebook", "release_work", "strip_solutions",
           "strip_source"]

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
PASSAGE = re.compile(r"<!--\s*BEGIN INSTRUCTOR\s*-->.*?<!--\s*END INSTRUCTOR\s*-->\n?",
                     re.DOTALL)
DROPPED_TAGS = frozenset({"instructor", "hidden-test"})
# Cell metadata a student copy keeps; everything else (papermill's, execution timings,
# instructor notes) is dropped.
KEPT_CELL_METADATA = ("tags", "labkit", "editable", "deletable")
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info", "labkit")


def _assigned_names(block: str) -> list[str]:
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):  # an answer function
            if node.name not in names:
                names.append(node.name)
            continue
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name) and sub.id not in names:
                    names.append(sub.id)
    return names


def strip_source(source: str) -> str:
    """One cell's source with each solution block replaced by unanswered placeholders."""
    out: list[str] = []
    block: list[str] | None = None
    indent = ""
    for line in source.splitlines():
        if block is None:
            match = BEGIN.match(line)
            if match:
                block, indent = [], match.group(1)
            else:
                out.append(line)
        elif END.match(line):
            body = "\n".join(b[len(indent):] if b.startswith(indent) else b for b in block)
            names = _assigned_names(body)
            out.extend(f"{indent}{name} = None  # YOUR ANSWER HERE" for name in names)
            if not names:
                out.append(f"{indent}# YOUR CODE HERE")
            block = None
        else:
            block.append(line)
    if block is not None:
        raise ValueError("a '# BEGIN SOLUTION' has no matching '# END SOLUTION'")
    return "\n".join(out)


def _strip_passages(source: str) -> str:
    if "BEGIN INSTRUCTOR" in source and not PASSAGE.search(source):
        raise ValueError("a '<!-- BEGIN INSTRUCTOR -->' has no matching '<!-- END INSTRUCTOR -->'")
    return PASSAGE.sub("", source)


def strip_solutions(nb: nbformat.NotebookNode, name: str = "") -> nbformat.NotebookNode:
    """A student copy of the notebook: see the module docstring for what is left out."""
    copy = nbformat.from_dict(nb)
    cells = []
    for cell in copy.cells:
        if DROPPED_TAGS & set(cell.metadata.get("tags", [])):
            continue
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA})
        if cell.cell_type == "code":
            cell.source = strip_source(cell.source)
            cell.outputs = []
            cell.execution_count = None
            ids = [exercise_id for exercise_id, _ in check_calls(cell.source)]
            if ids:
                cell.metadata["labkit"] = {"exercise": ids[0]}
                cell.metadata["editable"] = False
                cell.metadata["deletable"] = False
        elif cell.cell_type == "markdown":
            cell.source = _strip_passages(cell.source)
        cells.append(cell)
    copy.cells = cells
    copy.metadata = nbformat.from_dict(
        {k: v for k, v in copy.metadata.items() if k in KEPT_NOTEBOOK_METADATA})
    if name:
        copy.metadata["labkit"] = {"notebook": name}
    return copy


def release_notebook(src: Path, dest: Path) -> Path:
    """Write the student copy of ``src`` to ``dest``."""
    nb = nbformat.read(src, as_version=4)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(strip_solutions(nb, Path(src).name), dest)
    return dest


def release_work(sources: Iterable[Path], work: Path) -> tuple[list[Path], list[Path]]:
    """Create the student copies in ``work`` that do not exist yet; never overwrite one.

    Returns ``(created, kept)``. A learner's answers survive any number of re-runs; a
    notebook added to the course later is copied in on the next run.
    """
    created: list[Path] = []
    kept: list[Path] = []
    work.mkdir(parents=True, exist_ok=True)
    for src in sorted(Path(s) for s in sources):
        dest = work / src.name
        if dest.exists():
            kept.append(dest)
            continue
        tmp = dest.with_name(f".{dest.name}.tmp")
        release_notebook(src, tmp)
        shutil.move(tmp, dest)  # a half-written copy never takes the real name
        created.append(dest)
    return created, kept
