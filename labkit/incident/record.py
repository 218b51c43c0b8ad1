"""The record of what an incident run injected: the truth the capstone's checks compare with.

One JSON file per run, ``<run_dir>/incidents/seed-<seed>.json`` (a re-run from the same seed,
the grader's, replaces it). Times are unix seconds; ``start``/``end`` are when the fault was
put in force and cleared (or the culprit's first and last request was sent).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labkit.config import LabConfig

__all__ = ["IncidentRecord", "incidents_dir", "load_record"]


def incidents_dir(config: LabConfig | None = None) -> Path:
    return (config or LabConfig.from_env()).run_dir / "incidents"


@dataclass(frozen=True)
class IncidentRecord:
    """What was injected, when, and on what (the answers), plus the run's own window."""

    seed: int
    category: str
    model: str
    user: str
    fix: str
    t0: float  # the run's first request was due
    t1: float  # the run's last request finished
    start: float
    end: float
    fault: dict[str, Any]
    requests: int
    statuses: dict[str, int]  # HTTP status -> count, over the whole run

    @property
    def start_offset(self) -> float:
        return self.start - self.t0

    @property
    def end_offset(self) -> float:
        return self.end - self.t0

    def save(self, config: LabConfig | None = None) -> Path:
        """Write the record atomically; returns its path."""
        folder = incidents_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"seed-{self.seed}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)
        return path

    def public(self) -> dict[str, Any]:
        """What the learner may see: the run's window, not the answers."""
        return {"seed": self.seed, "t0": self.t0, "t1": self.t1, "requests": self.requests}


def load_record(seed: int, config: LabConfig | None = None) -> IncidentRecord:
    """The record of seed ``seed``'s latest run; FileNotFoundError saying what to run if none."""
    path = incidents_dir(config) / f"seed-{int(seed)}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no incident has been run for seed {seed} in this lab (no {path}): run "
            f"`labkit incident start --seed {seed}` or the notebook's incident cell first")
    return IncidentRecord(**json.loads(path.read_text()))
