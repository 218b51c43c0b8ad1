"""The record of an incident run: its window in the open, what was injected sealed.

One JSON file per run, ``<run_dir>/incidents/seed-<seed>.json`` (a re-run from the same seed,
the grader's, replaces it). The learner's kernel can read it, so it holds no answer in clear
text: the category, model and user are salted SHA-256 digests, and the times are digests of
whole seconds (offsets after ``t0``). A check asks yes/no questions of it (:meth:`is_`,
:meth:`near`, :meth:`during`), which reveal no more than the check's own verdict does. The
run's window (``t0``, ``t1``) and its trace ids are public: the learner needs them to look.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit.config import LabConfig

__all__ = ["SLACK_S", "IncidentRecord", "Truth", "incidents_dir", "load_record"]

SLACK_S = 2.0  # around the window, for "during": the fault is switched by an HTTP call


def incidents_dir(config: LabConfig | None = None) -> Path:
    return (config or LabConfig.from_env()).run_dir / "incidents"


@dataclass(frozen=True)
class Truth:
    """What a run injected, known only while it runs (and to the grader's re-run)."""

    category: str
    model: str
    user: str
    start: float  # unix seconds: the fault was put in force (or the culprit's first request)
    end: float


def _digest(salt: str, name: str, value: Any) -> str:
    return hashlib.sha256(f"{salt}\x00{name}\x00{value}".encode()).hexdigest()


@dataclass(frozen=True)
class IncidentRecord:
    """A run's public window and its sealed truth (see the module docstring)."""

    seed: int
    t0: float  # the run's first request was due
    t1: float  # the run's last request finished
    requests: int
    trace_ids: tuple[str, ...]  # of the requests that got an answer, in plan order
    salt: str
    sealed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def seal(cls, *, seed: int, truth: Truth, t0: float, t1: float, requests: int,
             trace_ids: tuple[str, ...] | list[str]) -> IncidentRecord:
        """The record of a run whose truth is ``truth``, under a fresh salt."""
        salt = secrets.token_hex(16)
        lo, hi = truth.start - t0 - SLACK_S, truth.end - t0 + SLACK_S
        sealed: dict[str, Any] = {name: _digest(salt, name, getattr(truth, name))
                  for name in ("category", "model", "user")}
        sealed["start"] = _digest(salt, "start", round(truth.start - t0))
        sealed["end"] = _digest(salt, "end", round(truth.end - t0))
        sealed["during"] = sorted(_digest(salt, "during", s)
                                  for s in range(math.floor(lo), math.ceil(hi) + 1))
        return cls(seed=int(seed), t0=t0, t1=t1, requests=requests,
                   trace_ids=tuple(trace_ids), salt=salt, sealed=sealed)

    def is_(self, name: str, value: Any) -> bool:
        """Is ``value`` the run's ``category``, ``model`` or ``user``?"""
        return _digest(self.salt, name, value) == self.sealed.get(name)

    def near(self, name: str, offset: float, tolerance: float) -> bool:
        """Is ``offset`` (seconds after t0) within ``tolerance`` of the ``start`` or ``end``?"""
        if not math.isfinite(offset):
            return False
        want = self.sealed.get(name)
        near = range(math.ceil(offset - tolerance), math.floor(offset + tolerance) + 1)
        return any(_digest(self.salt, name, s) == want for s in near)

    def during(self, unix_time: float) -> bool:
        """Did ``unix_time`` fall in the incident's window (give or take :data:`SLACK_S`)?"""
        offset = unix_time - self.t0
        if not math.isfinite(offset):
            return False
        during = set(self.sealed.get("during", ()))
        return _digest(self.salt, "during", math.floor(offset)) in during and \
            _digest(self.salt, "during", math.ceil(offset)) in during

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
        """The run's window, as the learner sees it."""
        return {"seed": self.seed, "t0": self.t0, "t1": self.t1, "requests": self.requests}


def load_record(seed: int, config: LabConfig | None = None) -> IncidentRecord:
    """The record of seed ``seed``'s latest run; FileNotFoundError saying what to run if none."""
    path = incidents_dir(config) / f"seed-{int(seed)}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no incident has been run for seed {seed} in this lab (no {path}): run "
            f"`labkit incident start --seed {seed}` or the notebook's incident cell first")
    data = json.loads(path.read_text())
    try:
        data["trace_ids"] = tuple(data["trace_ids"])
        return IncidentRecord(**data)
    except (KeyError, TypeError):
        raise FileNotFoundError(
            f"{path} is from an older labkit: run `labkit incident start --seed {seed}` "
            "again") from None
