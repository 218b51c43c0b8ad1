"""Exercises of notebook 08 (capacity): recomputed from the saved ramp the answer names.

Each answer is ``ramp.answer(value)``; the check loads that ramp's per-step table from the
lab's run directory and computes the reference itself with the functions below (pure,
unit-tested on fixed tables), so the verdict does not depend on when it is checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from labkit.exercises.core import CheckFailed, Outcome, exercise, with_evidence
from labkit.load.ramp import Ramp, load_ramp

__all__ = ["SLO_P95_S", "TARGET_RATE", "knee", "little_l", "replicas", "safe_rate",
           "utilisation_capacity"]

SLO_P95_S = 2.0  # the lab's latency SLO: p95 end-to-end within 2 s (a ramp may relax it)
TARGET_RATE = 20.0  # req/s the capacity plan must serve
KNEE_FACTOR = 2.0  # the knee: the last rate before p95 first exceeds twice its low-load value
STEP = 1  # the step (0-based) whose numbers the Little's-law exercise uses
REL_TOL = 0.05


def knee(steps: pd.DataFrame) -> float:
    """The highest offered rate before p95 latency first exceeds twice its low-load value."""
    base = steps["p95_e2e_s"].iloc[0]
    for i, p95 in enumerate(steps["p95_e2e_s"]):
        if p95 > KNEE_FACTOR * base:
            if i == 0:
                raise CheckFailed("the first step is already saturated: start the ramp lower")
            return float(steps["offered"].iloc[i - 1])
    raise CheckFailed("latency never doubled: the ramp did not reach the knee; add higher rates")


def little_l(steps: pd.DataFrame, step: int = STEP) -> float:
    """L = λ·W for one step: successful throughput times mean latency."""
    row = steps.iloc[step]
    return float(row["throughput"] * row["mean_e2e_s"])


def utilisation_capacity(steps: pd.DataFrame, slots: int) -> float:
    """The utilisation law's bound: ``slots`` servers, each busy S seconds per request."""
    return slots / float(steps["mean_e2e_s"].iloc[0])


def safe_rate(steps: pd.DataFrame, slo_s: float = SLO_P95_S) -> float:
    """The highest offered rate served within the SLO, with every request answered.

    (Not "throughput close to the offered rate": a short step's wall time includes draining
    its last requests, so its throughput reads low even when nothing is left behind.)
    """
    good = steps[(steps["p95_e2e_s"] <= slo_s) & (steps["ok"] >= steps["sent"])]
    if good.empty:
        raise CheckFailed(f"no step met p95 <= {slo_s:g} s: start the ramp at a lower rate")
    return float(good["offered"].max())


def replicas(steps: pd.DataFrame, target: float = TARGET_RATE, slo_s: float = SLO_P95_S) -> int:
    """Replicas of this lab's server needed to serve ``target`` req/s within the SLO."""
    return math.ceil(target / safe_rate(steps, slo_s) - 1e-9)


def _unpack(answer: Any, lab: Any) -> tuple[float, Ramp]:
    if not isinstance(answer, Mapping) or not {"ramp", "answer"} <= set(answer):
        raise CheckFailed("wrap the answer with the ramp: check(id, ramp.answer(value))")
    value = answer["answer"]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise CheckFailed(f"answer with a number, not {value!r}")
    try:
        ramp = load_ramp(str(answer["ramp"]), lab.config)
    except (FileNotFoundError, ValueError) as exc:
        raise CheckFailed(str(exc)) from None
    return float(value), ramp


def _ramp_evidence(answer: Any, lab: Any) -> dict[str, Any]:
    """What a verdict was evaluated on: the saved ramp the answer names."""
    _, ramp = _unpack(answer, lab)
    return {"ramp": ramp.id, "steps": len(ramp.steps)}


_evidence = with_evidence(_ramp_evidence)


def _close(value: float, ref: float, what: str, unit: str) -> Outcome:
    if math.isclose(value, ref, rel_tol=REL_TOL):
        return Outcome(True, f"{what} {value:.3g} {unit} (the ramp's numbers give {ref:.3g})")
    return Outcome(False, f"{value:.3g} {unit} is not the {what} of this ramp")


def _slo(ramp: Ramp) -> float:
    """The SLO the ramp planned for (relaxed on a machine too slow for the lab's 2 s)."""
    return float(ramp.settings.get("slo_p95_s", SLO_P95_S))


def _step_rate(value: float, ref: float, what: str) -> Outcome:
    """An offered rate of one of the steps: exact, since the answer is one of them."""
    if math.isclose(value, ref, abs_tol=1e-6):
        return Outcome(True, f"{ref:g} req/s")
    return Outcome(False, f"{value:g} req/s is not {what}")


@exercise("capacity.little_l", title=f"Little's law at step {STEP}: requests in the system",
          hint="L = λ·W: the step's successful throughput (req/s) times its mean latency (s)")
@_evidence
def _little(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    return _close(value, little_l(ramp.steps), "average number in the system", "requests")


@exercise("capacity.utilisation_bound", title="The capacity the slots promise (req/s)",
          hint="Each of the slots serves one request per S seconds, S the mean latency at the "
               "lowest rate: capacity = slots / S")
@_evidence
def _bound(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    slots = int(ramp.settings.get("slots") or lab.config.slots)
    return _close(value, utilisation_capacity(ramp.steps, slots), "slots / S bound", "req/s")


@exercise("capacity.max_throughput", title="The most the server completed (req/s)",
          hint="The highest successful throughput over the steps; it stops rising at saturation")
@_evidence
def _max_throughput(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    return _close(value, float(ramp.steps["throughput"].max()), "peak throughput", "req/s")


@exercise("capacity.knee", title="The knee: the last offered rate before latency doubles",
          hint=f"Compare each step's p95 with the first step's; the knee is the offered rate "
               f"of the last step before p95 exceeds {KNEE_FACTOR:g}x the first")
@_evidence
def _knee(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    return _step_rate(value, knee(ramp.steps), "the last rate before p95 doubled")


@exercise("capacity.safe_rate", title="The most one server takes within the latency SLO",
          hint="The highest offered rate whose step had p95 within the SLO and every request "
               "answered")
@_evidence
def _safe(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    return _step_rate(value, safe_rate(ramp.steps, _slo(ramp)),
                      "the highest rate that met the SLO")


@exercise("capacity.replicas", title=f"Replicas for {TARGET_RATE:g} req/s within the SLO",
          hint="Divide the target rate by what one server takes within the SLO, and round up")
@_evidence
def _replicas(answer: Any, lab: Any) -> Outcome:
    value, ramp = _unpack(answer, lab)
    ref = replicas(ramp.steps, TARGET_RATE, _slo(ramp))
    if value == ref:
        return Outcome(True, f"{ref} replicas at {safe_rate(ramp.steps, _slo(ramp)):g} req/s "
                             "each")
    return Outcome(False, f"{value:g} replicas would not match the plan "
                          "(too few miss the SLO, too many waste money)")
