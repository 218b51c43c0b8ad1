"""``labkit grade``: score every submission, N at a time, and write the grade book.

    >>> grade([Path("submissions/")], Path("grades/"), jobs=2)      # doctest: +SKIP

Each submission is prepared (check cells restored, see :mod:`labkit.grading.prepare`),
executed by papermill in a fresh, jailed kernel (:mod:`labkit.grading.jail`), and scored in
this process. Its result is saved under ``OUT/results/`` as soon as it is known, so an
interrupted run resumes where it stopped; a submission whose file has not changed is not
graded twice unless ``force``. Whatever a submission does, it gets its row.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from tqdm.auto import tqdm

from labkit.grading.execute import run_submission
from labkit.grading.kernel import KernelJail, isolation_problem
from labkit.grading.learner import bind_to_learner, incident_problem, learner_parameters
from labkit.grading.prepare import prepare, source_exercises
from labkit.grading.report import Row, write_csv, write_feedback, write_summary_plot
from labkit.grading.score import Recorded, read_answers, score

__all__ = ["GradeSettings", "Submission", "find_submissions", "grade"]


@dataclass(frozen=True)
class Submission:
    """A notebook to grade and its grade-book id (its path, without ``.ipynb``)."""

    id: str
    path: Path


@dataclass
class GradeSettings:
    """How submissions are run; the defaults suit the lab's notebooks on 2 cores."""

    sources: Path
    jobs: int = 1
    cell_timeout: float = 300.0
    timeout: float = 900.0
    memory_bytes: int = 4 << 30
    force: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    isolate: bool | None = None  # None: whenever this machine can


