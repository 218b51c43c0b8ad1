"""Capacity checks: references recomputed from the saved ramp; wrong answers fail."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from labkit.config import LabConfig
from labkit.exercises import evaluate
from labkit.exercises.sets import capacity
from labkit.load.ramp import STEP_COLUMNS, Ramp, load_ramp, summarise_step

# A ramp of a 4-slot server whose knee is at 4 req/s: p95 doubles at 6, the SLO breaks at 8.
STEPS = pd.DataFrame([
    # offered sent ok start end throughput mean p50 p95 ttft50 ttft95 in_flight
    [1.0, 10, 10, 0, 10, 0.98, 0.40, 0.38, 0.50, 0.05, 0.08, 0.40],
    [2.0, 20, 20, 11, 21, 1.95, 0.42, 0.40, 0.55, 0.05, 0.09, 0.82],
    [4.0, 40, 40, 22, 32, 3.90, 0.60, 0.55, 0.90, 0.07, 0.20, 2.34],
    [6.0, 60, 60, 33, 45, 5.00, 1.10, 0.95, 1.80, 0.40, 1.00, 5.50],
    [8.0, 80, 80, 46, 62, 5.10, 2.90, 2.50, 4.80, 2.20, 4.00, 14.8],
], columns=STEP_COLUMNS)


@dataclass
class FakeLab:
    config: LabConfig


@pytest.fixture
def saved(tmp_path: Path) -> tuple[FakeLab, Ramp]:
    lab = FakeLab(LabConfig(run_dir=tmp_path, slots=4))
    ramp = Ramp("abc123", STEPS.copy(), {"slots": 4})
    ramp.save(lab.config)
    return lab, ramp


def test_references_on_the_fixture() -> None:
    """The reference computations give the numbers the fixture was built for."""
    assert capacity.knee(STEPS) == 4.0
    assert capacity.little_l(STEPS) == pytest.approx(1.95 * 0.42)
    assert capacity.utilisation_capacity(STEPS, 4) == pytest.approx(10.0)
    assert capacity.safe_rate(STEPS) == 6.0
    assert capacity.replicas(STEPS) == 4


CASES = {
    "capacity.little_l": ([1.95 * 0.42, 0.82],
                          [1.95, 0.42, 1.95 / 0.42, 0.42 / 1.95, 4, 0.98 * 0.40]),
    "capacity.utilisation_bound": ([10.0, 4 / 0.4], [2.5, 1 / 0.4, 4 * 0.4, 5.1, 4 / 0.9, 4]),
    "capacity.max_throughput": ([5.1, 5.12], [8.0, 0.98, 5.0 * 0.5, 10.0, 4.0, 3.9]),
    "capacity.knee": ([4.0, 4], [2.0, 6.0, 8.0, 1.0, 5.0, 3.9]),
    "capacity.safe_rate": ([6.0, 6], [4.0, 8.0, 5.1, 5.0, 2.0, 10.0]),
    "capacity.replicas": ([4, 4.0], [3, 5, 1, 20, math.ceil(20 / 8.0), 2, 3.33]),
}


@pytest.mark.parametrize("exercise", list(CASES))
def test_right_answers_pass_and_wrong_ones_fail(saved: tuple[FakeLab, Ramp], exercise: str) -> None:
    """Each exercise passes its right answers and fails at least five plausible wrong ones."""
    lab, ramp = saved
    right, wrong = CASES[exercise]
    for value in right:
        assert evaluate(exercise, ramp.answer(value), lab).status == "passed", value
    for value in [*wrong, "4", True, float("nan")]:
        assert evaluate(exercise, ramp.answer(value), lab).status == "failed", value


def test_unanswered_and_unknown_ramp(saved: tuple[FakeLab, Ramp]) -> None:
    """None is not attempted; an answer naming no saved ramp fails saying what to run."""
    lab, ramp = saved
    assert evaluate("capacity.knee", ramp.answer(None), lab).status == "not attempted"
    verdict = evaluate("capacity.knee", {"ramp": "ffff0000", "answer": 4.0}, lab)
    assert verdict.status == "failed" and "run the ramp cell" in verdict.detail
    assert evaluate("capacity.knee", 4.0, lab).status == "failed"


def test_ramp_that_never_saturates_cannot_be_graded(tmp_path: Path) -> None:
    """No knee in the data is a failure that says to add higher rates, not a pass."""
    lab = FakeLab(LabConfig(run_dir=tmp_path))
    flat = STEPS.iloc[:3].copy()
    Ramp("flat1", flat, {"slots": 4}).save(lab.config)
    verdict = evaluate("capacity.knee", {"ramp": "flat1", "answer": 4.0}, lab)
    assert verdict.status == "failed" and "higher rates" in verdict.detail


def test_saved_ramp_round_trips(saved: tuple[FakeLab, Ramp]) -> None:
    """What the notebook saved is what the grader's check reads back."""
    lab, ramp = saved
    back = load_ramp("abc123", lab.config)
    pd.testing.assert_frame_equal(back.steps, ramp.steps, check_dtype=False)


def test_step_summary_from_requests() -> None:
    """Throughput counts successes over the step's wall time; in-flight is Little's L."""
    t0 = pd.Timestamp(1_800_000_000, unit="s", tz="UTC")
    frame = pd.DataFrame({
        "scheduled_at": [t0, t0 + pd.Timedelta(seconds=1), t0 + pd.Timedelta(seconds=2)],
        "e2e_s": [0.5, 0.5, 2.0], "ttft_s": [0.1, 0.1, 0.2], "status": [200, 200, 500],
    })
    row = summarise_step(1.0, frame)
    assert row["throughput"] == pytest.approx(2 / 4.0)
    assert row["in_flight"] == pytest.approx(3.0 / 4.0)
    assert row["mean_e2e_s"] == pytest.approx(0.5) and row["ok"] == 2
