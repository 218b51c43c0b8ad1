"""Student copies: no solutions, answer-revealing passages or outputs; work/ never overwritten."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

from labkit.cli import main
from labkit.exercises.references import REFERENCES_FILE
from labkit.exercises.release import release_work, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _source_nb() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Lab\nIntro.<!-- BEGIN INSTRUCTOR -->\nThe answer is 42.\n"
                             "<!-- END INSTRUCTOR -->\nGo on."),
        v4.new_code_cell("N = 1", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("# BEGIN SOLUTION\nanswer = 42\n# END SOLUTION",
                         execution_count=4, outputs=[v4.new_output("stream", text="42\n")],
                         metadata={"papermill": {"duration": 1.0}, "execution": {
                             "iopub.status.busy": "2026-01-01T00:00:00Z"}}),
        v4.new_code_cell('check("demo.answer", answer)'),
        v4.new_code_cell("assert answer == 42", metadata={"tags": ["hidden-test"]}),
        v4.new_markdown_cell("| summary | 42 |", metadata={"tags": ["instructor"]}),
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata.update(papermill={"parameters": {}}, kernelspec={"name": "python3",
                       "display_name": "Python 3", "language": "python"})
    return nb


def test_student_copy_leaves_out_what_gives_answers_away() -> None:
    """Instructor cells, hidden tests and marked passages are gone; every other cell stays."""
    out = strip_solutions(_source_nb(), "demo.ipynb")
    text = "\n".join(c.source for c in out.cells)
    assert "42" not in text
    assert out.cells[0].source == "# Lab\nIntro.Go on."
    assert [c.cell_type for c in out.cells] == ["markdown", "code", "code", "code"]


def test_student_copy_has_no_outputs_or_instructor_metadata() -> None:
    """Outputs, counts and papermill's metadata go; the parameters tag and kernelspec stay."""
    out = strip_solutions(_source_nb(), "demo.ipynb")
    answer_cell = out.cells[2]
    assert answer_cell.outputs == [] and answer_cell.execution_count is None
    assert dict(answer_cell.metadata) == {}
    assert out.cells[1].metadata["tags"] == ["parameters"]
    assert set(out.metadata) == {"kernelspec", "labkit"}
    assert out.metadata["labkit"] == {"notebook": "demo.ipynb"}


def test_check_cells_carry_their_exercise_id_and_are_locked() -> None:
    """The grader matches check cells by exercise id; learners cannot delete them by accident."""
    check_cell = strip_solutions(_source_nb()).cells[3]
    assert check_cell.metadata["labkit"] == {"exercise": "demo.answer"}
    assert check_cell.metadata["editable"] is False
    assert check_cell.metadata["deletable"] is False


def test_an_unclosed_instructor_passage_is_an_error() -> None:
    """A BEGIN INSTRUCTOR without END is refused rather than leaking the rest of the cell."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "<!-- BEGIN INSTRUCTOR -->\nsecret")])
    with pytest.raises(ValueError, match="END INSTRUCTOR"):
        strip_solutions(nb)


def _solutions(nb: nbformat.NotebookNode) -> list[str]:
    """The string literals inside the source notebook's solution blocks."""
    found = []
    for cell in nb.cells:
        for block in re.findall(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", cell.source, re.S):
            found += [m for m in re.findall(r"\"([^\"]{12,})\"|'([^']{12,})'", block)
                      for m in m if m]
    return found


def test_notebook_01_student_copy_gives_no_answer_away() -> None:
    """No reference query of notebook 01 appears in the prose of its student copy (the closing
    summary table listed five of them)."""
    source = nbformat.read(NOTEBOOKS / "01-metrics.ipynb", as_version=4)
    solutions = _solutions(source)
    assert len(solutions) >= 5
    assert any(s in c.source for c in source.cells if c.cell_type == "markdown"
               for s in solutions), "the source notebook's summary should hold the answers"
    copy = strip_solutions(source, "01-metrics.ipynb")
    text = "\n".join(c.source for c in copy.cells if c.cell_type == "markdown")
    leaked = [s for s in solutions if s in text]
    assert not leaked, leaked


def test_release_work_never_overwrites_and_adds_new_notebooks(tmp_path: Path) -> None:
    """Re-running keeps a learner's edited copy and copies in only notebooks added since."""
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(_source_nb(), src / "01-a.ipynb")
    work = tmp_path / "work"
    created, kept = release_work(sorted(src.glob("*.ipynb")), work)
    assert [p.name for p in created] == ["01-a.ipynb"] and kept == []
    edited = nbformat.read(work / "01-a.ipynb", as_version=4)
    edited.cells[2].source = "answer = 41  # my answer"
    nbformat.write(edited, work / "01-a.ipynb")
    nbformat.write(_source_nb(), src / "02-b.ipynb")
    created, kept = release_work(sorted(src.glob("*.ipynb")), work)
    assert [p.name for p in created] == ["02-b.ipynb"]
    assert [p.name for p in kept] == ["01-a.ipynb"]
    again = nbformat.read(work / "01-a.ipynb", as_version=4)
    assert again.cells[2].source == "answer = 41  # my answer"
    assert sorted(p.name for p in work.iterdir()) == ["01-a.ipynb", "02-b.ipynb"]


def test_labkit_lab_makes_the_work_folder_once(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`labkit lab --no-open` creates work/ from the source notebooks and says what it kept."""
    work = tmp_path / "work"
    assert main(["lab", "--work", str(work), "--notebooks", str(NOTEBOOKS), "--no-open"]) == 0
    names = sorted(p.name for p in work.glob("*.ipynb"))
    assert names == sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
    assert "BEGIN SOLUTION" not in (work / "01-metrics.ipynb").read_text()
    assert main(["lab", "--work", str(work), "--notebooks", str(NOTEBOOKS), "--no-open"]) == 0
    assert f"0 new student copies, {len(names)} kept" in capsys.readouterr().out


def test_labkit_lab_without_notebooks_says_what_to_do(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Run from the wrong folder, `labkit lab` explains instead of opening an empty lab."""
    assert main(["lab", "--work", str(tmp_path / "w"), "--notebooks", str(tmp_path),
                 "--no-open"]) == 2
    assert "no lab notebooks" in capsys.readouterr().err


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _reference_patterns() -> dict[str, re.Pattern[str]]:
    """Each reference answer of references.yaml as a whitespace-blind pattern; a placeholder
    such as ``{trace_id}`` stands for any text (``trace_id="<id>"`` gives the answer away)."""
    patterns = {}
    for exercise_id, answer in yaml.safe_load(REFERENCES_FILE.read_text()).items():
        parts = re.split(r"\{[a-z_]+\}", _squeezed(str(answer)))
        patterns[exercise_id] = re.compile(".+?".join(map(re.escape, parts)))
    return patterns


def test_no_student_copy_contains_a_reference_answer() -> None:
    """No student copy of any notebook holds a reference answer of references.yaml verbatim
    (whitespace aside), in its code or its prose, while the source notebooks do."""
    patterns = _reference_patterns()
    in_sources: set[str] = set()
    leaks = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        source = nbformat.read(path, as_version=4)
        text = _squeezed("\n".join(c.source for c in source.cells))
        in_sources |= {k for k, p in patterns.items() if p.search(text)}
        copy = strip_solutions(source, path.name)
        text = _squeezed("\n".join(c.source for c in copy.cells))
        leaks += [f"{path.name}: {k}" for k, p in patterns.items() if p.search(text)]
    assert len(in_sources) >= 10, "the matcher should find the answers in the solutions"
    assert not leaks, leaks
