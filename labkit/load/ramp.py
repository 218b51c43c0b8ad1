"""A load ramp: open-loop steps of rising offered rate, summarised per step.

Each step is one :func:`labkit.load.generate_load` run at a fixed rate; the ramp stops
after the first step that is clearly past saturation (the knee and a step beyond it are
enough to see it), so a slow machine does not queue minutes of work. The per-step table
is what notebook 08 plots and what its checks recompute their references from; it is
saved under ``<run_dir>/capacity/<ramp id>.json``.

Columns of :attr:`Ramp.steps`: ``offered`` (req/s planned), ``sent``, ``ok``, ``start``,
``end`` (unix s), ``throughput`` (successful req/s over the step's wall time),
``mean_e2e_s``, ``p50_e2e_s``, ``p95_e2e_s``, ``p50_ttft_s``, ``p95_ttft_s``,
``in_flight`` (time-average requests in the system: sum of latencies / wall time).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from labkit.config import LabConfig

__all__ = ["Ramp", "load_ramp", "run_ramp", "summarise_step"]

STEP_COLUMNS = ["offered", "sent", "ok", "start", "end", "throughput", "mean_e2e_s",
                "p50_e2e_s", "p95_e2e_s", "p50_ttft_s", "p95_ttft_s", "in_flight"]


def summarise_step(offered: float, frame: pd.DataFrame) -> dict[str, float]:
    """One step's row from its per-request frame (labkit.load's columns)."""
    start = frame["scheduled_at"].min().timestamp()
    finish = (frame["scheduled_at"] + pd.to_timedelta(frame["e2e_s"], unit="s")).max()
    end = finish.timestamp()
    wall = max(end - start, 1e-9)
    ok = frame[frame["status"] == 200]
    return {
        "offered": float(offered), "sent": float(len(frame)), "ok": float(len(ok)),
        "start": start, "end": end, "throughput": len(ok) / wall,
        "mean_e2e_s": float(ok["e2e_s"].mean()), "p50_e2e_s": float(ok["e2e_s"].quantile(0.5)),
        "p95_e2e_s": float(ok["e2e_s"].quantile(0.95)),
        "p50_ttft_s": float(ok["ttft_s"].quantile(0.5)),
        "p95_ttft_s": float(ok["ttft_s"].quantile(0.95)),
        "in_flight": float(frame["e2e_s"].sum()) / wall,
    }


@dataclass
class Ramp:
    """A finished ramp: its id, settings and one row per step."""

    id: str
    steps: pd.DataFrame
    settings: dict[str, Any]

    def answer(self, value: Any) -> dict[str, Any] | None:
        """An answer with this ramp's id, for ``check``; an unanswered value stays None."""
        from labkit.exercises.core import is_unanswered

        return None if is_unanswered(value) else {"ramp": self.id, "answer": value}

    def save(self, config: LabConfig | None = None) -> Path:
        folder = (config or LabConfig.from_env()).run_dir / "capacity"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.id}.json"
        path.write_text(json.dumps({"id": self.id, "settings": self.settings,
                                    "steps": self.steps.to_dict(orient="records")}))
        return path

    def __repr__(self) -> str:
        return f"Ramp({self.id}, {len(self.steps)} steps, offered {list(self.steps['offered'])})"


def load_ramp(ramp_id: str, config: LabConfig | None = None) -> Ramp:
    """A saved ramp; FileNotFoundError saying what to run when there is none."""
    if not isinstance(ramp_id, str) or not ramp_id.isalnum():
        raise ValueError(f"{ramp_id!r} is not a ramp id")
    path = (config or LabConfig.from_env()).run_dir / "capacity" / f"{ramp_id}.json"
    if not path.exists():
        raise FileNotFoundError(f"no ramp {ramp_id} in this lab ({path}): run the ramp cell")
    data = json.loads(path.read_text())
    return Ramp(data["id"], pd.DataFrame(data["steps"], columns=STEP_COLUMNS), data["settings"])


def run_ramp(gateway_url: str, rates: Sequence[float], *, step_s: float = 10.0,
             max_tokens: int = 32, seed: int = 0, slo_p95_s: float = 2.0,
             stop_factor: float = 2.0, slots: int | None = None, config: LabConfig | None = None,
             progress: bool = True) -> Ramp:
    """Run the steps in order; stop after the first step past the knee.

    That is a step whose p95 exceeds ``stop_factor`` times the first step's. The plan's SLO
    (``settings["slo_p95_s"]``) is ``slo_p95_s``, unless the machine misses it even at the
    lowest rate (a slow or shared machine): then it is relaxed to twice the lowest rate's
    p95, rounded up to half a second, and ``settings["slo_relaxed"]`` says so.

    Concurrency on the client side is effectively unbounded (512): the queue must form in
    the gateway, where the lab's metrics can see it, not in the load generator.
    """
    from tqdm.auto import tqdm

    from labkit.load.runner import generate_load

    rows = []
    for i, rate in enumerate(tqdm(list(rates), desc="ramp steps", unit="step",
                                  disable=not progress)):
        result = generate_load(gateway_url, rate=rate, duration=step_s, seed=seed + i,
                               max_tokens=max_tokens, concurrency=512, stream=True,
                               progress=False)
        rows.append(summarise_step(rate, result.frame))
        if rows[-1]["p95_e2e_s"] > stop_factor * rows[0]["p95_e2e_s"]:
            break
        time.sleep(1.0)  # let the queue drain and a scrape separate the steps
    base = rows[0]["p95_e2e_s"] if rows else 0.0
    slo = slo_p95_s if base <= slo_p95_s else math.ceil(4 * base) / 2
    ramp = Ramp(uuid.uuid4().hex[:12], pd.DataFrame(rows, columns=STEP_COLUMNS),
                {"rates": list(rates), "step_s": step_s, "max_tokens": max_tokens,
                 "seed": seed, "slots": slots or (config or LabConfig.from_env()).slots,
                 "slo_p95_s": slo, "slo_relaxed": slo != slo_p95_s})
    ramp.save(config)
    return ramp