def find_submissions(paths: Iterable[Path]) -> list[Submission]:
    """Every ``.ipynb`` under ``paths`` (files or folders), each with a unique id."""
    found: dict[str, Submission] = {}
    for base in paths:
        base = Path(base)
        if base.is_dir():
            files = sorted(p for p in base.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            pairs = [(p.relative_to(base).with_suffix("").as_posix(), p) for p in files]
        elif base.suffix == ".ipynb":
            pairs = [(base.stem, base)]
        else:
            raise ValueError(f"{base}: not a notebook or a folder of notebooks")
        for sid, path in pairs:
            unique, n = sid, 2
            while unique in found:
                unique, n = f"{sid}~{n}", n + 1
            found[unique] = Submission(unique, path)
    return list(found.values())


def _source_for(sub_path: Path, raw: dict[str, Any], sources: dict[str, Any]) -> str | None:
    meta = raw.get("metadata", {}).get("labkit", {})
    named = meta.get("notebook") if isinstance(meta, dict) else None
    if isinstance(named, str) and named in sources:
        return named
    stems = sorted((Path(n).stem for n in sources), key=len, reverse=True)
    for stem in stems:
        if stem in sub_path.name:
            return f"{stem}.ipynb"
    match = re.match(r"(\d\d)", sub_path.name)
    if match:
        return next((n for n in sorted(sources) if n.startswith(match.group(1))), None)
    return None


def _safe(sid: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sid)


class _Grader:
    def __init__(self, out: Path, settings: GradeSettings, lab: Any,
                 submission_roots: list[Path]) -> None:
        self.out, self.settings, self.lab = out, settings, lab
        self.sources = {p.name: nbformat.read(p, as_version=4)
                        for p in sorted(settings.sources.glob("*.ipynb"))}
        if not self.sources:
            raise ValueError(f"no source notebooks in {settings.sources}")
        self.tmp = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
        isolate = settings.isolate
        if isolate is None:
            problem = isolation_problem()
            isolate = problem is None
            if problem:
                print(f"labkit grade: warning: {problem}; kernels only lose the references' "
                      "import path", file=sys.stderr)
        self.jail = KernelJail(self.tmp / "jail",
                               hidden=[out, settings.sources, *submission_roots],
                               memory_bytes=settings.memory_bytes, isolate=isolate)
        self.score_lock = threading.Lock()
        self.learner_locks: dict[Any, threading.Lock] = {}

    def grade_one(self, sub: Submission, digest: str) -> Row:
        try:
            text = sub.path.read_text()
            raw = json.loads(text)
            submission = nbformat.reads(text, as_version=4)
        except Exception as exc:
            return Row(sub.id, "", "error", f"not a readable notebook: {exc}"[:300])
        name = _source_for(sub.path, raw, self.sources)
        if name is None:
            return Row(sub.id, "", "error", "cannot tell which lab notebook this is: name it "
                       "like the source (01-metrics.ipynb) or keep its labkit metadata")
        source = self.sources[name]
        exercises = [r.exercise for r in source_exercises(source)]
        learner, note = learner_parameters(submission, source)
        nonce = secrets.token_hex(16)
        scratch = self.tmp / _safe(sub.id)
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            prepared = scratch / "prepared.ipynb"
            nbformat.write(prepare(submission, source, nonce), prepared)
        except Exception as exc:
            verdicts = score(read_answers(nbformat.v4.new_notebook(), nonce, exercises), None)
            return Row(sub.id, name, "error", f"cannot prepare the notebook: {exc}"[:300],
                       points={v.exercise_id: 0.0 for v in verdicts},
                       max_points={v.exercise_id: v.max_points for v in verdicts},
                       verdicts=[v.to_json() for v in verdicts])
        executed = self.out / "executed" / f"{_safe(sub.id)}.ipynb"
        executed.parent.mkdir(parents=True, exist_ok=True)
        # One learner's incident record serves one execution at a time: two submissions of
        # the same LEARNER_ID (a resubmission) must not grade against each other's run.
        with self._learner_lock(learner.get("LEARNER_ID")):
            started = time.time()
            run = run_submission(prepared, executed, self.jail.kernel_env(scratch),
                                 cwd=scratch / "cwd",
                                 parameters={**self.settings.parameters, **learner},
                                 cell_timeout=self.settings.cell_timeout,
                                 notebook_timeout=self.settings.timeout)
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                answers = read_answers(nbformat.read(executed, as_version=4), nonce, exercises)
            except Exception:
                answers = read_answers(nbformat.v4.new_notebook(), nonce, exercises)
            if "LEARNER_ID" in learner:
                answers = self._about_learner(answers, learner["LEARNER_ID"], started)
            with self.score_lock:
                verdicts = score(answers, self.lab)
        error = "; ".join(filter(None, [run.error, note]))
        return Row(sub.id, name, run.status, error, round(run.duration_s, 1),
                   points={v.exercise_id: v.points for v in verdicts},
                   max_points={v.exercise_id: v.max_points for v in verdicts},
                   verdicts=[v.to_json() for v in verdicts])

    def _learner_lock(self, learner_id: Any) -> contextlib.AbstractContextManager[Any]:
        if learner_id is None:
            return contextlib.nullcontext()
        with self.score_lock:
            return self.learner_locks.setdefault(learner_id, threading.Lock())

    def _about_learner(self, answers: dict[str, Recorded], learner_id: int,
                       started: float) -> dict[str, Recorded]:
        """Bind seed answers to the submission's learner id, and check its incident run."""
        answers = bind_to_learner(answers, learner_id)
        seeded = [e for e, r in answers.items()
                  if r.answered and isinstance(r.answer, dict) and "seed" in r.answer]
        if not seeded:
            return answers
        problem = incident_problem(learner_id, self.lab, started, time.time())
        if problem:
            answers.update({e: Recorded(False, reason=problem) for e in seeded})
        return answers

    def result(self, sub: Submission) -> Row:
        digest = hashlib.sha256(sub.path.read_bytes()).hexdigest()
        saved = self.out / "results" / f"{_safe(sub.id)}.json"
        if saved.exists() and not self.settings.force:
            try:
                data = json.loads(saved.read_text())
                if data.get("sha256") == digest:
                    return Row.from_json(data["row"])
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged result is graded again
        try:
            row = self.grade_one(sub, digest)
        except Exception as exc:
            row = Row(sub.id, "", "error", f"the grader failed: {type(exc).__name__}: {exc}")
        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sha256": digest, "row": row.to_json()}, indent=1))
        tmp.replace(saved)
        write_feedback(row, self.out / "feedback" / f"{_safe(sub.id)}.md")
        return row

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def grade(paths: Sequence[Path], out: Path, settings: GradeSettings,
          lab: Any = None) -> list[Row]:
    """Grade every submission under ``paths`` into ``out``; returns the grade book's rows."""
    from labkit.exercises.core import all_exercises

    subs = find_submissions(paths)
    out.mkdir(parents=True, exist_ok=True)
    all_exercises()  # load every check (and its references) before any student code runs
    _preload_references()
    owned = lab is None  # the grade's own connection to the lab: closed at the end
    if lab is None:
        from labkit.lab import connect

        lab = connect()
    grader = _Grader(out.resolve(), settings, lab, [Path(p).resolve() for p in paths])
    rows: list[Row] = []
    pool = ThreadPoolExecutor(max_workers=max(1, settings.jobs))
    try:
        futures = [pool.submit(grader.result, sub) for sub in subs]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="grading",
                        unit="nb", disable=not settings.progress):
            rows.append(fut.result())
    except BaseException:
        # Ctrl-C: start nothing new; what finished is saved, and a re-run resumes from it.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        grader.close()
        if owned:
            lab.close()
    write_csv(rows, out / "grades.csv")
    if rows:
        write_summary_plot(rows, out / "summary.png")
    return rows


def _preload_references() -> None:
    try:
        references = importlib.import_module("labkit.exercises.references")
    except ImportError:
        return
    loader = getattr(references, "reference", None)
    if loader is None:
        return
    from labkit.exercises.core import all_exercises

    for ex in all_exercises():
        try:
            loader(ex.id)
        except Exception:
            continue
