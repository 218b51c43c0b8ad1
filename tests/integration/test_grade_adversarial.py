"""`labkit grade` cannot be fooled: every adversarial submission scores no more than honestly.

A tiny two-exercise notebook (no lab needed: its checks compare with constants held in this
test module, which the graded kernel cannot see) is submitted in many forms. Each form's
honest score is what its answer cells deserve; the grader must never give more, must give
every submission its row, and must leave the files on disk untouched.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

import labkit
from labkit.exercises.core import MIME_TYPE, Outcome, exercise
from labkit.exercises.release import strip_solutions
from labkit.grading import GradeSettings, grade
from labkit.grading.kernel import isolation_problem
from labkit.grading.prepare import ANSWER_MIME

pytestmark = pytest.mark.integration
v4 = nbformat.v4
SECRET_NUMBER, SECRET_WORD = 4817, "pelican"
LIMIT = 90  # seconds a notebook may run: a kernel can take 20 s to start on a busy machine


@exercise("gradingtest.number", title="The secret number", hint="it is in the source")
def _number(answer: Any, lab: Any) -> Outcome:
    return Outcome(type(answer) is int and answer == SECRET_NUMBER, f"you said {answer!r}")


@exercise("gradingtest.word", title="The secret word", hint="a bird")
def _word(answer: Any, lab: Any) -> Outcome:
    return Outcome(type(answer) is str and answer == SECRET_WORD, f"you said {answer!r}")


def _source() -> nbformat.NotebookNode:
    return v4.new_notebook(cells=[
        v4.new_markdown_cell("# Secrets"),
        v4.new_code_cell("N = 1\nSTRICT_CHECKS = False", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("import os, sys\nfrom labkit import check"),
        v4.new_code_cell(f"# BEGIN SOLUTION\nnumber = {SECRET_NUMBER}\n# END SOLUTION"),
        v4.new_code_cell('check("gradingtest.number", number)'),
        v4.new_code_cell(f"# BEGIN SOLUTION\nword = {SECRET_WORD!r}\n# END SOLUTION"),
        v4.new_code_cell('check("gradingtest.word", word)'),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}})


CORE = Path(labkit.__file__).resolve().parent / "exercises" / "core.py"
SITE_MARK = Path(sys.prefix) / "labkit_graded_kernel_wrote_here.pth"
ATTACK_READ = f'''
import glob, itertools, os, pathlib, re
seen = []
roots = [pathlib.Path(labkit.__file__).resolve().parents[1], pathlib.Path({str(CORE.parents[2])!r}),
         *map(pathlib.Path, glob.glob("/proc/*/root" + {str(CORE.parents[2])!r}))]
for root in roots:
    files = (pathlib.Path(d, f) for d, dirs, names in os.walk(root)
             if not dirs.__setitem__(slice(None), [x for x in dirs if x != ".venv"])
             for f in names if f.endswith((".py", ".ipynb", ".yaml")))
    for path in itertools.islice(files, 3000):
        try:
            text = path.read_text()
        except Exception:
            continue
        m = (re.search(r"BEGIN SOLUTION.{0,40}number = (\\d+)", text, re.S)
             or re.search(r"SECRET_NUMBER, SECRET_WORD = (\\d+)", text))
        if m:
            number = int(m.group(1)); seen.append(str(path))
try:
    import labkit.exercises.references as refs
    print("REFERENCES", pathlib.Path(refs.__file__).with_name("references.yaml").read_text()[:40])
except Exception as exc:
    print("REFERENCES UNREADABLE", type(exc).__name__)
try:
    import labkit.exercises.trace_solutions
    print("TRACE SOLUTIONS IMPORTED")
except Exception as exc:
    print("TRACE SOLUTIONS UNREADABLE", type(exc).__name__)
print("SOLUTION FILES SEEN", seen[:3])
'''
ATTACK_WRITE = f'''
import pathlib
for target, text in [({str(CORE)!r}, "\\n# tampered by a graded kernel\\n"),
                     ({str(SITE_MARK)!r}, "import os\\n")]:
    try:
        with open(target, "a") as f:
            f.write(text)
        print("WROTE", target)
    except OSError as exc:
        print("REFUSED", target, exc.strerror)
'''
PATCH_CHECK = '''
import labkit, labkit.exercises.core as core
from labkit.exercises.core import Verdict
def passed(exercise_id, answer=None, lab=None, **kw):
    return Verdict(exercise_id, "x", "passed", "forged", points=1.0)
core.evaluate = core.check = labkit.check = check = passed
core.Verdict.__repr__ = lambda self: "passed"
import json as _json
_json.dumps = lambda *a, **k: '{"answer": 4817, "exercise": "gradingtest.number"}'
'''
ALWAYS_EQUAL = '''
class Always:
    def __eq__(self, other): return True
    def __hash__(self): return 0
class Word(str):
    def __eq__(self, other): return True
    __hash__ = str.__hash__
'''


def _forged(cell_source: str) -> nbformat.NotebookNode:
    return v4.new_code_cell(cell_source, outputs=[v4.new_output("display_data", data={
        MIME_TYPE: {"exercise_id": "gradingtest.number", "status": "passed", "points": 1.0},
        ANSWER_MIME: {"exercise": "gradingtest.number", "nonce": "x", "answer": SECRET_NUMBER},
        "text/plain": "✔ passed"})])


def _submissions() -> dict[str, tuple[nbformat.NotebookNode, float]]:
    """name -> (notebook, honest score)."""
    def student(number: str = "None", word: str = "None") -> nbformat.NotebookNode:
        nb = strip_solutions(_source(), "secrets.ipynb")
        nb.cells[3].source, nb.cells[5].source = f"number = {number}", f"word = {word}"
        return nb

    right = (str(SECRET_NUMBER), repr(SECRET_WORD))
    subs: dict[str, tuple[nbformat.NotebookNode, float]] = {}
    subs["honest"] = (student(*right), 2)
    subs["empty"] = (student(), 0)
    nb = student("1", "'x'")
    nb.cells.insert(3, v4.new_code_cell(PATCH_CHECK))
    subs["monkeypatch_check"] = (nb, 0)
    nb = student("Always()", 'Word("sparrow")')
    nb.cells.insert(3, v4.new_code_cell(ALWAYS_EQUAL))
    subs["always_equal"] = (nb, 0)
    nb = student("0")
    nb.cells[4] = _forged('check("gradingtest.number", number)')
    fake = _forged("pass")
    fake.metadata["labkit_grader"] = {"exercise": "gradingtest.number", "nonce": "x"}
    nb.cells.append(fake)
    subs["forged_outputs"] = (nb, 0)
    nb = student("0", "'x'")
    for i in (3, 4, 5, 6):
        nb.cells[i].metadata["tags"] = ["skip-execution", "raises-exception"]
    nb.cells[4] = _forged(nb.cells[4].source)
    subs["skip_execution"] = (nb, 0)
    nb = student(*right)
    del nb.cells[6], nb.cells[4]
    subs["deleted_checks"] = (nb, 2)
    nb = student("0", "'x'")
    nb.cells[4].source = f'check("gradingtest.number", {SECRET_NUMBER})'
    nb.cells[6].source = f'word = {SECRET_WORD!r}\ncheck("gradingtest.word", word)'
    subs["edited_checks"] = (nb, 0)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell("while True:\n    pass"))
    subs["infinite_loop"] = (nb, 2)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell(
        "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
        "    except KeyboardInterrupt:\n        pass"))
    subs["unstoppable_loop"] = (nb, 1)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell("blob = bytes(8 * 2**30)"))
    subs["memory_bomb"] = (nb, 2)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell("sys.exit(0)"))
    subs["sys_exit"] = (nb, 2)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell("os._exit(0)"))
    subs["os_exit"] = (nb, 1)
    nb = student(*right)
    nb.cells.insert(5, v4.new_code_cell("import signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    subs["kill_kernel"] = (nb, 1)
    nb = student("0", "'x'")
    nb.cells.insert(3, v4.new_code_cell(ATTACK_WRITE))
    subs["edit_files"] = (nb, 0)
    nb = student("None", "'x'")
    nb.cells.insert(4, v4.new_code_cell("import labkit\n" + ATTACK_READ))
    subs["read_solutions"] = (nb, 0)
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    problem = isolation_problem()
    assert problem is None, f"these tests need isolated kernels: {problem}"
    root = tmp_path_factory.mktemp("grading")
    (root / "source").mkdir()
    nbformat.write(_source(), root / "source" / "secrets.ipynb")
    subs_dir = root / "submissions"
    subs_dir.mkdir()
    for name, (nb, _) in _submissions().items():
        nbformat.write(nb, subs_dir / f"{name}.ipynb")
    core_before = CORE.read_text()
    settings = GradeSettings(sources=root / "source", jobs=2, cell_timeout=5, timeout=LIMIT,
                             memory_bytes=3 << 30, progress=False)
    try:
        grade([subs_dir], root / "out", settings, lab=object())
    finally:
        tampered = CORE.read_text() != core_before
        if tampered:
            CORE.write_text(core_before)
        if SITE_MARK.exists():
            SITE_MARK.unlink()
            tampered = True
    assert not tampered, "a graded kernel changed files on disk"
    with (root / "out" / "grades.csv").open() as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    return root, rows


SUBMISSIONS = _submissions()


@pytest.mark.parametrize("name", sorted(SUBMISSIONS))
def test_no_submission_scores_more_than_honestly(
        name: str, graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """Each adversarial submission has its row, and its total is at most its honest score."""
    _, rows = graded
    assert name in rows, f"{name} is missing from grades.csv"
    honest = SUBMISSIONS[name][1]
    assert float(rows[name]["total"]) <= honest, rows[name]


def test_honest_answers_still_count(graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """Crashes, loops and deleted check cells do not cost the answers recorded before them."""
    _, rows = graded
    for name in ("honest", "deleted_checks", "infinite_loop", "memory_bomb", "sys_exit"):
        assert float(rows[name]["total"]) == 2, rows[name]
    for name in ("os_exit", "kill_kernel", "unstoppable_loop"):
        assert float(rows[name]["total"]) == 1, rows[name]


def test_every_failure_has_its_reason(graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """The status and error columns say what went wrong."""
    _, rows = graded
    assert rows["honest"]["status"] == "ok"
    assert rows["os_exit"]["status"] == rows["kill_kernel"]["status"] == "kernel died"
    assert rows["unstoppable_loop"]["status"] == "timeout"
    assert f"ran past {LIMIT}s" in rows["unstoppable_loop"]["error"]
    assert rows["infinite_loop"]["status"] == "timeout"
    assert "MemoryError" in rows["memory_bomb"]["error"]


def _printed(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream")


def test_the_kernel_could_not_read_or_write_the_solutions(
        graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """Inside the graded kernel the references, sources and tests were out of reach."""
    root, _ = graded
    text = _printed(root / "out" / "executed" / "read_solutions.ipynb")
    assert "SOLUTION FILES SEEN []" in text
    assert "REFERENCES UNREADABLE" in text
    assert "TRACE SOLUTIONS UNREADABLE" in text
    written = _printed(root / "out" / "executed" / "edit_files.ipynb")
    assert "WROTE" not in written and written.count("REFUSED") == 2, written


def test_regrading_gives_the_same_rows(graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """Grading the same submissions again (forced) gives the same rows but for durations."""
    root, rows = graded
    subs = root / "submissions"
    again = root / "again"
    for name in ("honest", "os_exit", "forged_outputs"):
        (again / "s").mkdir(parents=True, exist_ok=True)
        (again / "s" / f"{name}.ipynb").write_bytes((subs / f"{name}.ipynb").read_bytes())
    settings = GradeSettings(sources=root / "source", jobs=1, cell_timeout=5, timeout=LIMIT,
                             memory_bytes=3 << 30, progress=False, force=True)
    grade([again / "s"], again / "out", settings, lab=object())
    with (again / "out" / "grades.csv").open() as f:
        regraded = {r["id"]: r for r in csv.DictReader(f)}
    for name, row in regraded.items():
        assert {k: v for k, v in row.items() if k != "duration_s"} == \
            {k: v for k, v in rows[name].items() if k != "duration_s"}


def test_a_finished_run_is_not_graded_twice(
        graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    """Without --force, an unchanged submission keeps its saved result (no new execution)."""
    root, _ = graded
    executed = root / "out" / "executed" / "honest.ipynb"
    before = executed.stat().st_mtime_ns
    settings = GradeSettings(sources=root / "source", jobs=1, progress=False)
    grade([root / "submissions" / "honest.ipynb"], root / "out", settings, lab=object())
    assert executed.stat().st_mtime_ns == before
    with (root / "out" / "grades.csv").open() as f:
        assert [r["id"] for r in csv.DictReader(f)] == ["honest"]
