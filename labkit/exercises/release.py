"""Make student copies of notebooks: remove what sits between the solution markers.

A solution block in a code cell::

    # BEGIN SOLUTION
    request_rate_query = "sum(rate(llm_requests_total[1m]))"
    # END SOLUTION

becomes ``request_rate_query = None  # YOUR ANSWER HERE``: every name the block
assigns is kept, unanswered, so the check cell below reports "not attempted".
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

__all__ = ["release_notebook", "strip_solutions", "strip_source"]

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


def _assigned_names(block: str) -> list[str]:
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
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


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of the notebook without solutions or outputs."""
    copy = nbformat.from_dict(nb)
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.source = strip_source(cell.source)
            cell.outputs = []
            cell.execution_count = None
    return copy


def release_notebook(src: Path, dest: Path) -> Path:
    """Write the student copy of ``src`` to ``dest``."""
    nb = nbformat.read(src, as_version=4)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(strip_solutions(nb), dest)
    return dest
