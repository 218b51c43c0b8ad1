"""Traffic in phases, each with its own faults: the lab's way to stage an incident.

>>> from labkit.load import Phase, phases                                   # doctest: +SKIP
>>> run = phases(lab.gateway_url, [Phase("normal", 15, rate=4),
...                                Phase("errors", 15, rate=4, faults={"error_rate": 0.3})])
>>> run.windows["errors"]          # (start, end) in unix seconds, for plots and checks
>>> run.frame.groupby("phase").status.value_counts()

Each phase sends open-loop traffic (:func:`labkit.load.generate_load`) with its faults
injected through :func:`labkit.faults.active`, so the faults are cleared when the phase
ends, when it fails and when it is stopped. ``phases(..., background=True)`` returns at
once; ``run.stop()`` ends it early and ``run.wait()`` waits for the end.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from labkit import faults as faults_client
from labkit.load.result import COLUMNS, LoadResult
from labkit.load.runner import generate_load

__all__ = ["Phase", "PhasedRun", "phases"]


@dataclass(frozen=True)
class Phase:
    """One phase: ``seconds`` of traffic at ``rate`` requests/s with ``faults`` injected.

    ``faults`` takes the keyword arguments of :func:`labkit.faults.inject`
    (``error_rate``, ``latency_ms``, ``upstream_timeout_s``, ``hold_slots``).
    """

    name: str
    seconds: float
    rate: float = 4.0
    faults: Mapping[str, float] = field(default_factory=dict)
    stream: bool = True
    max_tokens: int = 32


@dataclass
class PhasedRun:
    """A run of phases: its results and time windows; a handle to stop it or wait for it."""

    plan: list[Phase]
    results: dict[str, LoadResult] = field(default_factory=dict)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """Whether every phase has ended (or the run was stopped)."""
        return self._thread is None or not self._thread.is_alive()

    def stop(self) -> PhasedRun:
        """End the run now: requests in flight finish, no new one is sent, faults are reset."""
        self._stop.set()
        return self.wait()

    def wait(self, timeout: float | None = None) -> PhasedRun:
        """Block until the run ends; re-raise what made it fail."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self

    @property
    def frame(self) -> pd.DataFrame:
        """Every request of every phase (the columns of a LoadResult, plus ``phase``)."""
        parts = [r.frame.assign(phase=name) for name, r in self.results.items()]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    @property
    def request_ids(self) -> list[str]:
        """The ``X-Request-Id`` the gateway gave each request that reached it."""
        frame = self.frame
        return [] if frame.empty else [str(i) for i in frame["request_id"].dropna()]

    @property
    def result(self) -> LoadResult:
        """Every phase as one LoadResult (for :func:`labkit.plots.plot_load_result`)."""
        frame = self.frame
        seconds = sum(p.seconds for p in self.plan)
        rate = sum(p.rate * p.seconds for p in self.plan) / seconds if seconds else 0.0
        return LoadResult(frame=frame if not frame.empty else pd.DataFrame(columns=COLUMNS),
                          duration_s=self.end - self.start,
                          settings={"rate": rate, "duration": seconds})

    @property
    def incidents(self) -> list[tuple[float, float, str]]:
        """``(start, end, name)`` of each phase that had faults: spans to shade on a plot."""
        return [(*self.windows[p.name], p.name) for p in self.plan
                if p.faults and p.name in self.windows]

    def summary(self) -> pd.DataFrame:
        """Per phase: its faults, requests, errors and median latency."""
        rows = []
        for phase in self.plan:
            result = self.results.get(phase.name)
            frame = result.frame if result is not None else pd.DataFrame({"status": []})
            rows.append({"phase": phase.name, "faults": dict(phase.faults) or "none",
                         "requests": len(frame), "errors": int((frame["status"] != 200).sum()),
                         "p50_ms": 1000 * frame["e2e_s"].median() if len(frame) else None})
        return pd.DataFrame(rows).set_index("phase")

    def __repr__(self) -> str:
        state = "running" if not self.done else "done"
        return f"PhasedRun ({state}):\n{self.summary().to_string()}"

    def _repr_html_(self) -> str:
        state = "running" if not self.done else "done"
        return f"<div><b>PhasedRun</b> ({html.escape(state)}){self.summary().to_html()}</div>"


def _run(url: str, run: PhasedRun, seed: int, progress: bool, load: dict[str, Any]) -> None:
    run.start = time.time()
    try:
        for i, phase in enumerate(run.plan):
            if run._stop.is_set():
                break
            t0 = time.time()
            with faults_client.active(gateway_url=url, **phase.faults):
                run.results[phase.name] = generate_load(
                    url, rate=phase.rate, duration=phase.seconds, seed=seed + i,
                    stream=phase.stream, max_tokens=phase.max_tokens, progress=progress,
                    stop=run._stop, **load)
            run.windows[phase.name] = (t0, time.time())
    except BaseException as exc:  # kept for wait(): a background thread has no caller
        run.error = exc
    finally:
        run.end = time.time()


def phases(url: str, plan: Sequence[Phase], *, seed: int = 0, background: bool = False,
           progress: bool = True, **load: Any) -> PhasedRun:
    """Send traffic to the gateway at ``url`` in phases, one after the other.

    Phase ``i`` uses the seed ``seed + i`` (same seed, same traffic). With
    ``background=True`` the phases run in a thread and this returns at once; otherwise it
    returns when the last phase ends (interrupting the cell stops the run cleanly). Other
    keyword arguments go to :func:`labkit.load.generate_load` (``users``, ``prompts``,
    ``concurrency``, ``model``...).
    """
    names = [p.name for p in plan]
    if not plan or len(set(names)) != len(names):
        raise ValueError(f"phases need at least one phase and distinct names, got {names}")
    unknown = {k for p in plan for k in p.faults} - set(faults_client.FAULT_NAMES)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: "
                         f"{list(faults_client.FAULT_NAMES)}")
    run = PhasedRun(plan=list(plan))
    if background:
        run._thread = threading.Thread(target=_run, args=(url, run, seed, progress, load),
                                       name="labkit-phases", daemon=True)
        run._thread.start()
        return run
    try:
        _run(url, run, seed, progress, load)
    except KeyboardInterrupt:
        run._stop.set()
        raise
    return run.wait()
