"""What an instructor reads: ``grades.csv``, one feedback page per submission, a summary plot."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FIXED_COLUMNS", "Row", "write_csv", "write_feedback", "write_summary_plot"]

FIXED_COLUMNS = ("id", "notebook")
TAIL_COLUMNS = ("total", "max_total", "status", "duration_s", "error")


@dataclass
class Row:
    """One submission's line in the grade book; ``points`` maps exercise id to points."""

    id: str
    notebook: str
    status: str
    error: str = ""
    duration_s: float = 0.0
    points: dict[str, float] = field(default_factory=dict)
    max_points: dict[str, float] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.points.values())

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "notebook": self.notebook, "status": self.status,
                "error": self.error, "duration_s": self.duration_s, "points": self.points,
                "max_points": self.max_points, "verdicts": self.verdicts}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        return cls(**data)


def _num(value: float) -> str:
    return f"{value:g}"


def write_csv(rows: Sequence[Row], path: Path) -> list[str]:
    """Write the grade book; the exercise columns are every exercise seen, in first-seen order."""
    exercises: list[str] = []
    for row in rows:
        exercises += [e for e in row.max_points if e not in exercises]
    columns = [*FIXED_COLUMNS, *exercises, *TAIL_COLUMNS]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for row in sorted(rows, key=lambda r: r.id):
            w.writerow([row.id, row.notebook,
                        *(_num(row.points[e]) if e in row.points else "" for e in exercises),
                        _num(row.total), _num(sum(row.max_points.values())), row.status,
                        f"{row.duration_s:.1f}", row.error])
    tmp.replace(path)
    return columns


def write_feedback(row: Row, path: Path) -> Path:
    """A Markdown page for the learner: score, how the run ended, then each exercise."""
    mark = {"passed": "✔", "failed": "✘", "not attempted": "…", "error": "!"}
    lines = [f"# Feedback: {row.id} ({row.notebook})", "",
             f"**Score: {_num(row.total)} / {_num(sum(row.max_points.values()))}**", "",
             f"Run: {row.status}" + (f" — {row.error}" if row.error else ""), ""]
    for v in row.verdicts:
        lines += [f"## {mark.get(v['status'], '?')} {v['exercise_id']} — {v['title']}", "",
                  f"- verdict: **{v['status']}** ({_num(v['points'])} / "
                  f"{_num(v['max_points'])})", f"- detail: {v['detail']}"]
        if v["status"] != "passed" and v.get("hint"):
            lines.append(f"- hint: {v['hint']}")
        if v.get("answer") is not None:
            lines.append(f"- your answer: `{str(v['answer'])[:300]}`")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def write_summary_plot(rows: Sequence[Row], path: Path) -> Path:
    """Score distribution and pass rate per exercise, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exercises: list[str] = []
    for row in rows:
        exercises += [e for e in row.max_points if e not in exercises]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4 + 0.15 * len(exercises)))
    totals = [row.total for row in rows]
    left.hist(totals, bins=max(1, min(20, len(set(totals)))), color="#1f6feb")
    left.set(title=f"score distribution ({len(rows)} submissions)", xlabel="total points",
             ylabel="submissions")
    rates = []
    for e in exercises:
        graded = [r for r in rows if e in r.max_points]
        rates.append(sum(1 for r in graded if r.points.get(e, 0) > 0) / max(1, len(graded)))
    right.barh(exercises, rates, color="#1a7f37")
    right.set(title="pass rate per exercise", xlim=(0, 1), xlabel="fraction passed")
    right.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
