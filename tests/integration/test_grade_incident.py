"""Grading the capstone: each submission against its own learner's incident, and no answer
key in the learner's reach.

Two short submissions of 07 (the incident cell, literal answers, the check cells) run their
incidents in the grader's jailed kernels: learner 4 with learner 4's answers scores them
all; learner 0 with the same (copied) answers does not. Afterwards a plain Python process,
as a learner's own kernel would, finds no answer in the records or in labkit's modules.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.exercises.release import strip_solutions
from labkit.grading import GradeSettings, grade
from labkit.incident import plan_incident

# Two incident runs (about 90 s each) in the first test's setup.
pytestmark = [pytest.mark.integration, pytest.mark.notebook, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "notebooks" / "07-incident.ipynb"
FIXES = json.loads((ROOT / "labkit" / "incident" / "fixes.json").read_text())
INCIDENT_CHECKS = ["incident.category", "incident.window", "incident.model", "incident.user",
                   "incident.trace", "incident.fix"]


def answers_of(seed: int) -> dict[str, object]:
    """Right answers for ``seed``'s incident, from its plan (a user's flood: its own traces)."""
    plan = plan_incident(seed)
    culprit = [r for r in plan.requests if r.incident]
    return {"what_happened": plan.category, "window": {"start": plan.start_s, "end": plan.end_s},
            "which_model": plan.model, "which_user": plan.user,
            "trace_id": culprit[len(culprit) // 2].trace_id, "fix": FIXES[plan.category]}


def submission(learner_id: int, answers: dict[str, object]) -> nbformat.NotebookNode:
    student = strip_solutions(nbformat.read(SOURCE, as_version=4), SOURCE.name)
    params = next(c for c in student.cells if "parameters" in c.metadata.get("tags", []))
    params.source = f"LEARNER_ID = {learner_id}"
    start = next(c for c in student.cells if "incident.start(" in c.source)
    checks = [c for c in student.cells
              if c.metadata.get("labkit", {}).get("exercise") in INCIDENT_CHECKS]
    answer = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in answers.items()))
    imports = student.cells[student.cells.index(params) + 1]
    student.cells = [params, imports, start, answer, *checks]
    return student


@pytest.fixture(scope="module")
def graded(lab_stack: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    config = lab_stack.config  # type: ignore[attr-defined]
    folder = tmp_path_factory.mktemp("incident-subs")
    copied = answers_of(4)
    assert plan_incident(4).category != plan_incident(0).category
    nbformat.write(submission(4, copied), folder / "learner4-07-incident.ipynb")
    nbformat.write(submission(0, copied), folder / "learner0-07-incident.ipynb")
    out = tmp_path_factory.mktemp("incident-grades")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_RUN_DIR", str(config.run_dir))
        mp.setenv("LABKIT_PORT_OFFSET", str(config.port_offset))
        grade([folder], out, GradeSettings(sources=SOURCE.parent, jobs=1, progress=False,
                                           timeout=600), lab_stack)
    with (out / "grades.csv").open() as f:
        return {row["id"]: row for row in csv.DictReader(f)}


def test_each_submission_is_graded_against_its_own_incident(graded: dict[str, dict]) -> None:
    """Learner 4's answers score for learner 4, and fail for learner 0 who copied them."""
    own, copied = graded["learner4-07-incident"], graded["learner0-07-incident"]
    assert own["status"] == "ok", own
    assert [own[e] for e in INCIDENT_CHECKS] == ["1"] * len(INCIDENT_CHECKS), own
    assert copied["status"] == "ok", copied
    for exercise in ("incident.category", "incident.user", "incident.trace", "incident.fix"):
        assert copied[exercise] == "0", (exercise, copied)


LEARNER_VIEW = '''
import importlib, json, pkgutil, sys
import labkit
from labkit.incident import load_record, IncidentRun
truths, fixes = json.loads(sys.argv[1]), json.loads(sys.argv[2])
leaks = []
for seed, truth in truths.items():
    record = load_record(int(seed))
    seen = json.dumps([vars(record), vars(IncidentRun(record))], default=str)
    leaks += [f"record {seed}: {v}" for v in truth if v in seen]
for info in pkgutil.walk_packages(labkit.__path__, "labkit."):
    if info.name.endswith("__main__"):
        continue
    try:
        module = importlib.import_module(info.name)
    except Exception:
        continue
    for name, value in vars(module).items():
        if isinstance(value, dict):
            for category, letter in fixes.items():
                found = value.get(category) if all(isinstance(k, str) for k in value) else None
                if found == letter or getattr(found, "fix", None) == letter:
                    leaks.append(f"{info.name}.{name}[{category!r}] gives its fix")
print(json.dumps(leaks))
'''


def test_the_learners_kernel_finds_no_answer(graded: dict[str, dict], lab_env: Path) -> None:
    """After the runs, neither the records (file or object) nor any labkit module, read from a
    plain Python process, gives the category, model, user or fix in clear text."""
    truths = {}
    for seed in (4, 0):
        plan = plan_incident(seed)
        truths[str(seed)] = [v for v in (plan.category, plan.model, plan.user) if v != "all"]
        text = (lab_env / "incidents" / f"seed-{seed}.json").read_text()
        assert not [v for v in truths[str(seed)] if v in text], text
    fixes = {k: v for k, v in FIXES.items() if not k.startswith("_")}
    out = subprocess.run([sys.executable, "-c", LEARNER_VIEW, json.dumps(truths),
                          json.dumps(fixes)], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
    shown = subprocess.run([sys.executable, "-m", "labkit.cli", "incident", "show", "--seed",
                            "4"], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "t0=" in shown and not [v for v in truths["4"] if v in shown], shown
